package dev.berth.agent.node;

import java.nio.file.Path;
import java.util.Map;

/**
 * The node's resources as the agent's pods see them, computed once at start from the machine
 * and the configured reservations: {@code allocatable} is what the Node reports (capacity less
 * the reservations and the hard eviction thresholds; what a container without a limit sees in
 * the downward API), {@code enforced} is what the {@code kubepods} cgroup gets (capacity less
 * the reservations only, as the kubelet enforces it; the eviction thresholds are kept by
 * eviction, not by the cgroup).
 */
public record NodeResources(Map<String, Long> capacity, Map<String, Long> allocatable, Map<String, Long> enforced) {
    public static NodeResources of(MachineFacts facts, Path stateDir, NodeSettings settings) {
        MachineUsage usage = MachineUsage.sample(stateDir, stateDir, facts.memoryBytes());
        Map<String, Long> capacity = NodeStatusMaker.capacity(facts, usage.nodefs().capacityBytes(), settings.maxPods());
        Map<String, Long> system = NodeSettings.reservation("system_reserved", settings.systemReserved());
        Map<String, Long> kube = NodeSettings.reservation("kube_reserved", settings.kubeReserved());
        return new NodeResources(capacity, NodeStatusMaker.allocatable(capacity, system, kube, settings.thresholds()),
                NodeStatusMaker.allocatable(capacity, system, kube, Map.of()));
    }

    /** Millicores, bytes or a count of {@code resource} in {@code of} (0 when absent). */
    public static long get(Map<String, Long> of, String resource) {
        return of.getOrDefault(resource, 0L);
    }
}
