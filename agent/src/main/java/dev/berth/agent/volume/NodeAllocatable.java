package dev.berth.agent.volume;

/**
 * What the node gives pods, as far as the downward API needs it: a container without a limit
 * sees these as its {@code limits.*} (the kubelet's rule).
 */
public record NodeAllocatable(long cpuMillis, long memoryBytes, long ephemeralStorageBytes) {
}
