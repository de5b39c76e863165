package dev.berth.common;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;

/**
 * Wall time and the calling thread's CPU time of each step of one operation (a RunPodSandbox,
 * a CNI ADD), for a debug log line when it ends ({@code namespaces 4.1/1.2 ms, ...}: wall/CPU).
 * The CPU figure counts only the daemon's own thread, so a step that waits for a helper
 * process or for the disk shows a wall time well above its CPU time; load on the machine
 * stretches wall times but hardly the CPU times. Costs two clock reads per step when debug
 * logging is off.
 */
public final class StepTimer {
    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();

    private final boolean enabled;
    private final StringBuilder out = new StringBuilder();
    private final long start;
    private final long startCpu;
    private long last;
    private long lastCpu;

    /** A timer that measures only when {@code enabled} (e.g. debug logging is on). */
    public StepTimer(boolean enabled) {
        this.enabled = enabled;
        this.start = System.nanoTime();
        this.startCpu = enabled ? cpu() : 0;
        this.last = start;
        this.lastCpu = startCpu;
    }

    /** Ends the step that began with the previous mark (or the timer's creation) and names it. */
    public void mark(String step) {
        if (!enabled) {
            return;
        }
        long now = System.nanoTime();
        long cpu = cpu();
        append(step, now - last, cpu - lastCpu);
        last = now;
        lastCpu = cpu;
    }

    /** The steps and the total so far, e.g. {@code record 1.0/0.4 ms, network 30.2/3.1 ms, total 31.2/3.5 ms}. */
    public String summary() {
        if (!enabled) {
            return "";
        }
        StringBuilder s = new StringBuilder(out);
        long now = System.nanoTime();
        long cpu = cpu();
        if (s.length() > 0) {
            s.append(", ");
        }
        return s.append(String.format("total %.1f/%.1f ms", (now - start) / 1e6, (cpu - startCpu) / 1e6)).toString();
    }

    private void append(String step, long wall, long cpu) {
        if (out.length() > 0) {
            out.append(", ");
        }
        out.append(String.format("%s %.1f/%.1f ms", step, wall / 1e6, cpu / 1e6));
    }

    private static long cpu() {
        return THREADS.isCurrentThreadCpuTimeSupported() ? THREADS.getCurrentThreadCpuTime() : 0;
    }
}
