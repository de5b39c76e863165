package dev.berth.agent;

import dev.berth.agent.cgroup.NodeAllocatable;
import dev.berth.agent.cgroup.QosCgroups;
import dev.berth.agent.cri.CriClient;
import dev.berth.agent.pod.NodeFacts;
import dev.berth.agent.pod.PodCgroups;
import dev.berth.agent.pod.PodSync;
import dev.berth.agent.pod.PodTranslation;
import dev.berth.agent.pod.PodWorkers;
import dev.berth.agent.staticpod.ManifestParser;
import dev.berth.agent.staticpod.StaticPods;
import dev.berth.cgroups.CgroupManager;
import dev.berth.cri.v1.VersionResponse;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.grpc.Channel;
import io.grpc.StatusRuntimeException;
import java.util.Map;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The node agent: drives one runtime through the CRI ({@code channel}: berth's own in
 * process, or any runtime's socket) for the pods of its sources. Standalone mode runs the
 * static pods of a manifest directory. It holds its state directory's {@link StateLock} while
 * it runs; {@link #close()} stops the agent and leaves every pod running, as the kubelet does,
 * for the next agent to adopt.
 */
public final class Agent implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Agent.class);

    private final StateLock lock;
    private final PodWorkers workers;
    private final StaticPods staticPods;
    private final QosCgroups qosCgroups;

    private Agent(StateLock lock, PodWorkers workers, StaticPods staticPods, QosCgroups qosCgroups) {
        this.lock = lock;
        this.workers = workers;
        this.staticPods = staticPods;
        this.qosCgroups = qosCgroups;
    }

    /**
     * Starts the agent on {@code channel} (which stays the caller's). {@code lock} is the state
     * directory's lock, taken before anything else started; the agent releases it on close.
     * {@code api} is the API server's client in connected mode (it stays the caller's), null
     * when the agent runs standalone.
     */
    public static Agent start(AgentSettings settings, StateLock lock, Channel channel, KubernetesClient api) {
        CriClient cri = new CriClient(channel, settings.runtimeRequestTimeout(), settings.imagePullTimeout());
        try {
            VersionResponse v = cri.version();
            LOG.info("agent for node {} drives {} {} (CRI {})", settings.nodeName(), v.getRuntimeName(), v.getRuntimeVersion(),
                    v.getRuntimeApiVersion());
        } catch (StatusRuntimeException e) {
            // the runtime may come up later; every pod worker retries its calls
            LOG.warn("agent for node {}: the runtime does not answer Version yet: {}", settings.nodeName(), e.getStatus());
        }
        QosCgroups qosCgroups = settings.cgroupsPerQos() ? qosCgroups(settings, cri) : null;
        PodCgroups podCgroups = qosCgroups != null ? qosCgroups : PodCgroups.NONE;
        PodWorkers workers = new PodWorkers(new PodSync(cri, new PodTranslation(NodeFacts.current(), settings.podLogsDir(), podCgroups)));
        StaticPods staticPods = null;
        if (settings.podManifestPath() != null) {
            staticPods = new StaticPods(settings.podManifestPath(), new ManifestParser(settings.nodeName()), workers, cri,
                    settings.manifestRescanInterval());
            staticPods.start();
        } else if (api == null) {
            LOG.info("agent for node {}: no pod manifest path and no API server: no pods to run", settings.nodeName());
        }
        return new Agent(lock, workers, staticPods, qosCgroups);
    }

    /**
     * The kubepods tree under the configured cgroup root, and the pod cgroups an earlier agent
     * left (of pods without a sandbox) removed.
     */
    private static QosCgroups qosCgroups(AgentSettings settings, CriClient cri) {
        requireCgroupfs(cri);
        // TODO(lead): the node allocatable (capacity less the reservations) once the node's resources are computed
        QosCgroups qos = new QosCgroups(CgroupManager.detect("cgroupfs"), settings.cgroupRoot(), NodeAllocatable.UNENFORCED, null);
        qos.start();
        try {
            qos.removeOrphans(cri.listPodSandboxes(Map.of()).stream().map(s -> s.getMetadata().getUid()).collect(Collectors.toSet()));
        } catch (StatusRuntimeException e) {
            LOG.warn("agent: the runtime does not list its sandboxes yet; leftover pod cgroups stay: {}", e.getStatus());
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

    /** Stops the agent's work; the pods keep running in the runtime. */
    @Override
    public void close() {
        if (staticPods != null) {
            staticPods.close();
        }
        workers.close();
        if (qosCgroups != null) {
            qosCgroups.close();
        }
        lock.close();
        LOG.info("agent stopped; its pods keep running");
    }
}
