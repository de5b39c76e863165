package dev.berth.host;

import java.nio.charset.StandardCharsets;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Memory;
import jnr.ffi.Platform;
import jnr.ffi.Pointer;
import jnr.ffi.annotations.In;

/**
 * berth's one binding to the C library: every libc function berth calls that the JDK does not
 * offer (mounts, namespaces, terminals, UNIX sockets, device nodes, xattrs, signals), bound
 * once, at first use. Constants and structure layouts are those of Linux on 64-bit machines.
 */
public final class Libc {
    /** The bound functions (public only because the generated binding must see it). */
    public interface C {
        // files
        int open(String path, int flags);

        int close(int fd);

        long read(int fd, Pointer buf, long n);

        long write(int fd, Pointer buf, long n);

        int poll(Pointer fds, long nfds, int timeoutMs);

        int ioctl(int fd, long request, Pointer arg);

        int ioctl(int fd, long request, byte[] arg);

        int syncfs(int fd);

        // unpacking image layers
        int mknod(String path, int mode, long dev);

        int lchown(String path, int uid, int gid);

        int chmod(String path, int mode);

        int lsetxattr(String path, String name, byte[] value, long size, int flags);

        long lgetxattr(String path, String name, byte[] value, long size);

        int utimensat(int dirfd, String path, long[] times, int flags);

        // sockets
        int socket(int domain, int type, int protocol);

        int connect(int fd, @In byte[] addr, int len);

        int shutdown(int fd, int how);

        // terminals
        int posix_openpt(int flags);

        int grantpt(int fd);

        int unlockpt(int fd);

        int ptsname_r(int fd, Pointer buf, long len);

        int tcgetattr(int fd, Pointer termios);

        void cfmakeraw(Pointer termios);

        int tcsetattr(int fd, int when, Pointer termios);

        // mounts and namespaces
        int mount(String source, String target, String fstype, long flags, String data);

        int umount2(String target, int flags);

        int unshare(int flags);

        int chdir(String path);

        int setns(int fd, int nstype);

        int sethostname(String name, long len);

        // the new mount API by number (glibc has no wrappers for it): see IdmappedMounts
        /** open_tree(dfd, path, flags): a file descriptor of a (detached, with OPEN_TREE_CLONE) mount. */
        long syscall(long number, int dfd, String path, int flags);

        /** move_mount(fromDfd, fromPath, toDfd, toPath, flags). */
        long syscall(long number, int fromDfd, String fromPath, int toDfd, String toPath, int flags);

        /** mount_setattr(dfd, path, flags, struct mount_attr *attr, size). */
        long syscall(long number, int dfd, String path, int flags, Pointer attr, long size);

        // filesystem capacity and inodes (the node agent's disk pressure); buf: a struct statvfs (112 bytes)
        int statvfs(String path, Pointer buf);

        // processes
        int kill(int pid, int sig);

        String strerror(int errnum);
    }

    public static final int AT_FDCWD = -100;
    public static final int AT_SYMLINK_NOFOLLOW = 0x100;
    public static final int S_IFIFO = 0010000;
    public static final int S_IFCHR = 0020000;
    public static final int S_IFBLK = 0060000;

    public static final int O_RDONLY = 0;
    public static final int O_WRONLY = 1;
    public static final int O_RDWR = 2;
    public static final int O_NOCTTY = 0x100;
    public static final int O_NONBLOCK = 0x800;
    public static final int O_CLOEXEC = 0x80000;
    public static final int O_PATH = 0x200000;

    public static final int AF_UNIX = 1;
    public static final int AF_INET = 2;
    public static final int SOCK_DGRAM = 2;
    public static final int SOCK_SEQPACKET = 5;
    public static final int SOCK_CLOEXEC = 0x80000;
    public static final int SHUT_WR = 1;
    public static final int SHUT_RDWR = 2;
    /** Room for a path in {@code struct sockaddr_un} (108 bytes with its terminating zero). */
    public static final int SUN_PATH_MAX = 107;

    public static final short POLLIN = 0x1;
    public static final short POLLOUT = 0x4;
    public static final short POLLERR = 0x8;
    public static final short POLLHUP = 0x10;
    public static final short POLLNVAL = 0x20;
    public static final long TIOCSWINSZ = 0x5414;

