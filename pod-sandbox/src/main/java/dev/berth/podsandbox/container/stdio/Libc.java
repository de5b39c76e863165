package dev.berth.podsandbox.container.stdio;

import jnr.ffi.LibraryLoader;
import jnr.ffi.Platform;
import jnr.ffi.Pointer;
import jnr.ffi.annotations.In;

/**
 * The few libc calls the Java platform lacks for terminals and UNIX sockets: pseudo-terminal
 * allocation, SOCK_SEQPACKET connections and the terminal size ioctl. Constants and structure
 * layouts are those of Linux on 64-bit machines. Public only because the generated binding
 * must see its interface; not an API.
 */
public final class Libc {
    public interface C {
        int socket(int domain, int type, int protocol);

        int connect(int fd, @In byte[] addr, int len);

        int shutdown(int fd, int how);

        long read(int fd, Pointer buf, long n);

        long write(int fd, Pointer buf, long n);

        int poll(Pointer fds, long nfds, int timeoutMs);

        int close(int fd);

        int open(String path, int flags);

        int ioctl(int fd, long request, Pointer arg);

        int posix_openpt(int flags);

        int grantpt(int fd);

        int unlockpt(int fd);

        int ptsname_r(int fd, Pointer buf, long len);

        int tcgetattr(int fd, Pointer termios);

        void cfmakeraw(Pointer termios);

        int tcsetattr(int fd, int when, Pointer termios);

        String strerror(int errnum);
    }

    static final int AF_UNIX = 1;
    static final int SOCK_SEQPACKET = 5;
    static final int SOCK_CLOEXEC = 0x80000;
    static final int SHUT_WR = 1;
    static final int SHUT_RDWR = 2;
    static final int O_PATH = 0x200000;
    static final int O_CLOEXEC = 0x80000;
    static final int O_WRONLY = 1;
    static final int O_RDWR = 2;
    static final int O_NONBLOCK = 0x800;
    static final int O_NOCTTY = 0x100;
    static final short POLLIN = 0x1;
    static final short POLLOUT = 0x4;
    static final short POLLERR = 0x8;
    static final short POLLHUP = 0x10;
    static final short POLLNVAL = 0x20;
    static final long TIOCSWINSZ = 0x5414;
    static final int EINTR = 4;
    static final int EIO = 5;
    static final int EAGAIN = 11;
    /** Room for a path in {@code struct sockaddr_un} (108 bytes with its terminating zero). */
    static final int SUN_PATH_MAX = 107;

    static final C LIBC = LibraryLoader.create(C.class).failImmediately()
            .load(Platform.getNativePlatform().getStandardCLibraryName());
    static final jnr.ffi.Runtime RUNTIME = jnr.ffi.Runtime.getRuntime(LIBC);

    private Libc() {
    }

    static int errno() {
        return RUNTIME.getLastError();
    }

    static String error(int errno) {
        String s = LIBC.strerror(errno);
        return (s == null ? "error" : s) + " (errno " + errno + ")";
    }

    /** A {@code struct sockaddr_un} for {@code path} (at most {@link #SUN_PATH_MAX} bytes). */
    static byte[] sockaddr(String path) {
        byte[] p = path.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        if (p.length > SUN_PATH_MAX) { // the caller goes through /proc/self/fd/N to stay short
            throw new IllegalArgumentException("socket path too long (" + p.length + " bytes): " + path);
        }
        byte[] addr = new byte[2 + 108];
        addr[0] = (byte) AF_UNIX; // sa_family_t, little endian
        System.arraycopy(p, 0, addr, 2, p.length);
        return addr;
    }

    /** Waits up to {@code timeoutMs} for {@code events} on {@code fd}; returns the events seen (0 on timeout). */
    static int poll(int fd, short events, int timeoutMs) {
        Pointer pfd = jnr.ffi.Memory.allocateDirect(RUNTIME, 8);
        pfd.putInt(0, fd);
        pfd.putShort(4, events);
        pfd.putShort(6, (short) 0);
        int n = LIBC.poll(pfd, 1, timeoutMs);
        if (n < 0) {
            return errno() == EINTR ? 0 : -1;
        }
        return n == 0 ? 0 : pfd.getShort(6) & 0xffff;
    }
}
