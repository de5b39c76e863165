package dev.berth.host;

import dev.berth.common.BerthException;
import java.nio.file.Path;
import java.util.List;

/**
 * The host's mounts: mount(2) and umount2(2) called directly on the create paths (no mount(8)
 * process per call), umount(8) for tearing down a whole tree in one process, and
 * /proc/self/mountinfo ({@link MountTable}) for what is mounted.
 */
public final class LinuxMounts implements HostMounts {
    public static final LinuxMounts INSTANCE = new LinuxMounts();

    private LinuxMounts() {
    }

    @Override
    public void bindPrivate(Path dir) {
        Libc.C c = Libc.c();
        if (c.mount(dir.toString(), dir.toString(), null, Libc.MS_BIND, null) != 0) {
            throw fail("bind-mount " + dir + " onto itself");
        }
        if (c.mount("none", dir.toString(), null, Libc.MS_PRIVATE, null) != 0) {
            throw fail("make " + dir + " a private mount");
        }
    }

    @Override
    public void tmpfs(String source, Path target, String options) {
        if (Libc.c().mount(source, target.toString(), "tmpfs", Libc.MS_NOSUID | Libc.MS_NODEV | Libc.MS_NOEXEC, options) != 0) {
            throw fail("mount a tmpfs on " + target);
        }
    }

    @Override
    public void overlay(Path target, String options) {
        if (Libc.c().mount("overlay", target.toString(), "overlay", 0, options) != 0) {
            throw fail("mount an overlay on " + target);
        }
    }

    /**
     * The one thread that mounts with relative paths: it has its own working directory
     * ({@code unshare(CLONE_FS)}), so changing it moves no other thread of the daemon.
     */
    private static final java.util.concurrent.ExecutorService RELATIVE = java.util.concurrent.Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(() -> {
            privateFs = Libc.c().unshare(Libc.CLONE_FS) == 0 ? "" : "unshare(CLONE_FS): " + Libc.describe(Libc.errno());
            r.run();
        }, "berth-relative-mount");
        t.setDaemon(true);
        return t;
    });

    /** Empty once the mount thread has its own working directory; else why not (it then never changes directory). */
    private static volatile String privateFs;

    @Override
    public void overlayFrom(Path dir, Path target, String options) {
        java.util.concurrent.Future<String> f = RELATIVE.submit(() -> {
            if (!privateFs.isEmpty()) {
                return "cannot mount an overlay on " + target + " from " + dir + ": " + privateFs;
            }
            Libc.C c = Libc.c();
            if (c.chdir(dir.toString()) != 0) {
                return "cannot enter " + dir + ": " + Libc.describe(Libc.errno());
            }
            try {
                if (c.mount("overlay", target.toString(), "overlay", 0, options) != 0) {
                    return "cannot mount an overlay on " + target + ": " + Libc.describe(Libc.errno());
                }
                return null;
            } finally {
                c.chdir("/");
            }
        });
        String error;
        try {
            error = f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw BerthException.internal("interrupted mounting an overlay on " + target, e);
        } catch (java.util.concurrent.ExecutionException e) {
            throw BerthException.internal("cannot mount an overlay on " + target, e.getCause());
        }
        if (error != null) {
            throw BerthException.internal(error, null);
        }
    }

    @Override
    public void unmount(Path target) {
        Libc.C c = Libc.c();
        if (c.umount2(target.toString(), 0) == 0) {
            return;
        }
        int errno = Libc.errno();
        if (errno == Libc.EINVAL || errno == Libc.ENOENT) {
            return; // not a mount point (any more), or gone
        }
        if (errno == Libc.EBUSY && c.umount2(target.toString(), Libc.MNT_DETACH) == 0) {
            return;
        }
        throw fail("unmount " + target);
    }

    /**
     * Unmounts every mount point at or below {@code dir}, deepest first, with umount2 in this
     * process (a busy one lazily), pass after pass while mounts stacked on one point remain; a
     * pass that removes nothing is an error. No umount(8) process: one cost about 20 ms of a
     * pod's removal.
     */
    @Override
    public void unmountAllUnder(Path dir) {
        int before = MountTable.mountCountUnder(dir);
        while (before > 0) {
            Libc.C c = Libc.c();
            for (Path p : MountTable.mountPointsUnder(dir)) {
                if (c.umount2(p.toString(), 0) != 0 && Libc.errno() == Libc.EBUSY) {
                    c.umount2(p.toString(), Libc.MNT_DETACH);
                }
            }
            int now = MountTable.mountCountUnder(dir);
            if (now >= before) {
                throw BerthException.internal("cannot unmount everything under " + dir + ": still mounted: "
                        + MountTable.mountPointsUnder(dir), null);
            }
            before = now;
        }
    }

    @Override
    public List<Path> mountPointsUnder(Path dir) {
        return MountTable.mountPointsUnder(dir);
    }

    @Override
    public int mountCountUnder(Path dir) {
        return MountTable.mountCountUnder(dir);
    }

    @Override
    public boolean isMountPoint(Path path) {
        return MountTable.isMountPoint(path);
    }

    @Override
    public MountTable.Mount containing(Path path) {
        return MountTable.containing(path);
    }

    private static BerthException fail(String what) {
        return BerthException.internal("cannot " + what + ": " + Libc.describe(Libc.errno()), null);
    }
}
