package dev.berth.agent.node;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * One eviction threshold's value: a signal ({@code memory.available}, {@code nodefs.available},
 * {@code nodefs.inodesFree}, {@code imagefs.available}, {@code imagefs.inodesFree},
 * {@code pid.available}) below which the node is under pressure, as a quantity or as a
 * percentage of the signal's capacity (also the notation of a minimum reclaim; the eviction
 * package adds grace periods).
 */
public record EvictionThreshold(String signal, long quantity, double percentage) {
    public static final Set<String> SIGNALS = Set.of("memory.available", "nodefs.available", "nodefs.inodesFree",
            "imagefs.available", "imagefs.inodesFree", "pid.available");

    /** The kubelet's defaults on Linux. */
    public static final Map<String, String> DEFAULTS = defaults();

    private static Map<String, String> defaults() {
        Map<String, String> d = new LinkedHashMap<>();
        d.put("memory.available", "100Mi");
        d.put("nodefs.available", "10%");
        d.put("nodefs.inodesFree", "5%");
        d.put("imagefs.available", "15%");
        d.put("imagefs.inodesFree", "5%");
        return java.util.Collections.unmodifiableMap(d);
    }

    /** Reads {@code value} ("100Mi", "10%") for {@code signal}; IllegalArgumentException when either is not valid. */
    public static EvictionThreshold parse(String signal, String value) {
        if (!SIGNALS.contains(signal)) {
            throw new IllegalArgumentException("\"" + signal + "\" is not an eviction signal (known: " + String.join(", ",
                    new java.util.TreeSet<>(SIGNALS)) + ")");
        }
        String v = value == null ? "" : value.trim();
        if (v.endsWith("%")) {
            double p;
            try {
                p = Double.parseDouble(v.substring(0, v.length() - 1));
            } catch (NumberFormatException e) {
                p = -1;
            }
            if (!(p >= 0 && p <= 100)) {
                throw new IllegalArgumentException("\"" + signal + "\" = \"" + value + "\" is not a percentage between 0% and 100%");
            }
            return new EvictionThreshold(signal, -1, p / 100);
        }
        try {
            return new EvictionThreshold(signal, Quantities.units(v), -1);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("\"" + signal + "\" = " + e.getMessage());
        }
    }

    /** The threshold in the signal's units for a capacity of {@code capacity} (a percentage truncated, as the kubelet does). */
    public long value(long capacity) {
        return percentage >= 0 ? (long) (capacity * percentage) : quantity;
    }

    /** Whether {@code available} of {@code capacity} is below the threshold. */
    public boolean met(long available, long capacity) {
        return available < value(capacity);
    }
}
