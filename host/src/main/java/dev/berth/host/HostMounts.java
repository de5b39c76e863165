package dev.berth.host;

import java.nio.file.Path;
import java.util.List;

/**
 * The mounts berth makes and removes (pin directories, a pod's /dev/shm, containers' root
 * filesystems) and what it asks of the mount table. {@link LinuxMounts} changes the host;
 * the test-jar's {@code FakeMounts} keeps a table in memory, so a test can see what is left.
 */
public interface HostMounts {
    /** Makes {@code dir} a private bind mount of itself, so mounts below it do not propagate. */
    void bindPrivate(Path dir);

    /** Mounts a tmpfs (nosuid, nodev, noexec) named {@code source} with {@code options} on {@code target}. */
    void tmpfs(String source, Path target, String options);

    /** Mounts an overlayfs with the given options (lowerdir, upperdir, workdir) on {@code target}. */
    void overlay(Path target, String options);

    /**
     * Mounts an overlayfs whose options name paths relative to {@code dir} (the mount resolves
     * them from there), so that many lower directories fit the one page the kernel takes for
     * mount options. An implementation that resolves no paths (a fake) may treat it as
     * {@link #overlay}.
     */
    default void overlayFrom(Path dir, Path target, String options) {
        overlay(target, options);
    }

    /** Unmounts the top mount on {@code target}; a busy mount is detached. Not mounted is success. */
    void unmount(Path target);

    /**
     * Unmounts everything mounted at or below {@code dir}, deepest first, including mounts
     * stacked on one mount point. Idempotent: nothing mounted is success.
     */
    void unmountAllUnder(Path dir);

    /** Mount points at or below {@code dir}, deepest first (the order they must be unmounted in). */
    List<Path> mountPointsUnder(Path dir);

    /** Number of mounts at or below {@code dir}, mounts stacked on one point counted one by one. */
    int mountCountUnder(Path dir);

    boolean isMountPoint(Path path);

    /** The mount that holds {@code path} (the longest mount point that is a prefix of it), or null. */
    MountTable.Mount containing(Path path);
}
