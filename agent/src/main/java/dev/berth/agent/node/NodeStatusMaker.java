package dev.berth.agent.node;

import io.fabric8.kubernetes.api.model.NodeAddress;
import io.fabric8.kubernetes.api.model.NodeCondition;
import io.fabric8.kubernetes.api.model.NodeConditionBuilder;
import io.fabric8.kubernetes.api.model.NodeFeaturesBuilder;
import io.fabric8.kubernetes.api.model.NodeRuntimeHandlerBuilder;
import io.fabric8.kubernetes.api.model.NodeStatus;
import io.fabric8.kubernetes.api.model.NodeStatusBuilder;
import io.fabric8.kubernetes.api.model.NodeSystemInfoBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import java.time.Instant;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The Node's status computed as the kubelet computes it, from facts, one usage sample, the
 * runtime's answers and the previous conditions: capacity, allocatable (capacity less
 * system and kube reservations and the hard eviction thresholds, never below zero, memory
 * also less hugepages), conditions with the kubelet's reasons, addresses and nodeInfo.
 * Pure: no I/O, so every rule is tested with made-up numbers.
 */
public final class NodeStatusMaker {
    /**
     * The kubeletVersion the Node reports: the Kubernetes release whose CRI and node API berth
     * follows, with berth's own version as semver build metadata (as k3s reports "+k3s1"),
     * so version parsers accept it and it orders as that release.
     */
    public static final String KUBELET_VERSION = "v1.36.0+berth." + dev.berth.common.BerthVersion.get().replaceAll("[^0-9A-Za-z.-]", "-");

    public static final String READY = "Ready";
    public static final String MEMORY_PRESSURE = "MemoryPressure";
    public static final String DISK_PRESSURE = "DiskPressure";
    public static final String PID_PRESSURE = "PIDPressure";
    /** The conditions the agent owns; others (NetworkUnavailable of a network add-on, …) stay as they are. */
    public static final List<String> OWN_CONDITIONS = List.of(MEMORY_PRESSURE, DISK_PRESSURE, PID_PRESSURE, READY);
    /** The resources the agent reports (with every hugepages size); others' (extended resources) stay as they are. */
    public static final List<String> OWN_RESOURCES = List.of("cpu", "memory", "ephemeral-storage", "pods");

    private NodeStatusMaker() {
    }

    /**
     * What the runtime said: its version as "name://version" (empty when unknown), what keeps
     * the node not ready, the handlers it offers with their features (Status'
     * runtime_handlers, "" the default), and whether it honours SupplementalGroupsPolicy (null
     * when it did not say).
     */
    public record RuntimeState(String version, List<String> errors, List<Handler> handlers, Boolean supplementalGroupsPolicy) {
        public RuntimeState {
            errors = List.copyOf(errors);
            handlers = List.copyOf(handlers);
        }

        public RuntimeState(String version, List<String> errors) {
            this(version, errors, List.of(), null);
        }
    }

    /** One runtime handler as Status lists it, with what it supports. */
    public record Handler(String name, boolean recursiveReadOnlyMounts, boolean userNamespaces) {
    }

    /** Capacity in base units (millicores, bytes, counts) by resource name. */
    public static Map<String, Long> capacity(MachineFacts facts, long ephemeralBytes, int maxPods) {
        Map<String, Long> c = new LinkedHashMap<>();
        c.put("cpu", facts.cpus() * 1000L);
        c.put("memory", facts.memoryBytes());
        if (ephemeralBytes >= 0) {
            c.put("ephemeral-storage", ephemeralBytes);
        }
        c.put("pods", (long) maxPods);
        c.putAll(facts.hugepages());
        return c;
    }

