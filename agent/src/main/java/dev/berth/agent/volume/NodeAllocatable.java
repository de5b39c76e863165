package dev.berth.agent.volume;

import java.io.IOException;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * What the node gives pods, as far as the downward API needs it: a container without a limit
 * sees these as its {@code limits.*} (the kubelet's rule).
 */
public record NodeAllocatable(long cpuMillis, long memoryBytes, long ephemeralStorageBytes) {
    /** The machine: its processors, {@code memoryBytes} and the size of the filesystem holding {@code stateDir}. */
    public static NodeAllocatable of(long memoryBytes, Path stateDir) {
        long storage = 0;
        try {
            Path p = stateDir;
            while (p != null && !Files.exists(p)) {
                p = p.getParent();
            }
            if (p != null) {
                FileStore store = Files.getFileStore(p);
                storage = store.getTotalSpace();
            }
        } catch (IOException e) {
            // unknown: 0, as a node that reports no ephemeral storage
        }
        return new NodeAllocatable(Runtime.getRuntime().availableProcessors() * 1000L, memoryBytes, storage);
    }
}
