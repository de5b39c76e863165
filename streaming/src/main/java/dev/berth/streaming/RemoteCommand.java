package dev.berth.streaming;

import dev.berth.common.BerthException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;

/**
 * The transport-neutral side of one remotecommand session (exec or attach): starts the
 * backend session, copies its output to the client's streams, feeds the client's stdin to it,
 * forwards resizes, and ends with the status kubelet sends (v4 status JSON: Success, or
 * Failure with the exit code). A {@link Transport} (WebSocket channels or SPDY streams) moves
 * the bytes. The session ends when the process exits (its status goes out and the transport
 * closes) or when the client goes away (the process is killed, or the attachment detached).
 */
public final class RemoteCommand {
    /** Stream numbers as the channel.k8s.io protocols number them. */
    public static final int STDIN = 0;
    public static final int STDOUT = 1;
    public static final int STDERR = 2;
    public static final int ERROR = 3;
    public static final int RESIZE = 4;

    private static final byte[] EOF = new byte[0];
    /** Queued stdin above which the client is no longer read, and below which it is read again. */
    static final long STDIN_HIGH_BYTES = 256 * 1024;
    static final long STDIN_LOW_BYTES = 64 * 1024;
    /**
     * Queued stdin that ends the session: only bytes the transport decoded before its reading
     * paused may arrive above the high mark (one socket read), so a client past this ignored
     * flow control, and its session ends rather than berth's heap grow.
     */
    static final long STDIN_MAX_BYTES = 4 * 1024 * 1024;
    /** What one queued chunk costs besides its bytes (array and queue node), so a flood of tiny chunks counts too. */
    private static final int CHUNK_OVERHEAD = 64;
    private static final long DRAIN_AFTER_EXIT_MS = 2000;
    /**
     * How long a TTY exec waits for the client's first size before it starts: the runtime gives
     * the process a terminal of that size from the start (clients send it at once).
     */
    static final long INITIAL_SIZE_WAIT_MS = 1000;

    /** What carries a session's bytes to and from the client. */
    interface Transport {
        /** Sends {@code len} bytes on output stream {@code stream}; waits while the client is slow. */
        void send(int stream, byte[] buf, int len);

        /** Sends the final status on the error stream, then closes the session. */
        void finish(String statusJson);

        boolean isOpen();

        /** Runs {@code r} once the client's connection is gone. */
        void onClose(Runnable r);

        /** Stops (or resumes) reading from the client while stdin is backed up. */
        void pauseInput(boolean paused);
    }

    private final StreamRequest.Command request;
    private final ExecBackend backend;
    private final Transport transport;
    private final BlockingQueue<byte[]> stdinQueue = new LinkedBlockingQueue<>();
    private final java.util.concurrent.atomic.AtomicLong stdinBytes = new java.util.concurrent.atomic.AtomicLong();
    private volatile boolean stdinOverflowed;
    private volatile ExecBackend.Session session;
    private volatile boolean stdinClosed;
    private volatile int[] pendingSize;
    private final java.util.concurrent.CompletableFuture<int[]> firstSize = new java.util.concurrent.CompletableFuture<>();

    RemoteCommand(StreamRequest.Command request, ExecBackend backend, Transport transport) {
        this.request = request;
        this.backend = backend;
        this.transport = transport;
    }

    StreamRequest.Command request() {
        return request;
    }

    /** Starts the backend session on a thread of its own (it runs the runtime, a child process). */
    void start() {
        Thread t = new Thread(this::begin, "berth-" + request.kind() + "-start");
        t.setDaemon(true);
        t.start();
    }