    /**
     * Capacity less system and kube reservations and the hard eviction thresholds of
     * memory.available (from memory) and nodefs.available (from ephemeral-storage), then
     * memory less every hugepages size; nothing below zero.
     */
    public static Map<String, Long> allocatable(Map<String, Long> capacity, Map<String, Long> systemReserved, Map<String, Long> kubeReserved,
                                                Map<String, EvictionThreshold> thresholds) {
        Map<String, Long> reserved = new LinkedHashMap<>();
        systemReserved.forEach((k, v) -> reserved.merge(k, v, Long::sum));
        kubeReserved.forEach((k, v) -> reserved.merge(k, v, Long::sum));
        EvictionThreshold memory = thresholds.get("memory.available");
        if (memory != null && capacity.containsKey("memory")) {
            reserved.merge("memory", memory.value(capacity.get("memory")), Long::sum);
        }
        EvictionThreshold nodefs = thresholds.get("nodefs.available");
        if (nodefs != null && capacity.containsKey("ephemeral-storage")) {
            reserved.merge("ephemeral-storage", nodefs.value(capacity.get("ephemeral-storage")), Long::sum);
        }
        Map<String, Long> a = new LinkedHashMap<>();
        capacity.forEach((k, v) -> a.put(k, Math.max(0, v - reserved.getOrDefault(k, 0L))));
        capacity.forEach((k, v) -> {
            if (k.startsWith("hugepages-") && a.containsKey("memory")) {
                a.put("memory", Math.max(0, a.get("memory") - v));
            }
        });
        return a;
    }

    /** Base units as API quantities. */
    public static Map<String, Quantity> quantities(Map<String, Long> resources) {
        Map<String, Quantity> out = new LinkedHashMap<>();
        resources.forEach((k, v) -> out.put(k, new Quantity(k.equals("cpu") ? Quantities.cpu(v)
                : k.equals("memory") || k.equals("ephemeral-storage") || k.startsWith("hugepages-") ? Quantities.bytes(v) : Long.toString(v))));
        return out;
    }

    /** Whether the sample meets a threshold of {@code signal} (never when either is unknown). */
    static boolean pressure(Map<String, EvictionThreshold> thresholds, String signal, long available, long capacity) {
        EvictionThreshold t = thresholds.get(signal);
        return t != null && available >= 0 && capacity >= 0 && t.met(available, capacity);
    }

    /**
     * The four conditions the agent owns, the pressure ones from the hard thresholds and this
     * one sample (without an eviction manager), each keeping its previous transition time.
     */
    public static List<NodeCondition> conditions(List<NodeCondition> previous, MachineUsage u, Map<String, EvictionThreshold> thresholds,
                                                 RuntimeState runtime, Instant now) {
        java.util.Set<String> pressure = new java.util.HashSet<>();
        if (pressure(thresholds, "memory.available", u.memoryAvailable(), u.memoryCapacity())) {
            pressure.add(MEMORY_PRESSURE);
        }
        if (pressure(thresholds, "nodefs.available", u.nodefs().availableBytes(), u.nodefs().capacityBytes())
                || pressure(thresholds, "nodefs.inodesFree", u.nodefs().inodesFree(), u.nodefs().inodes())
                || pressure(thresholds, "imagefs.available", u.imagefs().availableBytes(), u.imagefs().capacityBytes())
                || pressure(thresholds, "imagefs.inodesFree", u.imagefs().inodesFree(), u.imagefs().inodes())) {
            pressure.add(DISK_PRESSURE);
        }
        if (pressure(thresholds, "pid.available", u.pidAvailable(), u.pidMax())) {
            pressure.add(PID_PRESSURE);
        }
        return conditions(previous, pressure, runtime, now);
    }

    /**
     * The four conditions the agent owns, the pressure ones True when named in {@code pressure}
     * (the eviction manager's, held through its transition period), with the kubelet's reasons
     * and messages, each keeping its previous transition time while its status stays.
     */
    public static List<NodeCondition> conditions(List<NodeCondition> previous, java.util.Set<String> pressure, RuntimeState runtime,
                                                 Instant now) {
        boolean memory = pressure.contains(MEMORY_PRESSURE);
        boolean disk = pressure.contains(DISK_PRESSURE);
        boolean pid = pressure.contains(PID_PRESSURE);
        List<NodeCondition> out = new ArrayList<>();
        out.add(condition(previous, MEMORY_PRESSURE, memory, memory ? "KubeletHasInsufficientMemory" : "KubeletHasSufficientMemory",
                memory ? "kubelet has insufficient memory available" : "kubelet has sufficient memory available", now));
        out.add(condition(previous, DISK_PRESSURE, disk, disk ? "KubeletHasDiskPressure" : "KubeletHasNoDiskPressure",
                disk ? "kubelet has disk pressure" : "kubelet has no disk pressure", now));
        out.add(condition(previous, PID_PRESSURE, pid, pid ? "KubeletHasInsufficientPID" : "KubeletHasSufficientPID",
                pid ? "kubelet has insufficient PID available" : "kubelet has sufficient PID available", now));
        boolean ready = runtime.errors().isEmpty();
        String message = runtime.errors().size() == 1 ? runtime.errors().get(0) : "[" + String.join(", ", runtime.errors()) + "]";
        out.add(condition(previous, READY, ready, ready ? "KubeletReady" : "KubeletNotReady",
                ready ? "kubelet is posting ready status" : message, now));
        return out;
    }

