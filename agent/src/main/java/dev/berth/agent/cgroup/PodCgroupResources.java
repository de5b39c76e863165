package dev.berth.agent.cgroup;

import dev.berth.agent.pod.QosClass;
import dev.berth.cgroups.Resources;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.ResourceRequirements;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A pod's cgroup limits by the kubelet's formulas. The pod's request (and limit) of a resource
 * is the larger of its app containers' sum and any one init container's (init containers run
 * one at a time, before the app containers), plus the pod's overhead; a container without a
 * request requests its limit, as the API server defaults it. Guaranteed pods get cpu shares,
 * the CFS quota and the memory limit; Burstable pods their cpu shares, and the quota (the
 * memory limit) only when every container limits cpu (memory); BestEffort pods the minimum
 * shares. Every pod cgroup gets the configured pids limit.
 *
 * @param qos the pod's QoS class
 * @param cpuRequestMilli the pod's cpu request in millicores (what its QoS cgroup's shares add up)
 * @param resources what the pod's cgroup is given
 */
public record PodCgroupResources(QosClass qos, long cpuRequestMilli, Resources resources) {
    /** The CFS period of every pod cgroup's quota, the kubelet's. */
    static final long CPU_PERIOD = 100_000;
    static final long MIN_SHARES = 2;
    static final long MAX_SHARES = 262_144;
    static final long MIN_QUOTA = 1000;
    /** What the cgroups module writes as "no limit". */
    static final long UNLIMITED = -1;

    /** @param podPidsLimit the pids limit of every pod cgroup; null or not positive: none */
    public static PodCgroupResources of(PodSpec spec, Long podPidsLimit) {
        QosClass qos = QosClass.of(spec);
        List<Container> init = spec.getInitContainers();
        List<Container> app = spec.getContainers();
        Map<String, Quantity> overhead = spec.getOverhead() == null ? Map.of() : spec.getOverhead();
        long cpuRequest = podAmount(init, app, "cpu", true, true) + milli(overhead.get("cpu"));
        long cpuLimit = podAmount(init, app, "cpu", false, true) + milli(overhead.get("cpu"));
        long memoryLimit = podAmount(init, app, "memory", false, false) + bytes(overhead.get("memory"));
        boolean cpuLimited = everyContainerLimits(init, app, "cpu");
        boolean memoryLimited = everyContainerLimits(init, app, "memory");
        // no limit is written as one (-1), so that a resized pod loses a limit it no longer has
        long shares = MIN_SHARES;
        long quota = UNLIMITED;
        long memory = UNLIMITED;
        switch (qos) {
            case GUARANTEED -> {
                shares = shares(cpuRequest);
                quota = quota(cpuLimit);
                memory = memoryLimit;
            }
            case BURSTABLE -> {
                shares = shares(cpuRequest);
                if (cpuLimited) {
                    quota = quota(cpuLimit);
                }
                if (memoryLimited) {
                    memory = memoryLimit;
                }
            }
            case BEST_EFFORT -> {
            }
        }
        Long pids = podPidsLimit != null && podPidsLimit > 0 ? podPidsLimit : null;
        return new PodCgroupResources(qos, qos == QosClass.BEST_EFFORT ? 0 : cpuRequest,
                new Resources(shares, quota, CPU_PERIOD, null, null, memory, null, null, pids, Map.of(), Map.of()));
    }

    /** Millicores as cpu shares (1024 a core), within [2, 262144]. */
    static long shares(long milliCpu) {
        return Math.min(MAX_SHARES, Math.max(MIN_SHARES, milliCpu * 1024 / 1000));
    }

    /** Millicores as a CFS quota over {@link #CPU_PERIOD}, at least 1 ms; -1 (no limit) for none. */
    static long quota(long milliCpu) {
        return milliCpu <= 0 ? UNLIMITED : Math.max(MIN_QUOTA, milliCpu * CPU_PERIOD / 1000);
    }

    private static long podAmount(List<Container> init, List<Container> app, String resource, boolean request, boolean milli) {
        long sum = 0;
        for (Container c : app) {
            sum += amount(c, resource, request, milli);
        }
        for (Container c : init) {
            sum = Math.max(sum, amount(c, resource, request, milli));
        }
        return sum;
    }

    private static long amount(Container c, String resource, boolean request, boolean milli) {
        Map<String, Quantity> limits = map(c.getResources(), false);
        Quantity q = request ? map(c.getResources(), true).getOrDefault(resource, limits.get(resource)) : limits.get(resource);
        return milli ? milli(q) : bytes(q);
    }

    private static boolean everyContainerLimits(List<Container> init, List<Container> app, String resource) {
        List<Container> all = new ArrayList<>(init);
        all.addAll(app);
        return !all.isEmpty() && all.stream().allMatch(c -> amount(c, resource, false, false) > 0);
    }

    private static Map<String, Quantity> map(ResourceRequirements r, boolean requests) {
        if (r == null) {
            return Map.of();
        }
        Map<String, Quantity> m = requests ? r.getRequests() : r.getLimits();
        return m == null ? Map.of() : m;
    }

    private static long milli(Quantity q) {
        return q == null ? 0 : Quantity.getAmountInBytes(q).multiply(BigDecimal.valueOf(1000)).setScale(0, RoundingMode.CEILING)
                .longValueExact();
    }

    private static long bytes(Quantity q) {
        return q == null ? 0 : Quantity.getAmountInBytes(q).setScale(0, RoundingMode.CEILING).longValueExact();
    }
}
