package dev.berth.streaming;

import dev.berth.common.BerthException;
import dev.berth.host.Libc;
import java.io.IOException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.nio.channels.SocketChannel;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * Opens TCP connections to the loopback (127.0.0.1, else ::1) inside a network namespace, or
 * in berth's own one for pods that share the host's network. A thread of a small pool
 * enters the namespace ({@code setns}), creates and connects the socket, and returns to
 * berth's own namespace; a socket stays in the namespace it was created in, so the connection
 * is then served by the event loop like any other. Dials run side by side, so one slow port
 * holds up only its own thread, for at most {@link #CONNECT_TIMEOUT_MS}; at most
 * {@code threads} run and {@code queued} wait, and a dial beyond fails at once
 * (RESOURCE_EXHAUSTED) rather than pile up. If a thread cannot return to berth's namespace, it
 * dies; the next dial on its replacement enters its own target first, so no dial is made from
 * the wrong namespace.
 */
public final class NetnsDialer implements AutoCloseable {
    static final int CONNECT_TIMEOUT_MS = 5000;
    static final int DEFAULT_THREADS = 4;
    static final int DEFAULT_QUEUED = 64;

    private final ThreadPoolExecutor threads;
    /** berth's own network namespace, where every dialing thread returns. */
    private final int homeFd;

    public NetnsDialer() {
        this(DEFAULT_THREADS, DEFAULT_QUEUED);
    }

    NetnsDialer(int threads, int queued) {
        AtomicInteger n = new AtomicInteger();
        this.threads = new ThreadPoolExecutor(threads, threads, 1, TimeUnit.MINUTES, new ArrayBlockingQueue<>(queued), r -> {
            Thread t = new Thread(r, "berth-netns-dialer-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        this.threads.allowCoreThreadTimeOut(true);
        this.homeFd = Libc.c().open("/proc/self/ns/net", Libc.O_RDONLY | Libc.O_CLOEXEC);
        if (homeFd < 0) {
            throw BerthException.internal("cannot open berth's own network namespace: errno " + Libc.errno(), null);
        }
    }

    /**
     * Connects to {@code port} on the loopback in the namespace at {@code netnsPath}, or, when it
     * is null, in berth's own network namespace (the host's: where host-network pods listen).
     */
    public CompletableFuture<SocketChannel> dial(String netnsPath, int port) {
        CompletableFuture<SocketChannel> result = new CompletableFuture<>();
        try {
            threads.execute(new Dial(netnsPath, port, result));
        } catch (RejectedExecutionException e) {
            result.completeExceptionally(threads.isShutdown() ? BerthException.unavailable("netns dialer is closed")
                    : BerthException.resourceExhausted("too many port-forward connections being opened at once (%d);"
                    + " cannot connect to port %d in %s now", threads.getMaximumPoolSize() + threads.getQueue().size(),
                    port, where(netnsPath)));
        }
        return result;
    }

    /** One dial waiting for or running on a thread; on close, a waiting one is answered that the dialer is gone. */
    private final class Dial implements Runnable {
        final String netnsPath;
        final int port;
        final CompletableFuture<SocketChannel> result;

        Dial(String netnsPath, int port, CompletableFuture<SocketChannel> result) {
            this.netnsPath = netnsPath;
            this.port = port;
            this.result = result;
        }

        @Override
        public void run() {
            dialHere(netnsPath, port, result);
        }
    }

    private static String where(String netnsPath) {
        return netnsPath == null ? "the host's network namespace" : netnsPath;
    }

    private void dialHere(String netnsPath, int port, CompletableFuture<SocketChannel> result) {
        if (netnsPath == null) {
            // every dialing thread is in berth's own namespace between dials
            connect(null, port, result);
            return;
        }
        Libc.C libc = Libc.c();
        int home = homeFd;
        int target = libc.open(netnsPath, Libc.O_RDONLY | Libc.O_CLOEXEC);
        if (target < 0) {
            result.completeExceptionally(BerthException.notFound("network namespace %s: errno %d", netnsPath,
                    Libc.errno()));
            return;
        }
        try {
            if (libc.setns(target, Libc.CLONE_NEWNET) != 0) {
                result.completeExceptionally(BerthException.internal("cannot enter network namespace " + netnsPath
                        + ": errno " + Libc.errno(), null));
                return;
            }
            connect(netnsPath, port, result);
        } finally {
            libc.close(target);
            if (libc.setns(home, Libc.CLONE_NEWNET) != 0) {
                // this thread is stuck in another namespace: let it die, the pool starts a new one
                throw new IllegalStateException("cannot return to berth's network namespace: errno "
                        + Libc.errno());
            }
        }
    }

    /**
     * Connects to 127.0.0.1, and when nothing listens there, to ::1 (a server may listen on the
     * IPv6 loopback only), in the namespace this thread is in.
     */
    private static void connect(String netnsPath, int port, CompletableFuture<SocketChannel> result) {
        IOException v4;
        try {
            result.complete(connect(new InetSocketAddress("127.0.0.1", port)));
            return;
        } catch (ConnectException e) {
            v4 = e;
        } catch (IOException e) {
            // a timeout is not retried: a dropping firewall would hold the thread twice as long
            result.completeExceptionally(BerthException.unavailable("cannot connect to port %d in %s: %s", port,
                    where(netnsPath), e.getMessage()));
            return;
        }
        try {
            result.complete(connect(new InetSocketAddress("::1", port)));
        } catch (IOException e) {
            result.completeExceptionally(BerthException.unavailable("cannot connect to port %d in %s: %s (IPv6: %s)",
                    port, where(netnsPath), v4.getMessage(), e.getMessage()));
        }
    }

    private static SocketChannel connect(InetSocketAddress to) throws IOException {
        SocketChannel ch = SocketChannel.open();
        try {
            // a port behind a dropping firewall must not hold up every other dial for minutes
            ch.socket().connect(to, CONNECT_TIMEOUT_MS);
            return ch;
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
    }

    @Override
    public void close() {
        threads.shutdown();
        try {
            if (!threads.awaitTermination(CONNECT_TIMEOUT_MS + 1000L, TimeUnit.MILLISECONDS)) {
                abandon(threads.shutdownNow());
            }
        } catch (InterruptedException e) {
            abandon(threads.shutdownNow());
            Thread.currentThread().interrupt();
        }
        if (threads.isTerminated()) {
            Libc.c().close(homeFd);
        }
    }

    private static void abandon(java.util.List<Runnable> waiting) {
        for (Runnable r : waiting) {
            if (r instanceof Dial d) {
                d.result.completeExceptionally(BerthException.unavailable("netns dialer is closed"));
            }
        }
    }
}
