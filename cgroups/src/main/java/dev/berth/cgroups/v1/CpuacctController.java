package dev.berth.cgroups.v1;

import dev.berth.cgroups.CgroupFiles;
import dev.berth.cgroups.Resources;
import dev.berth.cgroups.Controller;
import dev.berth.cgroups.StatsAccumulator;
import java.nio.file.Path;

/** v1 {@code cpuacct}: CPU time used (total, user, system) in nanoseconds. */
public final class CpuacctController implements Controller {
    private static final byte[][] STAT = CgroupFiles.keys("user", "system");
    /** cpuacct.stat counts in USER_HZ ticks, 100 per second on Linux. */
    private static final long NANOS_PER_TICK = 10_000_000L;

    @Override
    public String name() {
        return "cpuacct";
    }

    @Override
    public void apply(Path dir, Resources r) {
    }

    @Override
    public void stats(String dir, StatsAccumulator out) {
        long usage = CgroupFiles.readLong(dir + "cpuacct.usage");
        if (usage < 0) {
            return;
        }
        out.cpuUsageNanos = usage;
        long user = CgroupFiles.readLong(dir + "cpuacct.usage_user");
        long sys = CgroupFiles.readLong(dir + "cpuacct.usage_sys");
        if (user < 0 || sys < 0) {
            long[] v = new long[2];
            CgroupFiles.readKeyed(dir + "cpuacct.stat", STAT, v);
            user = v[0] * NANOS_PER_TICK;
            sys = v[1] * NANOS_PER_TICK;
        }
        out.cpuUserNanos = user;
        out.cpuSystemNanos = sys;
    }
}
