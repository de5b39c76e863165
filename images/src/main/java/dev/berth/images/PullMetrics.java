package dev.berth.images;

import java.util.concurrent.atomic.AtomicLong;

/** Counters of image pulls, ready for the metrics endpoint. */
public final class PullMetrics {
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
