package dev.berth.agent.eviction;

import dev.berth.agent.node.EvictionThreshold;
import java.time.Duration;

/**
 * One eviction threshold: its signal and value, a grace period (zero: a hard threshold, acted
 * on at once; else a soft one, acted on once it has been met that long), and a minimum reclaim
 * (null: none): once met, the threshold counts as met until the signal is that much above it.
 */
public record Threshold(String signal, EvictionThreshold value, Duration gracePeriod, EvictionThreshold minReclaim) {
    public Threshold {
        if (!Signals.CONDITION.containsKey(signal) || !signal.equals(value.signal())) {
            throw new IllegalArgumentException("\"" + signal + "\" is not an eviction signal");
        }
        if (gracePeriod == null || gracePeriod.isNegative()) {
            throw new IllegalArgumentException("\"" + signal + "\": the grace period must not be negative");
        }
    }

    /** Whether it is acted on at once. */
    public boolean hard() {
        return gracePeriod.isZero();
    }

    /** The threshold in the signal's units for {@code capacity}. */
    public long quantity(long capacity) {
        return value.value(capacity);
    }

    /**
     * Whether {@code o} meets it; {@code withMinReclaim}: compared with the threshold plus its
     * minimum reclaim, as a threshold already met is until enough was reclaimed.
     */
    public boolean met(Observation o, boolean withMinReclaim) {
        long q = quantity(o.capacity());
        if (withMinReclaim && minReclaim != null) {
            q += minReclaim.value(o.capacity());
        }
        return o.available() < q;
    }
}
