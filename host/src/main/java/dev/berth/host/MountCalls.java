package dev.berth.host;

import dev.berth.common.BerthException;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Platform;

/**
 * mount(2) and umount2(2) called directly (no mount(8) process per call), for the mounts on
 * the container create path.
 */
public final class MountCalls {
    public interface C {
        int mount(String source, String target, String fstype, long flags, String data);

        int umount2(String target, int flags);

        String strerror(int errnum);
    }

    private static final int MNT_DETACH = 2;
    private static final int EBUSY = 16;
    private static final int EINVAL = 22;
    private static final int ENOENT = 2;

    private static final C LIBC = LibraryLoader.create(C.class).failImmediately()
            .load(Platform.getNativePlatform().getStandardCLibraryName());
    private static final jnr.ffi.Runtime RUNTIME = jnr.ffi.Runtime.getRuntime(LIBC);

    private MountCalls() {
    }

    /** Mounts an overlayfs with the given options (lowerdir, upperdir, workdir) on {@code target}. */
    public static void overlay(String target, String options) {
        if (LIBC.mount("overlay", target, "overlay", 0, options) != 0) {
            int errno = RUNTIME.getLastError();
            throw BerthException.internal("cannot mount an overlay on " + target + ": " + strerror(errno), null);
        }
    }

    /**
     * Unmounts {@code target}; a busy mount is detached (lazily unmounted). Not mounted is
     * success.
     */
    public static void unmount(String target) {
        if (LIBC.umount2(target, 0) == 0) {
            return;
        }
        int errno = RUNTIME.getLastError();
        if (errno == EINVAL || errno == ENOENT) {
            return; // not a mount point (any more), or gone
        }
        if (errno == EBUSY && LIBC.umount2(target, MNT_DETACH) == 0) {
            return;
        }
        throw BerthException.internal("cannot unmount " + target + ": " + strerror(RUNTIME.getLastError()), null);
    }

    private static String strerror(int errno) {
        String s = LIBC.strerror(errno);
        return (s == null ? "error" : s) + " (errno " + errno + ")";
    }
}
