package dev.berth.host;

import dev.berth.common.BerthException;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;

/**
 * berth's one way to run a host program: the program itself is started (never through a shell
 * or a wrapper, so one call is one process launch), with stdin from bytes or /dev/null, an
 * edited environment, a timeout after which it is killed, and its output collected up to a
 * cap. {@link #execute()} runs it to completion; {@link #start()} hands back the process for
 * the callers that keep it running (terminals, conmon, streaming exec).
 */
public final class Command {
    /**
     * What a finished (or timed-out and killed) program left: its exit status, both output
     * streams (each cut at the cap, marked when cut) and whether it ran over its timeout.
     */
    public record Result(int exitCode, byte[] out, byte[] err, boolean outTruncated, boolean errTruncated, boolean timedOut) {
        public boolean ok() {
            return !timedOut && exitCode == 0;
        }

        public String stdout() {
            return new String(out, StandardCharsets.UTF_8);
        }

        public String stderr() {
            return new String(err, StandardCharsets.UTF_8);
        }

        /** stderr, else stdout, trimmed: what to show a caller when it failed. */
        public String diagnostic() {
            String s = stderr().isBlank() ? stdout() : stderr();
            return s.strip();
        }
    }

    /** What to do with a program that ran over its timeout (it must be gone or going when this returns). */
    @FunctionalInterface
    public interface TimeoutAction {
        void kill(Process process) throws InterruptedException;
    }

