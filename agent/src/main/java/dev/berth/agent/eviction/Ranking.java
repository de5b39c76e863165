package dev.berth.agent.eviction;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Quantity;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.function.ToLongFunction;

/**
 * The order in which pods are evicted for a starved resource, the kubelet's: for memory and
 * for local storage, first the pods whose usage exceeds their request (pods without stats
 * before all), then the lower priority, then the larger usage above the request; for process
 * ids, the lower priority, then the more processes.
 */
public final class Ranking {
    private Ranking() {
    }

    /** {@code pods} in eviction order for {@code signal} given {@code stats} (by uid). */
    public static List<Pod> rank(String signal, List<Pod> pods, Map<String, PodStats> stats) {
        List<Pod> out = new ArrayList<>(pods);
        out.sort(comparator(signal, stats));
        return out;
    }

    static Comparator<Pod> comparator(String signal, Map<String, PodStats> stats) {
        return switch (Signals.RESOURCE.get(signal)) {
            case "memory" -> byUsage(stats, PodStats::memoryWorkingSet, p -> request(p, "memory"));
            case "ephemeral-storage" -> byUsage(stats, PodStats::ephemeralBytes, p -> request(p, "ephemeral-storage"));
            case "inodes" -> byUsage(stats, PodStats::inodes, p -> 0L);
            case "pids" -> Comparator.comparingInt(Ranking::priority)
                    .thenComparingInt(p -> stats.containsKey(uid(p)) ? 1 : 0)
                    .thenComparingLong(p -> stats.containsKey(uid(p)) ? -stats.get(uid(p)).processes() : 0);
            default -> throw new IllegalArgumentException(signal);
        };
    }

    /** Without stats first, then usage above request first, then lower priority, then larger usage above request. */
    private static Comparator<Pod> byUsage(Map<String, PodStats> stats, ToLongFunction<PodStats> usage, ToLongFunction<Pod> request) {
        Comparator<Pod> noStatsFirst = Comparator.comparingInt(p -> stats.containsKey(uid(p)) ? 1 : 0);
        Comparator<Pod> exceedingFirst = Comparator.comparingInt(p -> {
            PodStats s = stats.get(uid(p));
            return s != null && usage.applyAsLong(s) > request.applyAsLong(p) ? 0 : 1;
        });
        Comparator<Pod> largerAboveRequestFirst = Comparator.comparingLong(p -> {
            PodStats s = stats.get(uid(p));
            return s == null ? 0 : -(usage.applyAsLong(s) - request.applyAsLong(p));
        });
        return noStatsFirst.thenComparing(exceedingFirst).thenComparingInt(Ranking::priority).thenComparing(largerAboveRequestFirst);
    }

    static String uid(Pod p) {
        return p.getMetadata().getUid();
    }

    /** The pod's priority (spec.priority; 0 when unset). */
    public static int priority(Pod p) {
        Integer v = p.getSpec() == null ? null : p.getSpec().getPriority();
        return v == null ? 0 : v;
    }

    /**
     * The pod's request of {@code resource} as the scheduler counts it: the larger of the sum
     * of its app containers' and restartable init containers' requests and each init
     * container's own (with the sidecars started before it).
     */
    public static long request(Pod p, String resource) {
        long apps = 0;
        for (Container c : p.getSpec().getContainers()) {
            apps += request(c, resource);
        }
        long sidecars = 0;
        long initMax = 0;
        for (Container c : p.getSpec().getInitContainers()) {
            long r = request(c, resource);
            if ("Always".equals(c.getRestartPolicy())) {
                sidecars += r;
                initMax = Math.max(initMax, sidecars);
            } else {
                initMax = Math.max(initMax, sidecars + r);
            }
        }
        return Math.max(apps + sidecars, initMax);
    }

    /** A container's request of {@code resource} in base units, 0 when none. */
    public static long request(Container c, String resource) {
        Quantity q = requestQuantity(c, resource);
        if (q == null) {
            return 0;
        }
        BigDecimal v = Quantity.getAmountInBytes(q);
        return v.signum() <= 0 ? 0 : v.setScale(0, java.math.RoundingMode.CEILING).longValueExact();
    }

    /** The request as written in the spec, or null. */
    static Quantity requestQuantity(Container c, String resource) {
        if (c.getResources() == null || c.getResources().getRequests() == null) {
            return null;
        }
        return c.getResources().getRequests().get(resource);
    }
}
