package dev.berth.cgroups.v2;

import dev.berth.cgroups.CgroupFiles;
import dev.berth.cgroups.Resources;
import dev.berth.cgroups.Controller;
import dev.berth.cgroups.Conversions;
import dev.berth.cgroups.StatsAccumulator;
import java.nio.file.Path;

/** v2 {@code cpu}: cpu.weight from CRI shares, cpu.max from quota/period; usage and throttling from cpu.stat. */
public final class CpuController implements Controller {
    private static final byte[][] STAT = CgroupFiles.keys("usage_usec", "user_usec", "system_usec", "nr_periods", "nr_throttled", "throttled_usec");

    @Override
    public String name() {
        return "cpu";
    }

    @Override
    public void apply(Path dir, Resources r) {
        if (r.cpuShares() != null && r.cpuShares() != 0) {
            CgroupFiles.write(dir.resolve("cpu.weight"), Long.toString(Conversions.sharesToWeight(r.cpuShares())));
        }
        String max = Conversions.cpuMax(r.cpuQuota(), r.cpuPeriod());
        if (max != null) {
            CgroupFiles.write(dir.resolve("cpu.max"), max);
        }
    }

    @Override
    public void stats(String dir, StatsAccumulator out) {
        long[] v = new long[STAT.length];
        if (CgroupFiles.readKeyed(dir + "cpu.stat", STAT, v)) {
            out.cpuUsageNanos = v[0] * 1000;
            out.cpuUserNanos = v[1] * 1000;
            out.cpuSystemNanos = v[2] * 1000;
            out.cpuThrottledPeriods = v[4];
            out.cpuThrottledNanos = v[5] * 1000;
        }
    }
}