    private static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(60);
    /**
     * The longest wait this runner takes (about 73 years): a caller-chosen timeout such as a
     * CRI ExecSync's seconds is saturated here, since millis and nanos of a larger one overflow.
     */
    static final Duration MAX_WAIT = Duration.ofNanos(Long.MAX_VALUE / 4);
    private static final File DEV_NULL = new File("/dev/null");
    /** Drains the output of running programs (reused threads: no thread is made per call). */
    private static final ExecutorService DRAINERS = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "berth-command-io");
        t.setDaemon(true);
        return t;
    });

    private final List<String> argv;
    private byte[] stdin;
    private Consumer<Map<String, String>> environment;
    private Path directory;
    private Duration timeout = DEFAULT_TIMEOUT;
    private Duration drainAfterExit;
    private long outputCap = Long.MAX_VALUE;
    private ProcessBuilder.Redirect stdinRedirect;
    private ProcessBuilder.Redirect stdoutRedirect = ProcessBuilder.Redirect.PIPE;
    private ProcessBuilder.Redirect stderrRedirect = ProcessBuilder.Redirect.PIPE;
    private boolean mergeStderr;
    private boolean killDescendants;
    private TimeoutAction onTimeout;

    private Command(List<String> argv) {
        if (argv.isEmpty()) {
            throw new IllegalArgumentException("no program to run");
        }
        this.argv = List.copyOf(argv);
    }

    public static Command of(List<String> argv) {
        return new Command(argv);
    }

    public static Command of(String... argv) {
        return new Command(List.of(argv));
    }

    /** The bytes written to the program's stdin (then closed); without them stdin is /dev/null. */
    public Command stdin(byte[] input) {
        this.stdin = input;
        return this;
    }

    /** Where stdin comes from, for {@link #start()} (a terminal, say); default /dev/null, or a pipe with {@link #stdin(byte[])}. */
    public Command stdin(ProcessBuilder.Redirect from) {
        this.stdinRedirect = from;
        return this;
    }

    /** Edits the environment the program inherits from berth. */
    public Command environment(Consumer<Map<String, String>> edit) {
        this.environment = edit;
        return this;
    }

    public Command directory(Path dir) {
        this.directory = dir;
        return this;
    }

    /** How long {@link #execute()} lets the program run (default 60 s); zero or negative: no limit. */
    public Command timeout(Duration t) {
        this.timeout = saturated(t);
        return this;
    }

    /**
     * How long {@link #execute()} waits after the exit for the output to end (a background
     * child may hold the pipes open); default: the timeout, or 2 s without one.
     */
    public Command drainAfterExit(Duration d) {
        this.drainAfterExit = saturated(d);
        return this;
    }

    private static Duration saturated(Duration d) {
        return d != null && d.compareTo(MAX_WAIT) > 0 ? MAX_WAIT : d;
    }

    /** Most bytes kept of each output stream; the rest is read and dropped (the result says it was cut). */
    public Command outputCap(long bytes) {
        this.outputCap = bytes;
        return this;
    }

    public Command stdout(ProcessBuilder.Redirect to) {
        this.stdoutRedirect = to;
        return this;
    }

    public Command stderr(ProcessBuilder.Redirect to) {
        this.stderrRedirect = to;
        return this;
    }

    public Command discardStderr() {
        return stderr(ProcessBuilder.Redirect.DISCARD);
    }

    /** stderr goes where stdout goes. */
    public Command mergeStderr() {
        this.mergeStderr = true;
        return this;
    }

    /** Appends both output streams to {@code file} (nothing is collected). */
    public Command appendOutputTo(Path file) {
        return mergeStderr().stdout(ProcessBuilder.Redirect.appendTo(file.toFile()));
    }

    /** On timeout, kill the program's descendants too (before the program, so none is reparented and missed). */
    public Command killDescendantsOnTimeout() {
        this.killDescendants = true;
        return this;
    }

    /** Replaces the default kill on timeout (SIGKILL, then wait). */
    public Command onTimeout(TimeoutAction action) {
        this.onTimeout = action;
        return this;
    }

    public List<String> argv() {
        return argv;
    }

    /** Starts the program and returns it; the caller owns its streams and its end. */
    public Process start() throws IOException {
        ProcessBuilder pb = new ProcessBuilder(argv);
        if (environment != null) {
            environment.accept(pb.environment());
        }
        if (directory != null) {
            pb.directory(directory.toFile());
        }
        pb.redirectInput(stdinRedirect != null ? stdinRedirect
                : stdin != null ? ProcessBuilder.Redirect.PIPE : ProcessBuilder.Redirect.from(DEV_NULL));
        pb.redirectOutput(stdoutRedirect);
        if (mergeStderr) {
            pb.redirectErrorStream(true);
        } else {
            pb.redirectError(stderrRedirect);
        }
        return pb.start();
    }

    /**
     * Runs the program to its end or its timeout. On timeout it is killed (see
     * {@link #onTimeout}) and the result says {@code timedOut} with the output read so far.
     *
     * @throws IOException when the program cannot be started
     * @throws InterruptedException when interrupted while it ran (it is killed)
     */
    public Result execute() throws IOException, InterruptedException {
        Process p = start();
        Drain out = Drain.of(p.getInputStream(), outputCap);
        Drain err = Drain.of(p.getErrorStream(), outputCap);
        try {
            if (stdin != null) {
                try (OutputStream o = p.getOutputStream()) {
                    o.write(stdin);
                } catch (IOException e) {
                    // the program exited without reading its input; its exit status tells why
                }
            }
            boolean limited = !(timeout.isZero() || timeout.isNegative());
            if (limited && !p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                if (onTimeout != null) {
                    onTimeout.kill(p);
                } else {
                    kill(p);
                }
                out.close();
                err.close();
                out.await(Duration.ofSeconds(1));
                err.await(Duration.ofSeconds(1));
                return new Result(-1, out.bytes(), err.bytes(), out.truncated(), err.truncated(), true);
            }
            if (!limited) {
                p.waitFor();
            }
            Duration drain = drainAfterExit != null ? drainAfterExit : limited ? timeout : Duration.ofSeconds(2);
            out.await(drain);
            err.await(drain);
            out.close();
            err.close();
            out.await(Duration.ofSeconds(1));
            err.await(Duration.ofSeconds(1));
            return new Result(p.exitValue(), out.bytes(), err.bytes(), out.truncated(), err.truncated(), false);
        } catch (InterruptedException e) {
            p.destroyForcibly();
            out.close();
            err.close();
            throw e;
        }
    }

    private void kill(Process p) throws InterruptedException {
        if (killDescendants) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
        }
        p.destroyForcibly();
        p.waitFor(5, TimeUnit.SECONDS);
    }

    // ------------------------------------------------------------ the common cases

    /** Runs {@code argv} (stdin empty, 60 s); never throws on a non-zero exit (see {@link #check}). */
    public static Result run(List<String> argv) {
        return runOrFail(of(argv), BerthException.Kind.FAILED_PRECONDITION);
    }

    public static Result run(String... argv) {
        return run(List.of(argv));
    }

    /**
     * Runs {@code argv} with {@code stdin} (null: empty) within {@code timeout}; a program that
     * cannot be started is UNAVAILABLE (a helper of the runtime, like the OCI runtime).
     */
    public static Result run(List<String> argv, byte[] stdin, Duration timeout) {
        return runOrFail(of(argv).stdin(stdin).timeout(timeout).drainAfterExit(Duration.ofSeconds(2)),
                BerthException.Kind.UNAVAILABLE);
    }

    /** Runs {@code argv} and returns its stdout; a non-zero exit is an internal error naming the program and its stderr. */
    public static String check(List<String> argv) {
        Result r = run(argv);
        if (!r.ok()) {
            throw BerthException.internal(String.join(" ", argv) + " failed with exit status " + r.exitCode()
                    + ": " + r.stderr().strip(), null);
        }
        return r.stdout();
    }

    public static String check(String... argv) {
        return check(List.of(argv));
    }

    private static Result runOrFail(Command c, BerthException.Kind cannotStart) {
        Result r;
        try {
            r = c.execute();
        } catch (IOException e) {
            throw new BerthException(cannotStart, String.format("cannot run %s: %s", c.argv.get(0), e.getMessage()));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new BerthException(BerthException.Kind.CANCELLED, "interrupted while running " + c.argv.get(0), e);
        }
        if (r.timedOut()) {
            throw BerthException.deadlineExceeded("%s did not finish within %s", String.join(" ", c.argv), c.timeout);
        }
        return r;
    }

    /** Reads a stream to its end on a pooled thread, keeping at most {@code cap} bytes. */
    private static final class Drain {
        private final InputStream in;
        private final long cap;
        private final ByteArrayOutputStream kept = new ByteArrayOutputStream();
        private final CompletableFuture<Void> done = new CompletableFuture<>();
        private volatile boolean truncated;

        private Drain(InputStream in, long cap) {
            this.in = in;
            this.cap = cap;
        }

        /** A drain of {@code in}; for a stream not piped to berth, one that is done at once. */
        static Drain of(InputStream in, long cap) {
            Drain d = new Drain(in, cap);
            if (in == null || in.getClass().getName().endsWith("NullInputStream")) {
                d.done.complete(null);
            } else {
                DRAINERS.execute(d::run);
            }
            return d;
        }

        private void run() {
            byte[] buf = new byte[8192];
            try (InputStream s = in) {
                int n;
                while ((n = s.read(buf)) >= 0) {
                    synchronized (kept) {
                        long room = cap - kept.size();
                        if (room >= n) {
                            kept.write(buf, 0, n);
                        } else {
                            if (room > 0) {
                                kept.write(buf, 0, (int) room);
                            }
                            truncated = true;
                        }
                    }
                }
            } catch (IOException e) {
                // stream closed under us (timeout or process gone): keep what was read
            } finally {
                done.complete(null);
            }
        }

        void await(Duration d) throws InterruptedException {
            try {
                done.get(Math.max(1, d.toMillis()), TimeUnit.MILLISECONDS);
            } catch (TimeoutException | java.util.concurrent.ExecutionException e) {
                // still held open (by a background child): what was read is what there is
            }
        }

        byte[] bytes() {
            synchronized (kept) {
                return kept.toByteArray();
            }
        }

        boolean truncated() {
            return truncated;
        }

        void close() {
            try {
                if (in != null) {
                    in.close();
                }
            } catch (IOException e) {
                // already closed
            }
        }
    }
}