    private void begin() {
        ExecBackend.Session s;
        try {
            s = request instanceof StreamRequest.Exec e ? backend.start(withInitialSize(e))
                    : backend.attach((StreamRequest.Attach) request);
        } catch (RuntimeException | Error e) {
            // a session that cannot start still ends with a status, never hangs
            String reason = e instanceof BerthException b && b.kind() == BerthException.Kind.NOT_FOUND ? "NotFound"
                    : "InternalError";
            transport.finish(failure(reason, String.valueOf(e.getMessage()), null));
            return;
        }
        session = s;
        if (stdinOverflowed) {
            s.kill();
        }
        int[] size = pendingSize;
        if (size != null) {
            s.resize(size[0], size[1]);
        }
        transport.onClose(() -> {
            s.kill();
            stdinQueue.offer(EOF);
        });
        Thread out = pump(s.stdout(), request.stdout() ? STDOUT : -1);
        Thread err = s.stderr() == null ? null : pump(s.stderr(), request.stderr() ? STDERR : -1);
        if (request.stdin()) {
            startStdin(s.stdin());
        } else if (s.stdin() != null) {
            closeQuietly(s.stdin());
        }
        s.exit().whenComplete((code, t) -> {
            // output written before the exit goes out before the status
            try {
                // a background child of the command may hold the pipes open: do not wait for it forever
                out.join(DRAIN_AFTER_EXIT_MS);
                if (err != null) {
                    err.join(DRAIN_AFTER_EXIT_MS);
                    closeQuietly(s.stderr());
                }
                closeQuietly(s.stdout());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (t != null || code == null) {
                transport.finish(failure("InternalError", request.kind() + " failed: " + t, null));
            } else if (code == 0) {
                transport.finish("{\"metadata\":{},\"status\":\"Success\"}");
            } else {
                transport.finish(failure("NonZeroExitCode", "command terminated with non-zero exit code: exit status "
                        + code, code));
            }
        });
    }

    /** A TTY exec with the size the client sent first, if it sent one soon enough. */
    private StreamRequest.Exec withInitialSize(StreamRequest.Exec e) {
        if (!e.tty() || e.initialSize() != null) {
            return e;
        }
        try {
            int[] size = firstSize.get(INITIAL_SIZE_WAIT_MS, java.util.concurrent.TimeUnit.MILLISECONDS);
            return e.withInitialSize(new StreamRequest.TerminalSize(size[0], size[1]));
        } catch (java.util.concurrent.TimeoutException | java.util.concurrent.ExecutionException ex) {
            return e;
        } catch (InterruptedException ex) {
            Thread.currentThread().interrupt();
            return e;
        }
    }

    /** Bytes the client sent on stdin. */
    void stdin(byte[] b) {
        if (!request.stdin() || stdinClosed || b.length == 0) {
            return;
        }
        long queued = stdinBytes.addAndGet(b.length + CHUNK_OVERHEAD);
        if (queued > STDIN_MAX_BYTES) {
            overflow();
            return;
        }
        stdinQueue.offer(b);
        if (queued >= STDIN_HIGH_BYTES) {
            transport.pauseInput(true);
        }
    }

    /** Bytes (and chunk overhead) of stdin waiting for the process. */
    long queuedStdinBytes() {
        return stdinBytes.get();
    }

    /** The client sent stdin far beyond the pause: drop it and end the session. */
    private void overflow() {
        stdinOverflowed = true;
        stdinClosed = true;
        stdinQueue.clear();
        stdinBytes.set(0);
        stdinQueue.offer(EOF);
        // the reason goes out first: the process's exit then finds the session finished
        transport.finish(failure("InternalError", "the client sent more than " + STDIN_MAX_BYTES
                + " bytes of stdin the process had not read; the session is ended", null));
        ExecBackend.Session s = session;
        if (s != null) {
            s.kill();
        }
    }

    /** The client closed its stdin. */
    void closeStdin() {
        if (!stdinClosed) {
            stdinClosed = true;
            stdinQueue.offer(EOF);
        }
    }

    /** A resize message: the TTY size JSON {@code {"Width":w,"Height":h}}; malformed ones are ignored. */
    void resize(String json) {
        int[] size = parseSize(json);
        if (size == null) {
            return;
        }
        firstSize.complete(size);
        ExecBackend.Session s = session;
        if (s == null) {
            pendingSize = size;
        } else {
            s.resize(size[0], size[1]);
        }
    }

    /** Width and height from a TTY size message, or null when it is not one. */
    static int[] parseSize(String json) {
        try {
            var node = dev.berth.common.Json.mapper().readTree(json);
            if (node == null || !node.path("Width").canConvertToInt() || !node.path("Height").canConvertToInt()) {
                return null;
            }
            int w = node.path("Width").asInt();
            int h = node.path("Height").asInt();
            return w < 0 || h < 0 || w > 65535 || h > 65535 ? null : new int[] {w, h};
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    static String failure(String reason, String message, Integer code) {
        StringBuilder b = new StringBuilder("{\"metadata\":{},\"status\":\"Failure\",\"message\":")
                .append(jsonString(message)).append(",\"reason\":\"").append(reason).append('"');
        if (code != null) {
            b.append(",\"details\":{\"causes\":[{\"reason\":\"ExitCode\",\"message\":\"").append(code).append("\"}]}");
        }
        return b.append('}').toString();
    }

    private static String jsonString(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : String.valueOf(s).toCharArray()) {
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                default -> {
                    if (c < 0x20) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        return b.append('"').toString();
    }

    /** Copies a process stream to the client's stream {@code ch} (or discards it when ch < 0). */
    private Thread pump(InputStream in, int ch) {
        Thread t = new Thread(() -> {
            byte[] buf = new byte[32 * 1024];
            try {
                int n;
                while ((n = in.read(buf)) >= 0) {
                    if (ch < 0 || n == 0 || !transport.isOpen()) {
                        continue;
                    }
                    transport.send(ch, buf, n);
                }
            } catch (IOException e) {
                // the process went away
            } finally {
                closeQuietly(in);
            }
        }, "berth-" + request.kind() + "-" + (ch == STDERR ? "stderr" : "stdout"));
        t.setDaemon(true);
        t.start();
        return t;
    }

    private void startStdin(OutputStream stdin) {
        Thread t = new Thread(() -> {
            try (stdin) {
                while (true) {
                    byte[] b = stdinQueue.take();
                    if (b == EOF) {
                        return;
                    }
                    if (stdinBytes.addAndGet(-(b.length + CHUNK_OVERHEAD)) <= STDIN_LOW_BYTES) {
                        transport.pauseInput(false);
                    }
                    stdin.write(b);
                    stdin.flush();
                }
            } catch (IOException e) {
                // the process closed its stdin or exited
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                // the process reads no more: later stdin is dropped, not queued for nobody
                stdinClosed = true;
                stdinQueue.clear();
                stdinBytes.set(0);
                transport.pauseInput(false);
            }
        }, "berth-" + request.kind() + "-stdin");
        t.setDaemon(true);
        t.start();
    }

    private static void closeQuietly(java.io.Closeable c) {
        try {
            c.close();
        } catch (IOException e) {
            // already closed
        }
    }
}
