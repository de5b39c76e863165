package dev.berth.agent;

import dev.berth.agent.api.ApiPods;
import dev.berth.agent.cgroup.QosCgroups;
import dev.berth.agent.cri.CriClient;
import dev.berth.agent.eviction.CriPodUsage;
import dev.berth.agent.eviction.EvictionAdmitter;
import dev.berth.agent.eviction.EvictionManager;
import dev.berth.agent.eviction.MachineSignals;
import dev.berth.agent.eviction.NodeSignals;
import dev.berth.agent.eviction.WorkerEvictor;
import dev.berth.agent.gc.GarbageCollector;
import dev.berth.agent.node.MachineFacts;
import dev.berth.agent.node.NodeAddresses;
import dev.berth.agent.node.NodeController;
import dev.berth.agent.node.NodeResources;
import dev.berth.agent.pod.KubeletKeys;
import dev.berth.agent.pod.NodeFacts;
import dev.berth.agent.pod.Pleg;
import dev.berth.agent.pod.PodCgroups;
import dev.berth.agent.pod.PodDirs;
import dev.berth.agent.pod.PodSync;
import dev.berth.agent.pod.PodTranslation;
import dev.berth.agent.pod.PodWorkers;
import dev.berth.agent.pod.UserNamespaces;
import dev.berth.agent.probe.Actions;
import dev.berth.agent.probe.LifecycleHooks;
import dev.berth.agent.probe.ProbeManager;
import dev.berth.agent.staticpod.ManifestParser;
import dev.berth.agent.staticpod.StaticPods;
import dev.berth.agent.status.ApiEventRecorder;
import dev.berth.agent.status.EventRecorder;
import dev.berth.agent.status.LoggingEventRecorder;
import dev.berth.agent.status.PodStatusBuilder;
import dev.berth.agent.status.StatusManager;
import dev.berth.agent.status.TerminationMessages;
import dev.berth.agent.volume.ApiObjectSource;
import dev.berth.agent.volume.ObjectSource;
import dev.berth.agent.volume.PodVolumes;
import dev.berth.cgroups.CgroupManager;
import dev.berth.common.DaemonThreads;
import dev.berth.cri.v1.PodSandbox;
import dev.berth.cri.v1.VersionResponse;
import dev.berth.host.LinuxMounts;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.grpc.Channel;
import io.grpc.StatusRuntimeException;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The node agent: drives one runtime through the CRI ({@code channel}: berth's own in
 * process, or any runtime's socket) for the pods of its sources. Standalone mode runs the
 * static pods of a manifest directory; connected mode also runs the pods the API server binds
 * to the node ({@link ApiPods}) and mirrors the static pods there. It holds its state
 * directory's {@link StateLock} while it runs; {@link #close()} stops the agent and leaves
 * every pod running, as the kubelet does, for the next agent to adopt.
 */
public final class Agent implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Agent.class);

    /** What the agent started, in order: closed the other way round (the state directory's lock last). */
    private final Deque<AutoCloseable> parts = new ArrayDeque<>();

    private Agent(StateLock lock) {
        parts.push(lock);
    }

    /** Keeps {@code part} to be closed with the agent (before the parts kept earlier) and returns it. */
    private <T extends AutoCloseable> T keep(T part) {
        if (part != null) {
            parts.push(part);
        }
        return part;
    }

    /**
     * Starts the agent on {@code channel} (which stays the caller's). {@code lock} is the state
     * directory's lock, taken before anything else started; the agent releases it on close.
     * {@code api} is the API server's client in connected mode (it stays the caller's), null
     * when the agent runs standalone.
     */
    public static Agent start(AgentSettings settings, StateLock lock, Channel channel, KubernetesClient api) {
        return start(settings, lock, channel, api, null);
    }

    /** The same with the node's eviction signals from {@code signals} (tests; null: this machine's). */
    static Agent start(AgentSettings settings, StateLock lock, Channel channel, KubernetesClient api, NodeSignals signals) {
        Agent agent = new Agent(lock);
        try {
            agent.startParts(settings, channel, api, signals);
        } catch (RuntimeException | Error e) {
            agent.close();
            throw e;
        }
        return agent;
    }

    /** Starts the agent's parts one after the other, each kept to be closed as soon as it runs. */
    private void startParts(AgentSettings settings, Channel channel, KubernetesClient api, NodeSignals signals) {
        CriClient cri = new CriClient(channel, settings.runtimeRequestTimeout(), settings.imagePullTimeout());
        RuntimeName runtimeName = new RuntimeName(cri);
        try {
            VersionResponse v = cri.version();
            runtimeName.name = v.getRuntimeName();
            LOG.info("agent for node {} drives {} {} (CRI {})", settings.nodeName(), v.getRuntimeName(), v.getRuntimeVersion(),
                    v.getRuntimeApiVersion());
        } catch (StatusRuntimeException e) {
            // the runtime may come up later; every pod worker retries its calls
            LOG.warn("agent for node {}: the runtime does not answer Version yet: {}", settings.nodeName(), e.getStatus());
        }
        NodeFacts facts = NodeFacts.current();
        MachineFacts machine = MachineFacts.current();
        NodeResources resources = NodeResources.of(machine, settings.stateDir(), settings.node());
        Set<String> live = sandboxUids(cri);
        QosCgroups qosCgroups = keep(settings.cgroupsPerQos() ? qosCgroups(settings, cri, resources, live) : null);
        PodCgroups podCgroups = qosCgroups != null ? qosCgroups : PodCgroups.NONE;
        ObjectSource objects = api != null ? new ApiObjectSource(api) : ObjectSource.standalone();
        dev.berth.agent.volume.NodeAllocatable allocatable = new dev.berth.agent.volume.NodeAllocatable(
                NodeResources.get(resources.allocatable(), "cpu"), NodeResources.get(resources.allocatable(), "memory"),
                NodeResources.get(resources.allocatable(), "ephemeral-storage"));
        PodVolumes volumes = new PodVolumes(new PodDirs(settings.stateDir()), objects, LinuxMounts.INSTANCE, allocatable, settings.clusterDomain(),
                Path.of("/etc/hosts"), Clock.systemUTC());
        if (live != null) {
            volumes.removeOrphans(live);
        }
        // status upward and events: written to the API server when connected, built and logged when standalone
        EventRecorder events = api != null ? keep(new ApiEventRecorder(api, settings.nodeName(), Clock.systemUTC())) : new LoggingEventRecorder();
        List<String> hostIps = NodeAddresses.find(settings.node().nodeIps());
        // probes and lifecycle hooks: the probes learn the containers from each pass before the status is built
        PrometheusMeterRegistry probeRegistry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        Actions actions = new Actions(cri);
        LifecycleHooks hooks = keep(new LifecycleHooks(cri, actions, events, () -> hostIps));
        AtomicReference<PodWorkers> podWorkers = new AtomicReference<>();
        ProbeManager probes = keep(new ProbeManager(actions, hooks, cri, events, probeRegistry, uid -> {
            PodWorkers w = podWorkers.get();
            if (w != null) {
                w.resync(uid);
            }
        }, () -> hostIps, ProbeManager.DEFAULT_THREADS));
        StatusManager status = keep(new StatusManager(api, new PodStatusBuilder(runtimeName, () -> hostIps, Clock.systemUTC(), probes),
                new TerminationMessages(new PodDirs(settings.stateDir()))));
        // hostUsers: false pods: a range of ids each, from the kubelet's sub-ids or the id space above 65535
        UserNamespaces userNamespaces = UserNamespaces.fromSubIds(new PodDirs(settings.stateDir()), Path.of("/etc/subuid"),
                Path.of("/etc/subgid"), settings.node().maxPods(), handler -> cri.handlerFeatures(handler).getUserNamespaces());
        userNamespaces.recover();
        PodWorkers workers = keep(new PodWorkers(new PodSync(cri,
                new PodTranslation(facts, settings.podLogsDir(), objects, allocatable, podCgroups)
                        .withClusterDns(settings.clusterDns(), settings.clusterDomain())
                        .withUserNamespaces(userNamespaces), volumes, events)
                .withHooks(hooks).withStartedGate(probes), probes.before(status), settings.restart()));
        podWorkers.set(workers);
        // admission under node pressure: the eviction manager is made below, before any source gives a pod the API's
        AtomicReference<EvictionManager> evictionRef = new AtomicReference<>();
        workers.withAdmitter(new EvictionAdmitter(() -> {
            EvictionManager m = evictionRef.get();
            return m == null ? Set.of() : m.conditions();
        }, uid -> live != null && live.contains(uid), status, events));
        keep(new Pleg(cri, workers)).start();
        ScheduledExecutorService volumeRefresh = DaemonThreads.scheduler("volume-refresh");
        keep(volumeRefresh::shutdownNow);
        long every = PodVolumes.REFRESH_INTERVAL.toMillis();
        volumeRefresh.scheduleWithFixedDelay(() -> {
            try {
                volumes.refresh();
            } catch (RuntimeException e) {
                LOG.warn("refreshing volumes failed: {}", e.toString());
            }
        }, every, every, TimeUnit.MILLISECONDS);
        ApiPods apiPods = api == null ? null : keep(new ApiPods(api, settings.nodeName(), workers, cri));
        if (settings.podManifestPath() != null) {
            StaticPods staticPods = keep(new StaticPods(settings.podManifestPath(), new ManifestParser(settings.nodeName()), workers, cri,
                    settings.manifestRescanInterval()));
            if (apiPods != null) {
                staticPods.onReconcile(apiPods.mirrorPods()::update);
            }
            staticPods.start();
        } else if (api == null) {
            LOG.info("agent for node {}: no pod manifest path and no API server: no pods to run", settings.nodeName());
        }
        // node pressure: conditions, taints and evictions, standalone too (where only static pods run, which are never evicted)
        EvictionManager eviction = keep(new EvictionManager(settings.eviction().thresholds(settings.node().evictionHard()), settings.eviction(),
                signals != null ? signals : new MachineSignals(settings.stateDir(), cri, machine.memoryBytes()), new CriPodUsage(cri),
                () -> activePods(workers, status), new WorkerEvictor(workers, status, events), events, settings.nodeName(),
                Clock.systemUTC())).start();
        evictionRef.set(eviction);
        if (api != null) {
            keep(NodeController.start(api, cri, settings.nodeName(), settings.node(), settings.stateDir(),
                    NodeController.Timing.of(settings.node()), machine, eviction::conditions));
        }
        if (apiPods != null) {
            apiPods.start();
        }
        // dead containers and sandboxes of the agent's pods, and unused images; a pod is wanted while a worker runs or stops it
        keep(GarbageCollector.start(cri, settings.gc(), uid -> workers.uids().contains(uid), events, settings.nodeName()));
        // the kubelet HTTP API: /healthz, /metrics (the agent's registry), /metrics/probes (the
        // prober's registry), exec/attach/portForward through the runtime; content endpoints route in
        io.micrometer.prometheusmetrics.PrometheusMeterRegistry agentMetrics = dev.berth.agent.server.KubeletServer.agentRegistry();
        dev.berth.agent.server.KubeletServer httpApi = keep(dev.berth.agent.server.KubeletServer.forAgent(settings.server(),
                settings.nodeName(), settings.stateDir(), hostIps, api, cri, agentMetrics, probeRegistry));
        if (httpApi != null) {
            dev.berth.agent.server.ContentEndpoints.create(cri, workers, status, settings.nodeName(), settings.stateDir(),
                    settings.podLogsDir(), machine.memoryBytes()).forEach(httpApi::route);
        }
    }

    /** The pods eviction may choose from: those with a worker, not being stopped, not in a terminal phase. */
    private static List<io.fabric8.kubernetes.api.model.Pod> activePods(PodWorkers workers, StatusManager status) {
        return workers.activePods().stream().filter(p -> status.status(p.getMetadata().getUid())
                .map(s -> !"Succeeded".equals(s.getPhase()) && !"Failed".equals(s.getPhase())).orElse(true)).toList();
    }

    /**
     * The pod uids of every sandbox the runtime has, or null when it cannot be asked: pods that
     * went while no agent ran leave volumes and cgroups to remove; a pod still running keeps
     * them, to be adopted.
     */
    private static Set<String> sandboxUids(CriClient cri) {
        Set<String> live = new HashSet<>();
        try {
            for (PodSandbox s : cri.listPodSandboxes(Map.of())) {
                live.add(s.getLabelsOrDefault(KubeletKeys.POD_UID, s.getMetadata().getUid()));
            }
        } catch (StatusRuntimeException e) {
            LOG.warn("cannot list the runtime's pods; the volumes and cgroups of gone pods stay until the next start: {}", e.getStatus());
            return null;
        }
        return live;
    }

    /**
     * The kubepods tree under the configured cgroup root, enforcing the node's capacity less its
     * reservations, and the pod cgroups an earlier agent left (of pods without a sandbox) removed.
     */
    private static QosCgroups qosCgroups(AgentSettings settings, CriClient cri, NodeResources resources, Set<String> live) {
        requireCgroupfs(cri);
        QosCgroups qos = new QosCgroups(CgroupManager.detect("cgroupfs"), settings.cgroupRoot(),
                new dev.berth.agent.cgroup.NodeAllocatable(NodeResources.get(resources.enforced(), "cpu"),
                        NodeResources.get(resources.enforced(), "memory")), null);
        qos.start();
        if (live != null) {
            qos.removeOrphans(live);
        }
        return qos;
    }

    /**
     * The pod cgroups are paths (cgroupfs): a runtime that takes slice names (systemd) would
     * refuse every sandbox, so the agent refuses to start instead, as the kubelet does on a
     * driver mismatch. A runtime without RuntimeConfig (or not up yet) is taken as cgroupfs.
     */
    static void requireCgroupfs(CriClient cri) {
        try {
            var config = cri.runtimeConfig();
            if (config.hasLinux() && config.getLinux().getCgroupDriver() == dev.berth.cri.v1.CgroupDriver.SYSTEMD) {
                throw new IllegalStateException("the runtime uses the systemd cgroup driver, and the agent's cgroups per QoS class"
                        + " are cgroupfs paths: set the runtime's cgroup driver to cgroupfs, or [agent] cgroups_per_qos = false");
            }
        } catch (StatusRuntimeException e) {
            LOG.info("agent: the runtime does not tell its cgroup driver ({}); taking it as cgroupfs", e.getStatus().getCode());
        }
    }

    /** The runtime's name from CRI Version (the scheme of container ids in pod statuses), asked again until it answers. */
    private static final class RuntimeName implements java.util.function.Supplier<String> {
        private final CriClient cri;
        volatile String name;

        RuntimeName(CriClient cri) {
            this.cri = cri;
        }

        @Override
        public String get() {
            String n = name;
            if (n == null) {
                try {
                    n = cri.version().getRuntimeName();
                    name = n;
                } catch (StatusRuntimeException e) {
                    return "unknown";
                }
            }
            return n;
        }
    }

    /** Stops the agent's work, the parts started last first; the pods keep running in the runtime. */
    @Override
    public void close() {
        while (!parts.isEmpty()) {
            AutoCloseable part = parts.pop();
            try {
                part.close();
            } catch (Exception e) {
                LOG.warn("agent: closing {} failed: {}", part.getClass().getSimpleName(), e.toString());
            }
        }
        LOG.info("agent stopped; its pods keep running");
    }
}
