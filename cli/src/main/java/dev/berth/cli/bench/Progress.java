package dev.berth.cli.bench;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Progress on stderr: a bar redrawn in place when stderr is a terminal, a plain line per phase
 * otherwise, nothing when quiet.
 */
final class Progress {
    enum Mode { BAR, LINES, QUIET }

    private final PrintStream err;
    private final Mode mode;
    private long total = 1;
    private long done;
    private String run = "";
    private String phase = "";
    private long lastDraw;

    Progress(PrintStream err, Mode mode) {
        this.err = err;
        this.mode = mode;
    }

    /** BAR when the process's stderr is a terminal (Java 17 has no isatty for stderr: its descriptor's link names a tty or pts). */
    static Mode modeFor(boolean quiet) {
        if (quiet) {
            return Mode.QUIET;
        }
        try {
            String target = Files.readSymbolicLink(Path.of("/proc/self/fd/2")).toString();
            return target.startsWith("/dev/pts/") || target.startsWith("/dev/tty") ? Mode.BAR : Mode.LINES;
        } catch (Exception e) {
            return Mode.LINES;
        }
    }

    synchronized void start(String runLabel, long totalSteps) {
        this.total = Math.max(totalSteps, 1);
        this.done = 0;
        this.run = runLabel;
        this.phase = "";
    }

    /** A new phase of the run. */
    synchronized void phase(String phase) {
        if (mode == Mode.LINES) {
            err.println("bench " + run + ": " + phase);
        }
        this.phase = phase;
        draw(true);
    }

    synchronized void step() {
        done = Math.min(done + 1, total);
        draw(false);
    }

    synchronized void finish() {
        if (mode == Mode.BAR) {
            err.print("\r\033[K");
            err.flush();
        }
    }

    synchronized void note(String line) {
        if (mode == Mode.QUIET) {
            return;
        }
        if (mode == Mode.BAR) {
            err.print("\r\033[K");
        }
        err.println(line);
        draw(true);
    }

    private void draw(boolean force) {
        if (mode != Mode.BAR) {
            return;
        }
        long now = System.nanoTime();
        if (!force && now - lastDraw < 100_000_000L && done < total) {
            return;
        }
        lastDraw = now;
        int width = 30;
        int filled = (int) (width * done / total);
        err.print("\r\033[K[" + "#".repeat(filled) + "-".repeat(width - filled) + "] " + (100 * done / total) + "% " + run + ": " + phase);
        err.flush();
    }
}
