package dev.berth.cgroups.v2;

import dev.berth.cgroups.CgroupFiles;
import dev.berth.cgroups.Resources;
import dev.berth.cgroups.Controller;
import dev.berth.cgroups.Conversions;
import dev.berth.cgroups.StatsAccumulator;
import dev.berth.common.BerthException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * v2 {@code memory}: memory.max, memory.swap.max (CRI gives memory+swap; v2 wants swap alone);
 * usage, working set (current − inactive_file), anon as RSS, faults and OOM kills.
 */
public final class MemoryController implements Controller {
    private static final byte[][] STAT = CgroupFiles.keys("anon", "inactive_file", "pgfault", "pgmajfault");
    private static final byte[][] EVENTS = CgroupFiles.keys("oom_kill");

    @Override
    public String name() {
        return "memory";
    }

    @Override
    public void apply(Path dir, Resources r) {
        Long limit = Conversions.memoryLimit(r.memoryLimitBytes());
        String swap = Conversions.v2SwapMax(r.memoryLimitBytes(), r.memorySwapLimitBytes());
        if (limit != null) {
            CgroupFiles.write(dir.resolve("memory.max"), Conversions.v2Bytes(limit));
        }
        if (swap != null) {
            Path file = dir.resolve("memory.swap.max");
            if (Files.exists(file)) {
                CgroupFiles.write(file, swap);
            } else if (!"0".equals(swap) && !"max".equals(swap)) {
                throw BerthException.failedPrecondition("a swap limit was asked but this kernel does not account swap (%s missing)", file);
            }
        }
    }

    @Override
    public void stats(String dir, StatsAccumulator out) {
        long current = CgroupFiles.readLong(dir + "memory.current");
        if (current < 0) {
            return;
        }
        out.memoryUsageBytes = current;
        out.memoryLimitBytes = CgroupFiles.readLong(dir + "memory.max");
        long[] v = new long[STAT.length];
        CgroupFiles.readKeyed(dir + "memory.stat", STAT, v);
        out.memoryRssBytes = v[0];
        out.memoryWorkingSetBytes = Math.max(0, current - v[1]);
        out.pageFaults = v[2];
        out.majorPageFaults = v[3];
        long swap = CgroupFiles.readLong(dir + "memory.swap.current");
        out.swapUsageBytes = Math.max(0, swap);
        out.oomKills = oomKills(dir);
    }

    /** oom_kill of memory.events (this cgroup and its descendants). */
    public static long oomKills(String dir) {
        long[] v = new long[1];
        CgroupFiles.readKeyed(dir + "memory.events", EVENTS, v);
        return v[0];
    }
}
