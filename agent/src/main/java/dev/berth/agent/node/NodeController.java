package dev.berth.agent.node;

import dev.berth.agent.cri.CriClient;
import dev.berth.common.DaemonThreads;
import dev.berth.cri.v1.ImageFsInfoResponse;
import dev.berth.cri.v1.RuntimeCondition;
import dev.berth.cri.v1.StatusResponse;
import dev.berth.cri.v1.VersionResponse;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.NodeCondition;
import io.fabric8.kubernetes.api.model.NodeStatus;
import io.fabric8.kubernetes.api.model.NodeStatusBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The agent's Node in connected mode. On a thread of its own it registers the Node (or adopts
 * the existing one of the same name, reconciling the labels the agent owns and keeping the
 * rest), then computes its status every {@code node_status_update_frequency} and writes it
 * through the status subresource when it changed, and at least every
 * {@code node_status_report_frequency}; the pressure conditions come from the eviction manager
 * when there is one, and each True one puts its NoSchedule taint on the Node
 * ({@link #pressureTaints}). On a second thread it renews the node's Lease every
 * ten seconds. API and runtime errors are logged and retried with back-off; they never stop
 * the agent or its pod work.
 */
public final class NodeController implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(NodeController.class);
    private static final int CONFLICT_RETRIES = 5;

    /**
     * How often things happen: status passes, unconditional status reports, lease renewals,
     * and the first delay after a failure (it doubles up to the pass's own interval).
     */
    public record Timing(Duration statusUpdate, Duration statusReport, Duration leaseRenew, Duration firstRetry) {
        /** The kubelet's: the settings' status frequencies, a renewal every quarter of the lease's 40 s (10 s). */
        public static Timing of(NodeSettings s) {
            return new Timing(s.statusUpdateFrequency(), s.statusReportFrequency(),
                    Duration.ofSeconds(NodeLease.DURATION_SECONDS / 4), Duration.ofMillis(200));
        }
    }

    private final KubernetesClient api;
    private final CriClient cri;
    private final String nodeName;
    private final NodeSettings settings;
    private final Path stateDir;
    private final Timing timing;
    private final Clock clock;
    private final MachineFacts facts;
    private final List<String> ips;
    private final Map<String, Long> systemReserved;
    private final Map<String, Long> kubeReserved;
    private final NodeLease lease;
    /** The pressure conditions True now (the eviction manager's); null: from the hard thresholds and each sample. */
    private final java.util.function.Supplier<java.util.Set<String>> pressure;
    private final ScheduledExecutorService statusThread = DaemonThreads.scheduler("berth-node-status");
    private final ScheduledExecutorService leaseThread = DaemonThreads.scheduler("berth-node-lease");

    // status thread only
    private Node node;
    private NodeStatus lastReported;
    private Instant lastReportTime;
    private boolean imageFsUnsupported;
    private Path imageFs;
    private int statusFailures;
    // lease thread only
    private int leaseFailures;
    /** The registered Node's uid, once known: the Lease's owner. */
    private volatile String nodeUid;

    NodeController(KubernetesClient api, CriClient cri, String nodeName, NodeSettings settings, Path stateDir, Timing timing, Clock clock,
                   MachineFacts facts) {
        this(api, cri, nodeName, settings, stateDir, timing, clock, facts, null);
    }

    NodeController(KubernetesClient api, CriClient cri, String nodeName, NodeSettings settings, Path stateDir, Timing timing, Clock clock,
                   MachineFacts facts, java.util.function.Supplier<java.util.Set<String>> pressure) {
        this.pressure = pressure;
        this.api = api;
        this.cri = cri;
        this.nodeName = nodeName;
        this.settings = settings;
        this.stateDir = stateDir;
        this.timing = timing;
        this.clock = clock;
        this.facts = facts;
        this.ips = NodeAddresses.find(settings.nodeIps());
        this.systemReserved = NodeSettings.reservation("system_reserved", settings.systemReserved());
        this.kubeReserved = NodeSettings.reservation("kube_reserved", settings.kubeReserved());
        this.lease = new NodeLease(api, nodeName, clock);
    }

    /**
     * Starts registering and reporting the node {@code nodeName} of the machine {@code facts}
     * (read once by the caller); {@code stateDir} is on the node's filesystem (nodefs).
     */
    public static NodeController start(KubernetesClient api, CriClient cri, String nodeName, NodeSettings settings, Path stateDir,
            MachineFacts facts) {
        return start(api, cri, nodeName, settings, stateDir, Timing.of(settings), facts);
    }

    /** The same with other intervals (tests). */
    public static NodeController start(KubernetesClient api, CriClient cri, String nodeName, NodeSettings settings, Path stateDir, Timing timing) {
        return start(api, cri, nodeName, settings, stateDir, timing, MachineFacts.current());
    }

    private static NodeController start(KubernetesClient api, CriClient cri, String nodeName, NodeSettings settings, Path stateDir,
            Timing timing, MachineFacts facts) {
        return start(api, cri, nodeName, settings, stateDir, timing, facts, null);
    }

    /**
     * The same with the pressure conditions of an eviction manager ({@code pressure}: those
     * True now): they set MemoryPressure, DiskPressure and PIDPressure, and their taints.
     */
    public static NodeController start(KubernetesClient api, CriClient cri, String nodeName, NodeSettings settings, Path stateDir,
            Timing timing, MachineFacts facts, java.util.function.Supplier<java.util.Set<String>> pressure) {
        NodeController c = new NodeController(api, cri, nodeName, settings, stateDir, timing, Clock.systemUTC(), facts, pressure);
        c.statusThread.execute(c::statusPass);
        c.leaseThread.execute(c::leasePass);
        return c;
    }

    /** The node's IPs (its InternalIP addresses), as pods report them in hostIPs. */
    public List<String> nodeIPs() {
        return ips;
    }

    private Duration retryDelay(int failures, Duration interval) {
        long ms = timing.firstRetry().toMillis() << Math.min(failures - 1, 20);
        return Duration.ofMillis(Math.min(ms, interval.toMillis()));
    }

    private void statusPass() {
        Duration next = timing.statusUpdate();
        try {
            if (node == null) {
                register();
            }
            syncStatus();
            statusFailures = 0;
        } catch (Throwable e) {
            statusFailures++;
            next = retryDelay(statusFailures, timing.statusUpdate());
            LOG.warn("node {}: status not written (attempt {}, next in {} ms): {}", nodeName, statusFailures, next.toMillis(), describe(e));
        }
        schedule(statusThread, this::statusPass, next);
    }

    private void leasePass() {
        Duration next = timing.leaseRenew();
        try {
            String uid = nodeUid;
            if (uid != null) {
                lease.renew(uid);
                leaseFailures = 0;
            } else {
                next = timing.firstRetry(); // not registered yet
            }
        } catch (Throwable e) {
            leaseFailures++;
            next = retryDelay(leaseFailures, timing.leaseRenew());
            LOG.warn("node {}: lease not renewed (attempt {}, next in {} ms): {}", nodeName, leaseFailures, next.toMillis(), describe(e));
        }
        schedule(leaseThread, this::leasePass, next);
    }

    private static void schedule(ScheduledExecutorService thread, Runnable pass, Duration delay) {
        try {
            thread.schedule(pass, delay.toMillis(), TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.RejectedExecutionException e) {
            // closed
        }
    }

    private static String describe(Throwable e) {
        if (e instanceof KubernetesClientException k && k.getCode() > 0) {
            return "HTTP " + k.getCode() + ": " + k.getMessage();
        }
        return e.toString();
    }

    /** The labels the agent sets on its Node: the kubelet's own, then the configured ones. */
    Map<String, String> ownLabels() {
        Map<String, String> l = new LinkedHashMap<>();
        l.put("kubernetes.io/hostname", nodeName);
        l.put("kubernetes.io/os", "linux");
        l.put("kubernetes.io/arch", facts.architecture());
        l.put("beta.kubernetes.io/os", "linux");
        l.put("beta.kubernetes.io/arch", facts.architecture());
        l.putAll(settings.labels());
        return l;
    }

    /** Creates the Node, or adopts the existing one: its labels the agent owns are set, everything else is kept. */
    private void register() {
        NodeStatus status = computeStatus(List.of());
        Node desired = new NodeBuilder().withNewMetadata().withName(nodeName).withLabels(ownLabels()).endMetadata()
                .withNewSpec().withTaints(settings.taints().isEmpty() ? null : settings.taints()).endSpec()
                .withStatus(status).build();
        try {
            node = api.nodes().resource(desired).create();
            LOG.info("node {} registered", nodeName);
        } catch (KubernetesClientException e) {
            if (e.getCode() != 409) {
                throw e;
            }
            adopt();
        }
        nodeUid = node.getMetadata().getUid();
        lastReported = null; // the first status is always written
    }

    private void adopt() {
        for (int attempt = 0; ; attempt++) {
            Node existing = api.nodes().withName(nodeName).get();
            if (existing == null) {
                throw new IllegalStateException("node " + nodeName + " exists and does not (deleted meanwhile); registering again");
            }
            Map<String, String> labels = existing.getMetadata().getLabels() == null ? Map.of() : existing.getMetadata().getLabels();
            Map<String, String> changes = new LinkedHashMap<>();
            ownLabels().forEach((k, v) -> {
                if (!v.equals(labels.get(k))) {
                    changes.put(k, v);
                }
            });
            if (changes.isEmpty()) {
                node = existing;
                LOG.info("node {} adopted", nodeName);
                return;
            }
            String patch = api.getKubernetesSerialization().asJson(Map.of("metadata",
                    Map.of("resourceVersion", existing.getMetadata().getResourceVersion(), "labels", changes)));
            try {
                node = api.nodes().resource(existing).patch(PatchContext.of(PatchType.JSON_MERGE), patch);
                LOG.info("node {} adopted; labels set: {}", nodeName, changes.keySet());
                return;
            } catch (KubernetesClientException e) {
                if (e.getCode() != 409 || attempt >= CONFLICT_RETRIES) {
                    throw e;
                }
            }
        }
    }

    /** One status pass: computes the status and writes it when it changed or a report is due. */
    private void syncStatus() {
        Instant now = clock.instant();
        List<NodeCondition> previous = lastReported != null ? lastReported.getConditions()
                : node.getStatus() != null && node.getStatus().getConditions() != null ? node.getStatus().getConditions() : List.of();
        NodeStatus desired = computeStatus(previous);
        boolean due = lastReportTime == null || !now.isBefore(lastReportTime.plus(timing.statusReport()));
        if (due || NodeStatusMaker.changed(lastReported, desired)) {
            writeStatus(desired);
            lastReported = desired;
            lastReportTime = now;
        }
        syncTaints(desired.getConditions());
    }

    /** The taint each pressure condition puts on the Node while True (the node lifecycle controller's mapping). */
    static final Map<String, String> PRESSURE_TAINTS = Map.of(
            NodeStatusMaker.MEMORY_PRESSURE, "node.kubernetes.io/memory-pressure",
            NodeStatusMaker.DISK_PRESSURE, "node.kubernetes.io/disk-pressure",
            NodeStatusMaker.PID_PRESSURE, "node.kubernetes.io/pid-pressure");

    /**
     * The Node's taints given its conditions: every taint of others kept as it is, a NoSchedule
     * taint for each pressure condition that is True, none for one that is not. In a cluster
     * the node lifecycle controller derives the same taints from the same conditions; the agent
     * sets them itself so that a control plane without that controller still keeps new pods off
     * a node under pressure, and both agree, so neither undoes the other.
     */
    static List<io.fabric8.kubernetes.api.model.Taint> pressureTaints(List<io.fabric8.kubernetes.api.model.Taint> current,
                                                                      List<NodeCondition> conditions) {
        List<io.fabric8.kubernetes.api.model.Taint> out = new ArrayList<>();
        java.util.Set<String> wanted = new java.util.LinkedHashSet<>();
        for (NodeCondition c : conditions) {
            if (PRESSURE_TAINTS.containsKey(c.getType()) && "True".equals(c.getStatus())) {
                wanted.add(PRESSURE_TAINTS.get(c.getType()));
            }
        }
        for (io.fabric8.kubernetes.api.model.Taint t : current == null ? List.<io.fabric8.kubernetes.api.model.Taint>of() : current) {
            boolean ours = PRESSURE_TAINTS.containsValue(t.getKey()) && "NoSchedule".equals(t.getEffect());
            if (!ours) {
                out.add(t);
            } else if (wanted.remove(t.getKey())) {
                out.add(t); // already there (put by the agent or the node lifecycle controller)
            }
        }
        for (String key : wanted) {
            out.add(new io.fabric8.kubernetes.api.model.TaintBuilder().withKey(key).withEffect("NoSchedule").build());
        }
        return out;
    }

    /** Puts the pressure taints on the Node, when they differ, with a JSON patch of its spec on the resourceVersion last seen. */
    private void syncTaints(List<NodeCondition> conditions) {
        for (int attempt = 0; ; attempt++) {
            List<io.fabric8.kubernetes.api.model.Taint> current = node.getSpec() == null ? List.of() : node.getSpec().getTaints();
            List<io.fabric8.kubernetes.api.model.Taint> desired = pressureTaints(current, conditions);
            if (desired.equals(current == null ? List.of() : current)) {
                return;
            }
            List<Map<String, Object>> ops = new ArrayList<>();
            ops.add(op("replace", "/metadata/resourceVersion", node.getMetadata().getResourceVersion()));
            ops.add(op("add", node.getSpec() == null ? "/spec" : "/spec/taints",
                    node.getSpec() == null ? Map.of("taints", desired) : desired));
            try {
                node = api.nodes().resource(node).patch(PatchContext.of(PatchType.JSON), api.getKubernetesSerialization().asJson(ops));
                LOG.info("node {}: taints now {}", nodeName, desired.stream().map(t -> t.getKey() + ":" + t.getEffect()).toList());
                return;
            } catch (KubernetesClientException e) {
                if (e.getCode() != 409 || attempt >= CONFLICT_RETRIES) {
                    throw e;
                }
                reread(e);
            }
        }
    }

    /** After a conflict: the Node as the API server has it now; {@code e} again when it is gone. */
    private void reread(KubernetesClientException e) {
        Node fresh = api.nodes().withName(nodeName).get();
        if (fresh == null) {
            node = null;
            throw e;
        }
        node = fresh;
    }

    /**
     * Writes {@code desired} as a JSON patch of the status subresource that replaces the
     * fields the agent owns (conditions, addresses, capacity, allocatable, nodeInfo,
     * daemonEndpoints) and leaves the rest (volumesAttached, images, …) alone. It carries the
     * resourceVersion of the Node last seen: what others put in those fields (their
     * conditions, their extended resources) is carried over from it, and a conflict (someone
     * wrote the Node meanwhile) reads it again and retries.
     */
    private void writeStatus(NodeStatus desired) {
        for (int attempt = 0; ; attempt++) {
            String patch = api.getKubernetesSerialization().asJson(statusPatch(node, desired));
            try {
                node = api.nodes().resource(node).subresource("status").patch(PatchContext.of(PatchType.JSON), patch); // with the item: no GET first
                return;
            } catch (KubernetesClientException e) {
                if (e.getCode() == 404) {
                    node = null; // deleted: register again
                    throw e;
                }
                if (e.getCode() != 409 || attempt >= CONFLICT_RETRIES) {
                    throw e;
                }
                reread(e);
            }
        }
    }

    /** The JSON patch operations that put {@code desired} on {@code current}, keeping what others own in the same fields. */
    static List<Map<String, Object>> statusPatch(Node current, NodeStatus desired) {
        NodeStatus was = current.getStatus();
        List<NodeCondition> conditions = new ArrayList<>(desired.getConditions());
        Map<String, io.fabric8.kubernetes.api.model.Quantity> capacity = new LinkedHashMap<>();
        Map<String, io.fabric8.kubernetes.api.model.Quantity> allocatable = new LinkedHashMap<>();
        if (was != null) {
            if (was.getConditions() != null) {
                was.getConditions().stream().filter(c -> !NodeStatusMaker.OWN_CONDITIONS.contains(c.getType())).forEach(conditions::add);
            }
            foreignResources(was.getCapacity(), desired.getCapacity(), capacity);
            foreignResources(was.getAllocatable(), desired.getAllocatable(), allocatable);
        }
        capacity.putAll(desired.getCapacity());
        allocatable.putAll(desired.getAllocatable());
        List<Map<String, Object>> ops = new ArrayList<>();
        ops.add(op("replace", "/metadata/resourceVersion", current.getMetadata().getResourceVersion()));
        if (was == null) {
            ops.add(op("add", "/status", new NodeStatusBuilder(desired).withConditions(conditions).withCapacity(capacity)
                    .withAllocatable(allocatable).build()));
            return ops;
        }
        ops.add(op("add", "/status/conditions", conditions));
        ops.add(op("add", "/status/addresses", desired.getAddresses()));
        ops.add(op("add", "/status/capacity", capacity));
        ops.add(op("add", "/status/allocatable", allocatable));
        ops.add(op("add", "/status/nodeInfo", desired.getNodeInfo()));
        ops.add(op("add", "/status/daemonEndpoints", desired.getDaemonEndpoints()));
        return ops;
    }

    /** Resources of others (extended resources of device plugins); hugepages are the agent's, so a size gone is dropped. */
    private static void foreignResources(Map<String, io.fabric8.kubernetes.api.model.Quantity> was,
                                         Map<String, io.fabric8.kubernetes.api.model.Quantity> ours,
                                         Map<String, io.fabric8.kubernetes.api.model.Quantity> out) {
        if (was != null) {
            was.forEach((k, v) -> {
                if (!ours.containsKey(k) && !k.startsWith("hugepages-") && !NodeStatusMaker.OWN_RESOURCES.contains(k)) {
                    out.put(k, v);
                }
            });
        }
    }

    private static Map<String, Object> op(String op, String path, Object value) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("op", op);
        m.put("path", path);
        m.put("value", value);
        return m;
    }

    /** The status from a fresh look at the machine and the runtime. */
    NodeStatus computeStatus(List<NodeCondition> previous) {
        NodeStatusMaker.RuntimeState runtime = runtimeState();
        MachineUsage usage = MachineUsage.sample(stateDir, imageFs(), facts.memoryBytes());
        Map<String, Long> capacity = NodeStatusMaker.capacity(facts, usage.nodefs().capacityBytes(), settings.maxPods());
        Map<String, Long> allocatable = NodeStatusMaker.allocatable(capacity, systemReserved, kubeReserved, settings.thresholds());
        List<NodeCondition> conditions = pressure != null
                ? NodeStatusMaker.conditions(previous, pressure.get(), runtime, clock.instant())
                : NodeStatusMaker.conditions(previous, usage, settings.thresholds(), runtime, clock.instant());
        return NodeStatusMaker.status(nodeName, facts, capacity, allocatable, conditions, ips, runtime);
    }

    /** The runtime's version and what its Status says against readiness, as the kubelet words it. */
    NodeStatusMaker.RuntimeState runtimeState() {
        String version = "";
        try {
            VersionResponse v = cri.version();
            version = v.getRuntimeName() + "://" + v.getRuntimeVersion();
        } catch (StatusRuntimeException e) {
            return new NodeStatusMaker.RuntimeState(version, List.of("container runtime is down"));
        }
        StatusResponse s;
        try {
            s = cri.status();
        } catch (StatusRuntimeException e) {
            return new NodeStatusMaker.RuntimeState(version, List.of("container runtime is down"));
        }
        List<String> errors = new ArrayList<>();
        String runtime = condition(s, "RuntimeReady");
        if (runtime != null) {
            errors.add("container runtime not ready: " + runtime);
        }
        String network = condition(s, "NetworkReady");
        if (network != null) {
            errors.add("container runtime network not ready: " + network);
        }
        List<NodeStatusMaker.Handler> handlers = s.getRuntimeHandlersList().stream()
                .map(h -> new NodeStatusMaker.Handler(h.getName(), h.getFeatures().getRecursiveReadOnlyMounts(),
                        h.getFeatures().getUserNamespaces())).toList();
        return new NodeStatusMaker.RuntimeState(version, errors, handlers,
                s.hasFeatures() ? s.getFeatures().getSupplementalGroupsPolicy() : null);
    }

    /** Null when the condition {@code type} is true; else how the kubelet prints it ("<nil>" when absent). */
    private static String condition(StatusResponse s, String type) {
        if (!s.hasStatus()) {
            return "<nil>";
        }
        for (RuntimeCondition c : s.getStatus().getConditionsList()) {
            if (c.getType().equals(type)) {
                return c.getStatus() ? null : type + "=false reason:" + c.getReason() + " message:" + c.getMessage();
            }
        }
        return "<nil>";
    }

    /**
     * The runtime's image filesystem mountpoint (ImageFsInfo), or null: then the node's
     * filesystem stands for it. Asked until the runtime names it, then kept: the place does
     * not move, and a runtime may measure its whole image store to answer.
     */
    private Path imageFs() {
        if (imageFs != null || imageFsUnsupported) {
            return imageFs;
        }
        try {
            ImageFsInfoResponse r = cri.imageFsInfo();
            if (r.getImageFilesystemsCount() > 0 && !r.getImageFilesystems(0).getFsId().getMountpoint().isEmpty()) {
                imageFs = Path.of(r.getImageFilesystems(0).getFsId().getMountpoint());
            }
        } catch (StatusRuntimeException e) {
            imageFsUnsupported = e.getStatus().getCode() == Status.Code.UNIMPLEMENTED;
        }
        return imageFs;
    }

    /** Stops both threads; the Node and its Lease stay (the Lease expires, the Node turns NotReady, as with the kubelet). */
    @Override
    public void close() {
        statusThread.shutdownNow();
        leaseThread.shutdownNow();
        try {
            statusThread.awaitTermination(5, TimeUnit.SECONDS);
            leaseThread.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
