package dev.berth.cgroups;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * berth's one resource model: CRI {@code LinuxContainerResources} in berth's terms, used for
 * pod cgroups, container specs and live updates alike. Null means "not set". The cgroup manager
 * writes the cgroup limits among these; {@code oomScoreAdj} only reaches a container's process
 * (through its OCI spec). {@code hugepageLimits} maps a page size ("2MB", "1GB") to a byte
 * limit; {@code unified} is the cgroup v2 file map, kept in the caller's order.
 */
public record Resources(
        Long cpuShares,
        Long cpuQuota,
        Long cpuPeriod,
        String cpusetCpus,
        String cpusetMems,
        Long memoryLimitBytes,
        Long memorySwapLimitBytes,
        Long oomScoreAdj,
        Long pidsLimit,
        Map<String, Long> hugepageLimits,
        Map<String, String> unified) {

    public Resources {
        hugepageLimits = hugepageLimits == null ? Map.of() : Collections.unmodifiableMap(new LinkedHashMap<>(hugepageLimits));
        unified = unified == null ? Map.of() : Collections.unmodifiableMap(new LinkedHashMap<>(unified));
    }

    /** Nothing set. */
    public static Resources none() {
        return new Resources(null, null, null, null, null, null, null, null, null, Map.of(), Map.of());
    }
}
