package dev.berth.agent.cgroup;

/**
 * What the node's pods may use together, enforced on the {@code kubepods} cgroup as the
 * kubelet enforces its node allocatable: the capacity less the system and kube reservations
 * (not less the eviction thresholds, which the eviction manager keeps).
 *
 * @param milliCpu cpu in millicores, as the shares of {@code kubepods}; 0: not enforced
 * @param memoryBytes the memory limit of {@code kubepods}; 0: not enforced
 */
public record NodeAllocatable(long milliCpu, long memoryBytes) {
    /** Nothing enforced: {@code kubepods} gets no limits. */
    public static final NodeAllocatable UNENFORCED = new NodeAllocatable(0, 0);

    public NodeAllocatable {
        if (milliCpu < 0 || memoryBytes < 0) {
            throw new IllegalArgumentException("node allocatable cpu and memory cannot be negative");
        }
    }
}