    private static NodeCondition condition(List<NodeCondition> previous, String type, boolean value, String reason, String message, Instant now) {
        String status = value ? "True" : "False";
        String time = time(now);
        String transition = time;
        for (NodeCondition p : previous) {
            if (type.equals(p.getType()) && status.equals(p.getStatus()) && p.getLastTransitionTime() != null) {
                transition = p.getLastTransitionTime();
            }
        }
        return new NodeConditionBuilder().withType(type).withStatus(status).withReason(reason).withMessage(message)
                .withLastHeartbeatTime(time).withLastTransitionTime(transition).build();
    }

    /** An API time: RFC 3339 in UTC, whole seconds. */
    public static String time(Instant t) {
        return DateTimeFormatter.ISO_INSTANT.format(t.truncatedTo(ChronoUnit.SECONDS));
    }

    /**
     * The whole status the agent writes: {@code conditions} (its own four, then
     * {@code foreign} ones it keeps), addresses, capacity, allocatable, nodeInfo, a
     * kubelet endpoint port of 0 (no kubelet API yet), and the runtime's handlers and features
     * as the kubelet reports them (runtimeHandlers, features.supplementalGroupsPolicy).
     */
    public static NodeStatus status(String nodeName, MachineFacts facts, Map<String, Long> capacity, Map<String, Long> allocatable,
                                    List<NodeCondition> conditions, List<String> ips, RuntimeState runtime) {
        List<NodeAddress> addresses = new ArrayList<>();
        ips.forEach(ip -> addresses.add(new NodeAddress(ip, "InternalIP")));
        addresses.add(new NodeAddress(nodeName, "Hostname"));
        return new NodeStatusBuilder()
                .withCapacity(quantities(capacity))
                .withAllocatable(quantities(allocatable))
                .withConditions(conditions)
                .withAddresses(addresses)
                .withNewDaemonEndpoints().withNewKubeletEndpoint().withPort(0).endKubeletEndpoint().endDaemonEndpoints()
                .withNodeInfo(new NodeSystemInfoBuilder()
                        .withMachineID(facts.machineId())
                        .withSystemUUID(facts.systemUuid())
                        .withBootID(facts.bootId())
                        .withKernelVersion(facts.kernelVersion())
                        .withOsImage(facts.osImage())
                        .withContainerRuntimeVersion(runtime.version())
                        .withKubeletVersion(KUBELET_VERSION)
                        .withOperatingSystem("linux")
                        .withArchitecture(facts.architecture())
                        .build())
                .withRuntimeHandlers(runtime.handlers().stream().map(h -> new NodeRuntimeHandlerBuilder().withName(h.name())
                        .withNewFeatures().withRecursiveReadOnlyMounts(h.recursiveReadOnlyMounts())
                        .withUserNamespaces(h.userNamespaces()).endFeatures().build()).toList())
                .withFeatures(runtime.supplementalGroupsPolicy() == null ? null
                        : new NodeFeaturesBuilder().withSupplementalGroupsPolicy(runtime.supplementalGroupsPolicy()).build())
                .build();
    }

    /** Whether two statuses differ in more than their conditions' heartbeat times. */
    public static boolean changed(NodeStatus before, NodeStatus after) {
        if (before == null) {
            return true;
        }
        return !withoutHeartbeats(before).equals(withoutHeartbeats(after));
    }

    private static NodeStatus withoutHeartbeats(NodeStatus s) {
        NodeStatus copy = new NodeStatusBuilder(s).build();
        List<NodeCondition> conditions = new ArrayList<>();
        for (NodeCondition c : s.getConditions()) {
            conditions.add(new NodeConditionBuilder(c).withLastHeartbeatTime(null).build());
        }
        copy.setConditions(conditions);
        return copy;
    }
}
