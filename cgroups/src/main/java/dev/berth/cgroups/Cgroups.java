package dev.berth.cgroups;

import java.util.Map;
import java.util.Optional;

/**
 * The single place where berth reads and writes cgroup files. Pod and container lifecycles
 * (pod-sandbox) and stats (agent) only see this interface.
 */
public interface Cgroups {
    /** Which hierarchy is in use: "v2" (unified), "v1" (legacy or hybrid); for logs and Status. */
    String mode();

    /** "cgroupfs" or "systemd"; what RuntimeConfig reports. */
    String driver();

    /**
     * Creates (or adopts, if present) the cgroup of a pod under {@code parent} (the CRI
     * cgroup_parent, in the driver's notation) and applies pod-level resources.
     * @return the cgroup path relative to the hierarchy root, e.g. "/kubepods/burstable/pod1234"
     */
    String createPod(String parent, Resources resources);

    /**
     * The path a container's cgroup gets under its pod's cgroup, in the form the OCI runtime's
     * {@code linux.cgroupsPath} expects for the driver in use.
     */
    String containerPath(String podCgroup, String containerId);

    /** Applies resources to an existing cgroup (UpdateContainerResources, pod overhead). */
    void update(String path, Resources resources);

    /** Kills every process in the cgroup and its children. */
    void killAll(String path);

    /** Removes the cgroup and its children (once empty; retries while the kernel drains them). Idempotent. */
    void remove(String path);

    /** Current usage of the cgroup, or empty when it does not exist. */
    Optional<CgroupStats> stats(String path);

    /** Number of OOM kills recorded in the cgroup so far. */
    long oomKills(String path);

    /**
     * Resources in CRI terms (LinuxContainerResources); null/0 fields mean "not set".
     * {@code unified} is the CRI unified map of cgroup v2 files.
     */
    record Resources(
            Long cpuShares,
            Long cpuQuota,
            Long cpuPeriod,
            String cpusetCpus,
            String cpusetMems,
            Long memoryLimitBytes,
            Long memorySwapLimitBytes,
            Long pidsLimit,
            Map<String, Long> hugepageLimits,
            Map<String, String> unified) {
        public static Resources none() {
            return new Resources(null, null, null, null, null, null, null, null, Map.of(), Map.of());
        }
    }

    /** A snapshot of a cgroup's counters, taken at {@code timestampNanos} (epoch). */
    record CgroupStats(
            long timestampNanos,
            long cpuUsageNanos,
            long cpuUserNanos,
            long cpuSystemNanos,
            long cpuThrottledPeriods,
            long cpuThrottledNanos,
            long memoryUsageBytes,
            long memoryWorkingSetBytes,
            long memoryRssBytes,
            long memoryLimitBytes,
            long pageFaults,
            long majorPageFaults,
            long swapUsageBytes,
            long pids,
            long oomKills,
            Map<String, long[]> blockIo,
            Map<String, double[]> pressure) {
    }
}
