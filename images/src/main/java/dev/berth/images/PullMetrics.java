package dev.berth.images;

import java.util.concurrent.atomic.AtomicLong;

/** Counters of image pulls, ready for the metrics endpoint. */
public final class PullMetrics {
    private final AtomicLong pulls = new AtomicLong();
    private final AtomicLong failures = new AtomicLong();
    private final AtomicLong bytes = new AtomicLong();
    private final AtomicLong nanos = new AtomicLong();

    void pulled(long durationNanos) {
        pulls.incrementAndGet();
        nanos.addAndGet(durationNanos);
    }

    void failed() {
        failures.incrementAndGet();
    }

    void downloaded(long n) {
        bytes.addAndGet(n);
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
