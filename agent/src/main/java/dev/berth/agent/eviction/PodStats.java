package dev.berth.agent.eviction;

import java.util.Map;

/**
 * What one pod uses, as the runtime reports it: its working set of memory (the whole pod's,
 * and each container's by name), its processes, and its local storage (containers' writable
 * layers: bytes in all and by container, and inodes).
 */
public record PodStats(String uid, long memoryWorkingSet, Map<String, Long> containerMemory, long processes, long ephemeralBytes,
                       Map<String, Long> containerEphemeral, long inodes) {
    public PodStats {
        containerMemory = Map.copyOf(containerMemory);
        containerEphemeral = Map.copyOf(containerEphemeral);
    }
}
