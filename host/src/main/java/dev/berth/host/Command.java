package dev.berth.host;

import dev.berth.common.BerthException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * Runs a host program to completion (namespaces and mounts are changed through helper
 * processes: the JVM is multithreaded and cannot move itself into namespaces safely).
 */
public final class Command {
    /** What a finished program left: its exit status and both output streams. */
    public record Result(int exitCode, String stdout, String stderr) {
        public boolean ok() {
            return exitCode == 0;
        }
    }

    private static final long TIMEOUT_SECONDS = 60;
    /** Drains the stderr of running helpers (one thread each, while they run). */
    private static final ExecutorService DRAINERS = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "berth-helper-stderr");
        t.setDaemon(true);
        return t;
    });

    private Command() {
    }

    /** Runs {@code argv}; stdin is empty. Never throws on a non-zero exit (see {@link #check}). */
    public static Result run(List<String> argv) {
        Process p;
        try {
            p = new ProcessBuilder(argv).redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile())).start();
        } catch (IOException e) {
            throw BerthException.failedPrecondition("cannot run %s: %s", argv.get(0), e.getMessage());
        }
        CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> drain(p.getErrorStream()), DRAINERS);
        String out = drain(p.getInputStream());
        try {
            if (!p.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw BerthException.deadlineExceeded("%s did not finish within %d s", String.join(" ", argv), TIMEOUT_SECONDS);
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new BerthException(BerthException.Kind.CANCELLED, "interrupted while running " + argv.get(0), e);
        }
        return new Result(p.exitValue(), out, err.join());
    }

    public static Result run(String... argv) {
        return run(List.of(argv));
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

    private static String drain(InputStream in) {
        try (in) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        }
    }
}
