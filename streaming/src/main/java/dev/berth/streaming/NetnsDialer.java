package dev.berth.streaming;

import dev.berth.common.BerthException;
import dev.berth.host.Libc;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.channels.SocketChannel;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * Opens TCP connections to 127.0.0.1 inside a network namespace. One dedicated thread enters
 * the namespace ({@code setns}), creates and connects the socket, and returns to berth's own
 * namespace; a socket stays in the namespace it was created in, so the connection is then
 * served by the event loop like any other. If the thread cannot return, it dies and a fresh
 * thread (in berth's namespace) takes its place.
 */
public final class NetnsDialer implements AutoCloseable {
    static final int CONNECT_TIMEOUT_MS = 5000;

    private final ThreadPoolExecutor thread = new ThreadPoolExecutor(1, 1, 0, TimeUnit.MILLISECONDS,
            new LinkedBlockingQueue<>(), r -> {
                Thread t = new Thread(r, "berth-netns-dialer");
                t.setDaemon(true);
                return t;
            });
    /** The thread's own namespace, opened by it the first time (the thread's namespace is berth's). */
    private final ThreadLocal<Integer> homeFd = new ThreadLocal<>();

    /** Connects to {@code 127.0.0.1:port} in the namespace at {@code netnsPath}. */
    public CompletableFuture<SocketChannel> dial(String netnsPath, int port) {
        CompletableFuture<SocketChannel> result = new CompletableFuture<>();
        try {
            thread.execute(() -> dialHere(netnsPath, port, result));
        } catch (RuntimeException e) {
            result.completeExceptionally(BerthException.unavailable("netns dialer is closed"));
        }
        return result;
    }

    private void dialHere(String netnsPath, int port, CompletableFuture<SocketChannel> result) {
        Libc.C libc = Libc.c();
        Integer home = homeFd.get();
        if (home == null) {
            int fd = libc.open("/proc/thread-self/ns/net", Libc.O_RDONLY | Libc.O_CLOEXEC);
            if (fd < 0) {
                result.completeExceptionally(BerthException.internal("cannot open own network namespace: errno "
                        + Libc.errno(), null));
                return;
            }
            home = fd;
            homeFd.set(fd);
        }
        int target = libc.open(netnsPath, Libc.O_RDONLY | Libc.O_CLOEXEC);
        if (target < 0) {
            result.completeExceptionally(BerthException.notFound("network namespace %s: errno %d", netnsPath,
                    Libc.errno()));
            return;
        }
        SocketChannel ch = null;
        try {
            if (libc.setns(target, Libc.CLONE_NEWNET) != 0) {
                result.completeExceptionally(BerthException.internal("cannot enter network namespace " + netnsPath
                        + ": errno " + Libc.errno(), null));
                return;
            }
            try {
                ch = SocketChannel.open();
                // a port behind a dropping firewall must not hold up every other dial for minutes
                ch.socket().connect(new InetSocketAddress("127.0.0.1", port), CONNECT_TIMEOUT_MS);
                result.complete(ch);
                ch = null;
            } catch (IOException e) {
                result.completeExceptionally(BerthException.unavailable("cannot connect to port %d in %s: %s", port,
                        netnsPath, e.getMessage()));
            }
        } finally {
            libc.close(target);
            if (ch != null) {
                try {
                    ch.close();
                } catch (IOException ignored) {
                    // never connected
                }
            }
            if (libc.setns(home, Libc.CLONE_NEWNET) != 0) {
                // this thread is stuck in another namespace: let it die, the pool starts a new one
                throw new IllegalStateException("cannot return to berth's network namespace: errno "
                        + Libc.errno());
            }
        }
    }

    @Override
    public void close() {
        try {
            thread.execute(() -> {
                Integer fd = homeFd.get();
                if (fd != null) {
                    Libc.c().close(fd);
                    homeFd.remove();
                }
            });
        } catch (RuntimeException e) {
            // already closed
        }
        thread.shutdown();
        try {
            if (!thread.awaitTermination(CONNECT_TIMEOUT_MS + 1000L, TimeUnit.MILLISECONDS)) {
                thread.shutdownNow();
            }
        } catch (InterruptedException e) {
            thread.shutdownNow();
            Thread.currentThread().interrupt();
        }
    }
}
