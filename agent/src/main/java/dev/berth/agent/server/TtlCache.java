package dev.berth.agent.server;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The answers of the API server's reviews, each kept for its own time to live. Bounded: past
 * {@code max} entries the expired ones go, and when none has, everything (a flood of distinct
 * tokens must not grow the agent without end).
 */
final class TtlCache<K, V> {
    private record Entry<V>(V value, Instant expires) {
    }

    private final ConcurrentHashMap<K, Entry<V>> entries = new ConcurrentHashMap<>();
    private final Clock clock;
    private final int max;

    TtlCache(Clock clock, int max) {
        this.clock = clock;
        this.max = max;
    }

    V get(K key) {
        Entry<V> e = entries.get(key);
        if (e == null) {
            return null;
        }
        if (!clock.instant().isBefore(e.expires())) {
            entries.remove(key, e);
            return null;
        }
        return e.value();
    }

    void put(K key, V value, Duration ttl) {
        if (ttl.isZero() || ttl.isNegative()) {
            return;
        }
        if (entries.size() >= max) {
            Instant now = clock.instant();
            entries.values().removeIf(e -> !now.isBefore(e.expires()));
            if (entries.size() >= max) {
                entries.clear();
            }
        }
        entries.put(key, new Entry<>(value, clock.instant().plus(ttl)));
    }

    int size() {
        return entries.size();
    }
}
