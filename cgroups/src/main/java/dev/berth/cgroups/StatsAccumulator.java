package dev.berth.cgroups;

import java.util.HashMap;
import java.util.Map;

/** The mutable counters controllers fill while one {@link Cgroups.CgroupStats} is read. */
public final class StatsAccumulator {
    public long cpuUsageNanos;
    public long cpuUserNanos;
    public long cpuSystemNanos;
    public long cpuThrottledPeriods;
    public long cpuThrottledNanos;
    public long memoryUsageBytes;
    public long memoryWorkingSetBytes;
    public long memoryRssBytes;
    public long memoryLimitBytes;
    public long pageFaults;
    public long majorPageFaults;
    public long swapUsageBytes;
    public long pids;
    public long oomKills;
    /** device "major:minor" → [read bytes, write bytes, read ops, write ops]. */
    public Map<String, long[]> blockIo = Map.of();
    /** "cpu", "memory", "io" → PSI as {@link CgroupFiles#readPressure}. */
    public Map<String, double[]> pressure = Map.of();

    /** The per-device counters of {@code device}, created on first use. */
    public long[] device(String device) {
        if (blockIo.isEmpty()) {
            blockIo = new HashMap<>(4);
        }
        return blockIo.computeIfAbsent(device, d -> new long[4]);
    }

    public void pressure(String resource, double[] values) {
        if (values == null) {
            return;
        }
        if (pressure.isEmpty()) {
            pressure = new HashMap<>(4);
        }
        pressure.put(resource, values);
    }

    public Cgroups.CgroupStats toStats(long timestampNanos) {
        return new Cgroups.CgroupStats(timestampNanos, cpuUsageNanos, cpuUserNanos, cpuSystemNanos,
                cpuThrottledPeriods, cpuThrottledNanos, memoryUsageBytes, memoryWorkingSetBytes, memoryRssBytes,
                memoryLimitBytes, pageFaults, majorPageFaults, swapUsageBytes, pids, oomKills, blockIo, pressure);
    }
}
