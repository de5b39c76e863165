package dev.berth.agent.eviction;

import dev.berth.agent.node.EvictionThreshold;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * How the agent evicts pods under node pressure, besides the hard thresholds (which stay in
 * {@code NodeSettings.evictionHard}: they also come off allocatable). Every problem is an
 * IllegalArgumentException whose message starts with the setting's config key.
 * @param soft soft thresholds by signal ("500Mi", "10%"), each needing a grace period
 * @param softGracePeriod how long each soft threshold must be met before pods are evicted for it
 * @param maxPodGracePeriodSeconds the longest grace period a pod evicted for a soft threshold gets
 *     (its own when shorter); negative: the pod's own
 * @param pressureTransitionPeriod how long a pressure condition stays True after its signal cleared
 * @param minimumReclaim by signal ("100Mi", "5%"): once a threshold is met, pods are evicted until the
 *     signal is this much above it
 * @param housekeepingInterval how often signals are measured and at most one pod is evicted
 */
public record EvictionSettings(Map<String, String> soft, Map<String, Duration> softGracePeriod, long maxPodGracePeriodSeconds,
                               Duration pressureTransitionPeriod, Map<String, String> minimumReclaim, Duration housekeepingInterval) {
    /** The kubelet's --eviction-pressure-transition-period. */
    public static final Duration DEFAULT_PRESSURE_TRANSITION_PERIOD = Duration.ofMinutes(5);
    /** The kubelet's housekeeping interval, at which its eviction manager runs. */
    public static final Duration DEFAULT_HOUSEKEEPING_INTERVAL = Duration.ofSeconds(10);

    public EvictionSettings {
        soft = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(soft));
        softGracePeriod = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(softGracePeriod));
        minimumReclaim = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(minimumReclaim));
        parseValues("eviction_soft", soft);
        softGracePeriod.forEach((signal, d) -> {
            checkSignal("eviction_soft_grace_period", signal);
            if (d.isNegative()) {
                throw new IllegalArgumentException("eviction_soft_grace_period: \"" + signal + "\" must not be negative");
            }
        });
        for (String signal : soft.keySet()) {
            if (!softGracePeriod.containsKey(signal)) {
                throw new IllegalArgumentException("eviction_soft_grace_period: the soft threshold of \"" + signal + "\" needs a grace period");
            }
        }
        minimumReclaims(minimumReclaim);
        if (pressureTransitionPeriod.isNegative()) {
            throw new IllegalArgumentException("eviction_pressure_transition_period: must not be negative");
        }
        if (housekeepingInterval.isZero() || housekeepingInterval.isNegative()) {
            throw new IllegalArgumentException("housekeeping_interval: must be positive");
        }
    }

    /** The kubelet's defaults: no soft thresholds, no minimum reclaim, a max pod grace period of 0, 5 min, 10 s. */
    public static EvictionSettings defaults() {
        return new EvictionSettings(Map.of(), Map.of(), 0, DEFAULT_PRESSURE_TRANSITION_PERIOD, Map.of(), DEFAULT_HOUSEKEEPING_INTERVAL);
    }

    /**
     * Every threshold: the hard ones ({@code hard}, by signal), then the soft ones with their
     * grace periods, each with its signal's minimum reclaim. As with the kubelet, "0%" and
     * "100%" thresholds are left out (they could never or would always be met).
     */
    public List<Threshold> thresholds(Map<String, String> hard) {
        Map<String, EvictionThreshold> reclaims = minimumReclaims(minimumReclaim);
        List<Threshold> out = new ArrayList<>();
        parseValues("eviction_hard", hard).forEach((signal, v) -> out.add(new Threshold(signal, v, Duration.ZERO, reclaims.get(signal))));
        parseValues("eviction_soft", soft).forEach((signal, v) ->
                out.add(new Threshold(signal, v, softGracePeriod.get(signal), reclaims.get(signal))));
        return out;
    }

    private static Map<String, EvictionThreshold> parseValues(String key, Map<String, String> values) {
        Map<String, EvictionThreshold> out = new LinkedHashMap<>();
        values.forEach((signal, text) -> {
            checkSignal(key, signal);
            String v = text == null ? "" : text.trim();
            if (v.equals("0%") || v.equals("100%")) {
                return;
            }
            EvictionThreshold t;
            try {
                t = EvictionThreshold.parse(signal, v);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(key + ": " + e.getMessage());
            }
            if (t.percentage() < 0 && t.quantity() <= 0) {
                throw new IllegalArgumentException(key + ": \"" + signal + "\" must be positive, got \"" + text + "\"");
            }
            out.put(signal, t);
        });
        return out;
    }

    private static Map<String, EvictionThreshold> minimumReclaims(Map<String, String> values) {
        Map<String, EvictionThreshold> out = new LinkedHashMap<>();
        values.forEach((signal, text) -> {
            checkSignal("eviction_minimum_reclaim", signal);
            EvictionThreshold t;
            try {
                t = EvictionThreshold.parse(signal, text);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("eviction_minimum_reclaim: " + e.getMessage());
            }
            if (t.percentage() == 0) {
                throw new IllegalArgumentException("eviction_minimum_reclaim: \"" + signal + "\" as a percentage must be positive");
            }
            out.put(signal, t);
        });
        return out;
    }

    private static void checkSignal(String key, String signal) {
        if (!Signals.CONDITION.containsKey(signal)) {
            throw new IllegalArgumentException(key + ": \"" + signal + "\" is not an eviction signal (known: "
                    + String.join(", ", new java.util.TreeSet<>(Signals.CONDITION.keySet())) + ")");
        }
    }
}
