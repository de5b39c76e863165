package dev.berth.host;

import java.nio.file.Path;

/**
 * PLACEHOLDER for the idmapped-mount primitive built in another branch (the lead takes that
 * one): it says no filesystem supports idmapped mounts, so callers take their chown fallback.
 */
public final class IdmappedMounts {
    private IdmappedMounts() {
    }

    /** Whether an idmapped mount can be made of {@code dir}'s filesystem. */
    public static boolean supported(Path dir) {
        return false;
    }

    /** An idmapped bind mount of {@code source} at {@code target}, mapped through the user namespace pinned at {@code usernsPath}. */
    public static void bind(Path source, Path target, Path usernsPath, boolean recursive) {
        throw new UnsupportedOperationException("idmapped mounts are not built yet");
    }

    /** Unmounts an idmapped mount made by {@link #bind}. */
    public static void unmount(Path target) {
        throw new UnsupportedOperationException("idmapped mounts are not built yet");
    }
}
