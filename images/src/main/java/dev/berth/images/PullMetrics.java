package dev.berth.images;

import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/** Counters of image pulls, ready for the metrics endpoint. */
public final class PullMetrics {
    /** Where a pull spends its time (layer fetch and unpack are summed over the threads doing them). */
    public enum Phase {
        /** Resolving the reference: manifest (and index) requests. */
        RESOLVE,
        /** Storing the manifest, fetching and reading the config. */
        CONFIG,
        /** Downloading layer blobs, verifying them as they stream into the content store. */
        LAYER_FETCH,
        /** Unpacking a layer from a stored blob (decompressing, checking the diff id, writing files). */
        LAYER_UNPACK,
        /** Making what the pull wrote durable before the record names it. */
        SYNC,
        /** Writing the image record. */
        RECORD,
        /** Releasing what the pull held (and dropping what a failed pull left). */
        CLEANUP
    }

    /** Told of every pull outcome and download as it happens (the metrics endpoint's meters). */
    public interface Listener {
        void pulled(long durationNanos);

        void failed();

        void downloaded(long bytes);
    }

    private static final Listener NONE = new Listener() {
        @Override
        public void pulled(long durationNanos) {
        }

        @Override
        public void failed() {
        }

        @Override
        public void downloaded(long bytes) {
        }
    };

    private volatile Listener listener = NONE;
    private final AtomicLong pulls = new AtomicLong();
    private final AtomicLong failures = new AtomicLong();
    private final AtomicLong bytes = new AtomicLong();
    private final AtomicLong nanos = new AtomicLong();
    private final Map<Phase, LongAdder> phases = new EnumMap<>(Phase.class);
    private final Map<Phase, LongAdder> phaseCpu = new EnumMap<>(Phase.class);
    private static final java.lang.management.ThreadMXBean THREADS = java.lang.management.ManagementFactory.getThreadMXBean();

    public PullMetrics() {
        for (Phase p : Phase.values()) {
            phases.put(p, new LongAdder());
            phaseCpu.put(p, new LongAdder());
        }
    }

    /** Measures the phases one thread goes through: wall time and the thread's CPU time. */
    final class Stopwatch {
        private long wall = System.nanoTime();
        private long cpu = cpuNow();

        /** Adds the time since the last lap (or the start) to {@code p}. */
        void lap(Phase p) {
            long w = System.nanoTime();
            long c = cpuNow();
            phases.get(p).add(w - wall);
            phaseCpu.get(p).add(c - cpu);
            wall = w;
            cpu = c;
        }

        /** Starts the next lap now (what came since belongs to no phase). */
        void restart() {
            wall = System.nanoTime();
            cpu = cpuNow();
        }
    }

    Stopwatch stopwatch() {
        return new Stopwatch();
    }

    private static long cpuNow() {
        return THREADS.getCurrentThreadCpuTime();
    }

    /** Total time pulls spent in a phase, in nanoseconds. */
    public long phaseNanos(Phase p) {
        return phases.get(p).sum();
    }

    /** Total CPU time the threads of pulls spent in a phase, in nanoseconds. */
    public long phaseCpuNanos(Phase p) {
        return phaseCpu.get(p).sum();
    }

    void pulled(long durationNanos) {
        pulls.incrementAndGet();
        nanos.addAndGet(durationNanos);
        listener.pulled(durationNanos);
    }

    /** Sends every later pull, failure and download to {@code l} as well. */
    public void listen(Listener l) {
        listener = l == null ? NONE : l;
    }

    void failed() {
        failures.incrementAndGet();
        listener.failed();
    }

    void downloaded(long n) {
        bytes.addAndGet(n);
        listener.downloaded(n);
    }

    /** Pulls that completed. */
    public long pulls() {
        return pulls.get();
    }

    /** Pulls that failed. */
    public long failures() {
        return failures.get();
    }

    /** Blob bytes downloaded from registries. */
    public long bytesDownloaded() {
        return bytes.get();
    }

    /** Total time of completed pulls, in nanoseconds. */
    public long pullNanos() {
        return nanos.get();
    }
}
