package dev.berth.podsandbox.stats;

import java.time.Duration;
import java.util.Collection;
import java.util.HashSet;
import java.util.Set;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Turns cumulative CPU time into a rate: keeps the last sample of each cgroup and answers,
 * for a new sample, the CPU nanoseconds used per wall-clock second since it. The first sample
 * of a key has no rate. A sample older than the kept one (a slower concurrent reader), or
 * taken less than the minimum interval after it, is answered from the kept one without
 * replacing it, so that callers polling quickly still get a rate over a meaningful interval.
 */
public final class CpuRates {
    private record Sample(long timestampNanos, long usageNanos) {
    }

    /** The latest kept sample and the one kept before it (null until there are two). */
    private record History(Sample older, Sample latest) {
    }

    /** The default minimum interval a rate is measured over. */
    public static final Duration MIN_INTERVAL = Duration.ofMillis(100);

    private final Map<String, History> last = new ConcurrentHashMap<>();
    private final long minIntervalNanos;

    public CpuRates() {
        this(MIN_INTERVAL);
    }

    public CpuRates(Duration minInterval) {
        this.minIntervalNanos = Math.max(1, minInterval.toNanos());
    }

    /** @return nanocores since the previous sample of {@code key}, or null when there is none */
    public Long sample(String key, long timestampNanos, long usageNanos) {
        Sample now = new Sample(timestampNanos, usageNanos);
        Sample[] base = new Sample[1];
        last.compute(key, (k, h) -> {
            if (h == null || usageNanos < h.latest().usageNanos() && timestampNanos > h.latest().timestampNanos()) {
                return new History(null, now); // first sample, or a new cgroup under the same key
            }
            if (timestampNanos - h.latest().timestampNanos() >= minIntervalNanos) {
                base[0] = h.latest();
                return new History(h.latest(), now);
            }
            // too soon after (or older than) the latest: measure over the longer interval, keep history
            base[0] = h.older() != null && h.older().timestampNanos() < timestampNanos ? h.older() : h.latest();
            return h;
        });
        Sample prev = base[0];
        if (prev == null || prev.timestampNanos() == timestampNanos) {
            return null;
        }
        long dt = Math.abs(timestampNanos - prev.timestampNanos());
        long du = Math.abs(usageNanos - prev.usageNanos());
        return (long) (du * 1e9 / dt);
    }

    /** Forgets every key that starts with {@code prefix} and is not {@code prefix + one of live} (removed containers or pods). */
    public void retain(String prefix, Collection<String> live) {
        Set<String> keep = new HashSet<>();
        for (String id : live) {
            keep.add(prefix + id);
        }
        last.keySet().removeIf(k -> k.startsWith(prefix) && !keep.contains(k));
    }

    int size() {
        return last.size();
    }
}
