package dev.berth.cgroups.v1;

import dev.berth.cgroups.CgroupFiles;
import dev.berth.cgroups.Resources;
import dev.berth.cgroups.Controller;
import dev.berth.cgroups.Conversions;
import dev.berth.cgroups.StatsAccumulator;
import java.nio.file.Path;

/** v1 {@code cpu}: cpu.shares, cpu.cfs_period_us / cpu.cfs_quota_us; throttling from cpu.stat. */
public final class CpuController implements Controller {
    private static final byte[][] STAT = CgroupFiles.keys("nr_periods", "nr_throttled", "throttled_time");

    @Override
    public String name() {
        return "cpu";
    }

    @Override
    public void apply(Path dir, Resources r) {
        if (r.cpuShares() != null && r.cpuShares() != 0) {
            CgroupFiles.write(dir.resolve("cpu.shares"), Long.toString(Conversions.clampShares(r.cpuShares())));
        }
        // validates both values the same way as for v2
        if (Conversions.cpuMax(r.cpuQuota(), r.cpuPeriod()) == null) {
            return;
        }
        if (r.cpuPeriod() != null && r.cpuPeriod() != 0) {
            CgroupFiles.write(dir.resolve("cpu.cfs_period_us"), Long.toString(r.cpuPeriod()));
        }
        if (r.cpuQuota() != null && r.cpuQuota() != 0) {
            CgroupFiles.write(dir.resolve("cpu.cfs_quota_us"), Long.toString(r.cpuQuota()));
        }
    }

    @Override
    public void stats(String dir, StatsAccumulator out) {
        long[] v = new long[STAT.length];
        if (CgroupFiles.readKeyed(dir + "cpu.stat", STAT, v)) {
            out.cpuThrottledPeriods = v[1];
            out.cpuThrottledNanos = v[2];
        }
    }
}
