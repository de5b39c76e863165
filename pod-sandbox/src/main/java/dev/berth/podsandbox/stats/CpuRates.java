package dev.berth.podsandbox.stats;

import java.util.Collection;
import java.util.HashSet;
import java.util.Set;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Turns cumulative CPU time into a rate: keeps the last sample of each cgroup and answers,
 * for a new sample, the CPU nanoseconds used per wall-clock second since it. The first sample
 * of a key has no rate. A sample older than the kept one (a slower concurrent reader) is
 * answered from the kept one without replacing it.
 */
public final class CpuRates {
    private record Sample(long timestampNanos, long usageNanos) {
    }

    private final Map<String, Sample> last = new ConcurrentHashMap<>();

    /** @return nanocores since the previous sample of {@code key}, or null when there is none */
    public Long sample(String key, long timestampNanos, long usageNanos) {
        Sample now = new Sample(timestampNanos, usageNanos);
        Sample[] before = new Sample[1];
        last.compute(key, (k, prev) -> {
            before[0] = prev;
            return prev == null || prev.timestampNanos() < timestampNanos ? now : prev;
        });
        Sample prev = before[0];
        if (prev == null || prev.timestampNanos() == timestampNanos) {
            return null;
        }
        long dt = Math.abs(timestampNanos - prev.timestampNanos());
        long du = Math.abs(usageNanos - prev.usageNanos());
        if (usageNanos < prev.usageNanos() && timestampNanos > prev.timestampNanos()) {
            return null; // counter went back: a new cgroup under the same key
        }
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
