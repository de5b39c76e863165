package dev.berth.podsandbox.container.stdio;

import dev.berth.common.BerthException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.function.BooleanSupplier;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;

/**
 * The socket an OCI runtime hands a new terminal over ({@code --console-socket}): berth
 * listens on a UNIX stream socket, the runtime connects once and sends the master side of the
 * pseudo-terminal it created as SCM_RIGHTS ancillary data (with the terminal's name as the
 * message), and the socket goes. {@link #close()} removes the socket file whatever happened.
 */
public final class ConsoleSocket implements AutoCloseable {
    private final Path path;
    private final NativeFd listener;

    private ConsoleSocket(Path path, NativeFd listener) {
        this.path = path;
        this.listener = listener;
    }

    /** Listens on {@code path} (a new file; at most 107 bytes long). */
    public static ConsoleSocket listen(Path path) {
        byte[] addr;
        try {
            addr = Libc.sockaddr(path.toString());
        } catch (IllegalArgumentException e) {
            throw BerthException.internal("cannot create a console socket: " + e.getMessage(), null);
        }
        int fd = Libc.LIBC.socket(Libc.AF_UNIX, Libc.SOCK_STREAM | Libc.SOCK_CLOEXEC, 0);
        if (fd < 0) {
            throw BerthException.internal("cannot create a console socket: " + Libc.error(Libc.errno()), null);
        }
        NativeFd listener = new NativeFd(fd, "console socket " + path);
        if (Libc.LIBC.bind(fd, addr, addr.length) != 0 || Libc.LIBC.listen(fd, 1) != 0) {
            int e = Libc.errno();
            listener.close();
            deleteQuietly(path);
            throw BerthException.internal("cannot listen on console socket " + path + ": " + Libc.error(e), null);
        }
        return new ConsoleSocket(path, listener);
    }

    public Path path() {
        return path;
    }

    /**
     * Waits for the runtime to send the terminal, while {@code runtimeAlive} holds and at most
     * {@code timeout}; the socket is closed and removed afterwards.
     */
    public Terminal receive(Duration timeout, BooleanSupplier runtimeAlive) {
        try {
            long deadline = System.nanoTime() + timeout.toNanos();
            int conn = -1;
            while (conn < 0) {
                int ev = Libc.poll(listener.fd(), Libc.POLLIN, NativeFd.POLL_MS);
                if (ev > 0) {
                    conn = Libc.LIBC.accept4(listener.fd(), null, null, Libc.SOCK_CLOEXEC);
                    if (conn >= 0) {
                        break;
                    }
                }
                if (!runtimeAlive.getAsBoolean()) {
                    throw BerthException.unavailable("the runtime exited before it sent the terminal");
                }
                if (System.nanoTime() > deadline) {
                    throw BerthException.deadlineExceeded("the runtime did not send the terminal within %s", timeout);
                }
            }
            try {
                return new Terminal(new NativeFd(receiveFd(conn), "terminal"));
            } finally {
                Libc.LIBC.close(conn);
            }
        } finally {
            close();
        }
    }

    /** Receives one descriptor sent with SCM_RIGHTS on the connected socket {@code conn}. */
    private static int receiveFd(int conn) {
        jnr.ffi.Runtime rt = Libc.RUNTIME;
        Pointer data = Memory.allocateDirect(rt, 4096);
        Pointer iov = Memory.allocateDirect(rt, 16);
        iov.putAddress(0, data.address());
        iov.putLong(8, data.size());
        int controlLen = 64; // room for CMSG_SPACE of a few descriptors
        Pointer control = Memory.allocateDirect(rt, controlLen);
        Pointer msg = Memory.allocateDirect(rt, 56);
        msg.putAddress(0, 0L); // msg_name
        msg.putInt(8, 0); // msg_namelen
        msg.putAddress(16, iov.address()); // msg_iov
        msg.putLong(24, 1); // msg_iovlen
        msg.putAddress(32, control.address()); // msg_control
        msg.putLong(40, controlLen); // msg_controllen
        msg.putInt(48, 0); // msg_flags
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        long n;
        while (true) {
            int ev = Libc.poll(conn, Libc.POLLIN, NativeFd.POLL_MS);
            if (ev != 0) {
                n = Libc.LIBC.recvmsg(conn, msg, Libc.MSG_CMSG_CLOEXEC);
                if (n >= 0 || Libc.errno() != Libc.EINTR) {
                    break;
                }
            }
            if (System.nanoTime() > deadline) {
                throw BerthException.deadlineExceeded("the runtime connected but sent no terminal");
            }
        }
        if (n < 0) {
            throw BerthException.internal("cannot receive the terminal: " + Libc.error(Libc.errno()), null);
        }
        long used = msg.getLong(40);
        int found = -1;
        long off = 0;
        while (off + 16 <= used) {
            long len = control.getLong(off);
            if (len < 16 || off + len > used) {
                break;
            }
            if (control.getInt(off + 8) == Libc.SOL_SOCKET && control.getInt(off + 12) == Libc.SCM_RIGHTS) {
                for (long p = off + 16; p + 4 <= off + len; p += 4) {
                    int fd = control.getInt(p);
                    if (found < 0) {
                        found = fd;
                    } else {
                        Libc.LIBC.close(fd); // only one terminal is expected
                    }
                }
            }
            off += (len + 7) & ~7L;
        }
        if (found < 0) {
            throw BerthException.internal("the runtime sent no terminal descriptor", null);
        }
        return found;
    }

    /** Stops listening and removes the socket file; idempotent. */
    @Override
    public void close() {
        listener.close();
        deleteQuietly(path);
    }

    private static void deleteQuietly(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException e) {
            // the directory goes with its owner
        }
    }
}