    public static final int CLONE_FS = 0x00000200;
    public static final int CLONE_NEWNET = 0x40000000;
    public static final int CLONE_NEWIPC = 0x08000000;
    public static final int CLONE_NEWUTS = 0x04000000;
    public static final long MS_NOSUID = 2;
    public static final long MS_NODEV = 4;
    public static final long MS_NOEXEC = 8;
    public static final long MS_BIND = 4096;
    public static final long MS_PRIVATE = 1 << 18;
    public static final int MNT_DETACH = 2;
    public static final int CLONE_NEWUSER = 0x10000000;

    /*
     * The new mount API (Linux 5.2, mount_setattr 5.12). Its syscall numbers are in the table
     * shared by every architecture but alpha, so x86_64 and aarch64 both use these.
     */
    public static final long SYS_OPEN_TREE = 428;
    public static final long SYS_MOVE_MOUNT = 429;
    public static final long SYS_MOUNT_SETATTR = 442;
    public static final int OPEN_TREE_CLONE = 1;
    public static final int OPEN_TREE_CLOEXEC = O_CLOEXEC;
    public static final int AT_RECURSIVE = 0x8000;
    public static final int AT_EMPTY_PATH = 0x1000;
    public static final int MOVE_MOUNT_F_EMPTY_PATH = 0x4;
    public static final long MOUNT_ATTR_IDMAP = 0x00100000L;
    /** {@code struct mount_attr {u64 attr_set, attr_clr, propagation, userns_fd}} (MOUNT_ATTR_SIZE_VER0). */
    public static final int MOUNT_ATTR_SIZE = 32;

    public static final int ENOENT = 2;
    public static final int ESRCH = 3;
    public static final int EINTR = 4;
    public static final int EIO = 5;
    public static final int EAGAIN = 11;
    public static final int EBUSY = 16;
    public static final int EPERM = 1;
    public static final int EINVAL = 22;
    public static final int ENOSYS = 38;

    /** Loaded by the first caller (class initialisation is thread-safe and happens once). */
    private static final class Holder {
        static final C LIBC = LibraryLoader.create(C.class).failImmediately()
                .load(Platform.getNativePlatform().getStandardCLibraryName());
        static final jnr.ffi.Runtime RUNTIME = jnr.ffi.Runtime.getRuntime(LIBC);
    }

    private Libc() {
    }

    public static C c() {
        return Holder.LIBC;
    }

    public static jnr.ffi.Runtime runtime() {
        return Holder.RUNTIME;
    }

    /** The errno the last call of this thread left. */
    public static int errno() {
        return Holder.RUNTIME.getLastError();
    }

    /** The text of {@code errno}, or "errno N" when libc has none. */
    public static String strerror(int errno) {
        String s = c().strerror(errno);
        return s == null ? "errno " + errno : s;
    }

    /** The text of {@code errno} with its number: "No such file or directory (errno 2)". */
    public static String describe(int errno) {
        String s = c().strerror(errno);
        return (s == null ? "error" : s) + " (errno " + errno + ")";
    }

    /** Linux makedev. */
    public static long makedev(long major, long minor) {
        return ((major & 0xfffff000L) << 32) | ((major & 0xfffL) << 8) | ((minor & 0xffffff00L) << 12) | (minor & 0xffL);
    }

    /** A {@code struct sockaddr_un} for {@code path} (at most {@link #SUN_PATH_MAX} bytes). */
    public static byte[] sockaddr(String path) {
        byte[] p = path.getBytes(StandardCharsets.UTF_8);
        if (p.length > SUN_PATH_MAX) { // the caller goes through /proc/self/fd/N to stay short
            throw new IllegalArgumentException("socket path too long (" + p.length + " bytes): " + path);
        }
        byte[] addr = new byte[2 + 108];
        addr[0] = (byte) AF_UNIX; // sa_family_t, little endian
        System.arraycopy(p, 0, addr, 2, p.length);
        return addr;
    }

    /** Waits up to {@code timeoutMs} for {@code events} on {@code fd}; returns the events seen (0 on timeout). */
    public static int poll(int fd, short events, int timeoutMs) {
        Pointer pfd = Memory.allocateDirect(runtime(), 8);
        pfd.putInt(0, fd);
        pfd.putShort(4, events);
        pfd.putShort(6, (short) 0);
        int n = c().poll(pfd, 1, timeoutMs);
        if (n < 0) {
            return errno() == EINTR ? 0 : -1;
        }
        return n == 0 ? 0 : pfd.getShort(6) & 0xffff;
    }
}
