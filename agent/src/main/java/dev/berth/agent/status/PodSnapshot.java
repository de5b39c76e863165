package dev.berth.agent.status;

import dev.berth.cri.v1.ContainerStatus;
import dev.berth.cri.v1.PodSandboxStatus;
import java.util.List;
import java.util.Map;

/**
 * What a pod worker saw of its pod after a pass: the pod's current sandbox ({@code sandbox}
 * null when it has none), every container run the runtime still has, by container name with
 * the newest attempt first, and the worker's own knowledge of why containers wait.
 */
public record PodSnapshot(PodSandboxStatus sandbox, Map<String, List<ContainerStatus>> containers, Map<String, Waiting> waiting) {
    public PodSnapshot {
        containers = Map.copyOf(containers);
        waiting = Map.copyOf(waiting);
    }

    /** The runs of container {@code name}, newest first (empty when it never ran or its runs are gone). */
    public List<ContainerStatus> runs(String name) {
        return containers.getOrDefault(name, List.of());
    }
}
