package dev.berth.cgroups;

import java.util.Map;
import java.util.Optional;

/**
 * The single place where berth reads and writes cgroup files. Pod and container lifecycles
 * (pod-sandbox) and stats (agent) only see this interface.
 */
public interface Cgroups {
    /**
     * The manager for this host: reads the mounted hierarchies (never changes them) and uses
     * v2 for every controller the unified hierarchy offers, v1 for the rest.
     * @param driver "cgroupfs" or "systemd"
     */
    static Cgroups detect(String driver) {
        return CgroupManager.detect(driver);
    }

    /** Which hierarchy is in use: "v2" (unified), "v1" (legacy or hybrid); for logs and Status. */
    String mode();

    /** "cgroupfs" or "systemd"; what RuntimeConfig reports. */
    String driver();

    /**
     * The path {@link #createPod} gives the cgroup of a pod under {@code parent}, without
     * creating anything (so that a record can name the cgroup before it exists).
     * @throws dev.berth.common.BerthException INVALID_ARGUMENT for a parent that is not a
     *         valid pod cgroup (or is the root)
     */
    String podPath(String parent);

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

    /** Removes the cgroup and its children (once empty; retries while the kernel drains them). Idempotent. */
    void remove(String path);

    /** Current usage of the cgroup, or empty when it does not exist. */
    Optional<CgroupStats> stats(String path);

    /** Number of OOM kills recorded in the cgroup so far. */
    long oomKills(String path);

    /** A one-line account of the layout in use (mode, which controllers come from v1/v2, driver), for logs and Status. */
    default String describe() {
        return mode() + "; driver " + driver();
    }

    /**
     * A snapshot of a cgroup's counters, taken at {@code timestampNanos} (epoch).
     * {@code memoryLimitBytes} is Long.MAX_VALUE when unlimited. {@code blockIo} maps a device
     * "major:minor" to [read bytes, write bytes, read ops, write ops]; {@code pressure} maps
     * "cpu", "memory", "io" (where the kernel has PSI for the cgroup) to [some avg10, avg60,
     * avg300, total µs, full avg10, avg60, avg300, total µs].
     */
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
