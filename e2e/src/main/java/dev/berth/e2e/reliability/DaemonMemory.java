package dev.berth.e2e.reliability;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The memory of a running berth daemon as the reliability suites measure it: the Java heap in
 * use right after a full collection ({@code jcmd GC.run}, then {@code GC.heap_info}), which is
 * what the daemon really holds, and its proportional set size from
 * {@code /proc/<pid>/smaps_rollup}. {@link #startSampling} keeps the peaks of both while a run
 * goes on; a sample that fails (the daemon is busy or gone) is skipped.
 */
public final class DaemonMemory implements AutoCloseable {
    /** The bound the issue sets on the daemon's live heap through every hostile and fuzz run. */
    public static final long HEAP_BOUND_BYTES = 256L << 20;

    private final long pid;
    private final AtomicLong peakHeap = new AtomicLong();
    private final AtomicLong peakPss = new AtomicLong();
    private final AtomicLong windowHeap = new AtomicLong();
    private final AtomicLong samples = new AtomicLong();
    private volatile boolean running;
    private Thread sampler;

    private DaemonMemory(long pid) {
        this.pid = pid;
    }

    /** A sampler of {@code pid} that measures every {@code periodMillis} until {@link #close()}. */
    public static DaemonMemory startSampling(long pid, long periodMillis) {
        DaemonMemory m = new DaemonMemory(pid);
        m.running = true;
        m.sampler = new Thread(() -> {
            while (m.running) {
                m.sample();
                try {
                    Thread.sleep(periodMillis);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }, "daemon-memory-" + pid);
        m.sampler.setDaemon(true);
        m.sampler.start();
        return m;
    }

    /** Measures once now (a full GC in the daemon, then its heap and PSS) and returns the heap in use after the GC. */
    public long sample() {
        long heap = -1;
        try {
            heap = heapAfterFullGc(pid);
            peakHeap.accumulateAndGet(heap, Math::max);
            windowHeap.accumulateAndGet(heap, Math::max);
            peakPss.accumulateAndGet(pssBytes(pid), Math::max);
            samples.incrementAndGet();
        } catch (IOException | RuntimeException e) {
            // the daemon may be gone or not answer the attach: the next sample counts
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return heap;
    }

    public long peakHeapBytes() {
        return peakHeap.get();
    }

    /** The peak heap after a full GC since the last call (measuring once more now), so that a run can say which step needed it. */
    public long takeWindowPeakHeapBytes() {
        sample();
        return windowHeap.getAndSet(0);
    }

    public long peakPssBytes() {
        return peakPss.get();
    }

    public long samples() {
        return samples.get();
    }

    /** One line for the suites' figures. */
    public String summary() {
        return String.format("peak heap after full GC %d MB, peak PSS %d MB (%d samples)",
                peakHeapBytes() >> 20, peakPssBytes() >> 20, samples());
    }

    @Override
    public void close() throws InterruptedException {
        running = false;
        if (sampler != null) {
            sampler.interrupt();
            sampler.join(TimeUnit.SECONDS.toMillis(30));
        }
    }

    /** The heap a JVM holds right after a full collection: the sum of the "used" figures of {@code GC.heap_info}. */
    public static long heapAfterFullGc(long pid) throws IOException, InterruptedException {
        jcmd(pid, "GC.run");
        String info = jcmd(pid, "GC.heap_info");
        long usedKb = 0;
        boolean found = false;
        for (String line : info.split("\n")) {
            String l = line.strip();
            // a generation's or the heap's "total …K, used …K" line: Serial on JDK 17 "def new generation   total 4928K,
            // used 1234K [...", on JDK 25 "DefNew     total 7552K, used 42K [..."; G1 "garbage-first heap   total 8192K,
            // used 2048K [..."; the spaces within ("eden space 6720K, 0% used") and Metaspace name no total
            if (l.contains(" total ") && l.contains(" used ") && !l.startsWith("Metaspace") && !l.startsWith("class space")) {
                String after = l.substring(l.indexOf(" used ") + 6).strip();
                usedKb += parseKb(after.substring(0, after.indexOf('K') + 1));
                found = true;
            }
        }
        if (!found) {
            throw new IOException("no heap figures in GC.heap_info of " + pid + ":\n" + info);
        }
        return usedKb * 1024;
    }

    private static long parseKb(String s) {
        return Long.parseLong(s.substring(0, s.length() - 1).strip());
    }

    /** The proportional set size of a process, from {@code /proc/<pid>/smaps_rollup}. */
    public static long pssBytes(long pid) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/smaps_rollup"))) {
            if (line.startsWith("Pss:")) {
                return Long.parseLong(line.replaceAll("\\D", "")) * 1024;
            }
        }
        throw new IOException("no Pss in /proc/" + pid + "/smaps_rollup");
    }

    private static String jcmd(long pid, String command) throws IOException, InterruptedException {
        Path jcmd = Path.of(System.getProperty("java.home"), "bin", "jcmd");
        Process p = new ProcessBuilder(jcmd.toString(), Long.toString(pid), command).redirectErrorStream(true).start();
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            p.destroyForcibly();
            throw new IOException("jcmd " + pid + " " + command + " failed: " + new String(out, StandardCharsets.UTF_8));
        }
        return new String(out, StandardCharsets.UTF_8);
    }
}
