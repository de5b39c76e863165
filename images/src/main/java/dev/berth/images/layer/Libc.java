package dev.berth.images.layer;

import jnr.ffi.LibraryLoader;
import jnr.ffi.Platform;

/** The few libc calls unpacking needs that the JDK does not offer (device nodes, numeric owners, special mode bits, xattrs). */
final class Libc {
    public interface C {
        int mknod(String path, int mode, long dev);

        int lchown(String path, int uid, int gid);

        int chmod(String path, int mode);

        int lsetxattr(String path, String name, byte[] value, long size, int flags);

        long lgetxattr(String path, String name, byte[] value, long size);

        String strerror(int errnum);

        int open(String path, int flags);

        int close(int fd);

        int syncfs(int fd);

        int utimensat(int dirfd, String path, long[] times, int flags);
    }

    static final int AT_FDCWD = -100;
    static final int AT_SYMLINK_NOFOLLOW = 0x100;
    static final int S_IFIFO = 0010000;
    static final int S_IFCHR = 0020000;
    static final int S_IFBLK = 0060000;

    private static final C C_LIB = LibraryLoader.create(C.class).failImmediately().load(Platform.getNativePlatform().getStandardCLibraryName());
    private static final jnr.ffi.Runtime RUNTIME = jnr.ffi.Runtime.getRuntime(C_LIB);

    private Libc() {
    }

    static C c() {
        return C_LIB;
    }

    static int errno() {
        return RUNTIME.getLastError();
    }

    static String strerror(int errno) {
        String s = C_LIB.strerror(errno);
        return s == null ? "errno " + errno : s;
    }

    /** Linux makedev. */
    static long makedev(long major, long minor) {
        return ((major & 0xfffff000L) << 32) | ((major & 0xfffL) << 8) | ((minor & 0xffffff00L) << 12) | (minor & 0xffL);
    }
}
