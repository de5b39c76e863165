package dev.berth.podsandbox.container.stdio;

import dev.berth.common.BerthException;
import dev.berth.host.Libc;
import dev.berth.podsandbox.container.conmon.ConmonControl;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Path;
import java.util.OptionalInt;
import java.util.concurrent.CompletableFuture;
import java.util.function.Supplier;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;

/**
 * A connection to a running container's own standard streams through its conmon monitor.
 * conmon listens on a SOCK_SEQPACKET socket {@code attach} in the container's bundle
 * (reachable as {@code <socket dir>/<id>/attach}); every packet it sends is one read of the
 * container's output, prefixed by one byte naming the pipe (conmon numbers them 1 stdin,
 * 2 stdout, 3 stderr; a terminal's output arrives as stdout). Packets berth sends go to the container's stdin; shutting down
 * the sending side closes that stdin unless conmon leaves it open (containers not created
 * stdin-once). Terminal resizes go through conmon's control FIFO {@code ctl} in the bundle
 * ({@link ConmonControl}). {@link #detach()} drops the connection and leaves
 * the container running; when the container exits, conmon closes the connection and
 * {@link #exit()} completes with its exit code.
 */
public final class ContainerAttachment {
    private static final int PIPE_STDOUT = 2;
    private static final int PIPE_STDERR = 3;
    /** conmon reads at most this much stdin per packet; larger packets would be cut. */
    private static final int STDIN_PACKET = 8192;

    private final String containerId;
    private final Path bundle;
    private final NativeFd socket;
    private final ChunkStream stdout = new ChunkStream();
    private final ChunkStream stderr = new ChunkStream();
    private final OutputStream stdin;
    private final CompletableFuture<Integer> exit = new CompletableFuture<>();
    private final Supplier<OptionalInt> exitCode;
    private volatile boolean detached;

    private ContainerAttachment(String containerId, Path bundle, NativeFd socket, Supplier<OptionalInt> exitCode) {
        this.containerId = containerId;
        this.bundle = bundle;
        this.socket = socket;
        this.exitCode = exitCode;
        this.stdin = socket.outputStream(this::closeStdin);
    }

    /**
     * Connects to the attach socket of the container whose bundle (conmon's directory for it)
     * is {@code bundle}. {@code exitCode} reports the container's exit code once it has ended
     * (empty while it runs); it is asked when conmon closes the connection.
     */
    public static ContainerAttachment connect(String containerId, Path bundle, Supplier<OptionalInt> exitCode) {
        int dir = Libc.c().open(bundle.toString(), Libc.O_PATH | Libc.O_CLOEXEC);
        if (dir < 0) {
            throw BerthException.failedPrecondition("container %s has no monitor directory: %s", containerId,
                    Libc.describe(Libc.errno()));
        }
        int fd = -1;
        try {
            fd = Libc.c().socket(Libc.AF_UNIX, Libc.SOCK_SEQPACKET | Libc.SOCK_CLOEXEC, 0);
            if (fd < 0) {
                throw BerthException.internal("cannot create a socket: " + Libc.describe(Libc.errno()), null);
            }
            // through the directory's descriptor: the bundle path may be longer than a socket address allows
            byte[] addr = Libc.sockaddr("/proc/self/fd/" + dir + "/attach");
            if (Libc.c().connect(fd, addr, addr.length) != 0) {
                int e = Libc.errno();
                Libc.c().close(fd);
                fd = -1;
                throw BerthException.failedPrecondition("cannot attach to container %s (its monitor's socket: %s)",
                        containerId, Libc.describe(e));
            }
        } finally {
            Libc.c().close(dir);
        }
        ContainerAttachment a = new ContainerAttachment(containerId, bundle, new NativeFd(fd, "attach socket of "
                + containerId), exitCode);
        a.startReader();
        return a;
    }

    private void startReader() {
        Thread t = new Thread(this::readPackets, "berth-attach-" + containerId.substring(0, Math.min(12,
                containerId.length())));
        t.setDaemon(true);
        t.start();
    }

    private void readPackets() {
        Pointer buf = Memory.allocateDirect(Libc.runtime(), 64 * 1024);
        byte[] packet = new byte[64 * 1024];
        try {
            while (true) {
                int n = socket.read(packet, 0, packet.length, buf);
                if (n < 0) {
                    break;
                }
                if (n < 2) {
                    continue;
                }
                if (packet[0] == PIPE_STDOUT) {
                    stdout.feed(packet, 1, n - 1);
                } else if (packet[0] == PIPE_STDERR) {
                    stderr.feed(packet, 1, n - 1);
                }
            }
        } catch (IOException e) {
            // the connection broke: treated as its end
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            stdout.end();
            stderr.end();
            socket.close();
            finish();
        }
    }

    /** Completes {@link #exit()}: 0 after a detach, else the container's exit code once conmon recorded it. */
    private void finish() {
        if (detached) {
            exit.complete(0);
            return;
        }
        // conmon records the exit code before it closes its sockets; allow for a slow file system
        long deadline = System.nanoTime() + java.time.Duration.ofSeconds(5).toNanos();
        while (true) {
            OptionalInt code;
            try {
                code = exitCode.get();
            } catch (RuntimeException e) {
                exit.completeExceptionally(e);
                return;
            }
            if (code.isPresent()) {
                exit.complete(code.getAsInt());
                return;
            }
            if (detached) {
                exit.complete(0);
                return;
            }
            if (System.nanoTime() > deadline) {
                exit.completeExceptionally(new IOException("the monitor of container " + containerId
                        + " closed the attach connection while the container runs"));
                return;
            }
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                exit.complete(0);
                return;
            }
        }
    }

    public InputStream stdout() {
        return stdout;
    }

    public InputStream stderr() {
        return stderr;
    }

    /** The container's stdin; closing it ends this connection's input (see the class comment). */
    public OutputStream stdin() {
        return new OutputStream() {
            @Override
            public void write(int b) throws IOException {
                stdin.write(b);
            }

            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                // one packet per write: conmon reads a bounded amount per packet
                while (len > 0) {
                    int n = Math.min(len, STDIN_PACKET);
                    stdin.write(b, off, n);
                    off += n;
                    len -= n;
                }
            }

            @Override
            public void close() {
                closeStdin();
            }
        };
    }

    private void closeStdin() {
        socket.with(fd -> Libc.c().shutdown(fd, Libc.SHUT_WR));
    }

    /** Completes with the container's exit code when it ends, or 0 once detached. */
    public CompletableFuture<Integer> exit() {
        return exit;
    }

    /**
     * Sets the size of the container's terminal through conmon's control FIFO; a container
     * without a terminal ignores it. Never blocks (a FIFO without its reader is skipped).
     */
    public void resize(int width, int height) {
        if (width <= 0 || height <= 0) {
            return;
        }
        byte[] line = ConmonControl.resize(width, height);
        int fd = Libc.c().open(bundle.resolve("ctl").toString(), Libc.O_WRONLY | Libc.O_NONBLOCK | Libc.O_CLOEXEC);
        if (fd < 0) {
            return; // conmon is gone: the session ends by itself
        }
        try {
            Pointer p = Memory.allocateDirect(Libc.runtime(), line.length);
            p.put(0, line, 0, line.length);
            Libc.c().write(fd, p, line.length);
        } finally {
            Libc.c().close(fd);
        }
    }

    /** Drops the connection; the container goes on running. Idempotent. */
    public void detach() {
        detached = true;
        socket.with(fd -> Libc.c().shutdown(fd, Libc.SHUT_RDWR));
        socket.close();
        stdout.close();
        stderr.close();
    }
}
