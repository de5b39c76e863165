package dev.berth.cgroups.v1;

import dev.berth.cgroups.CgroupFiles;
import dev.berth.cgroups.Resources;
import dev.berth.cgroups.Controller;
import dev.berth.cgroups.Conversions;
import dev.berth.cgroups.StatsAccumulator;
import dev.berth.common.BerthException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * v1 {@code memory}: memory.limit_in_bytes and memory.memsw.limit_in_bytes (memory + swap, as
 * CRI gives it); usage, working set, RSS and faults from memory.stat's hierarchical totals,
 * OOM kills from memory.oom_control.
 */
public final class MemoryController implements Controller {
    /** v1 reports "unlimited" as the largest page-aligned long; anything above this is unlimited. */
    private static final long UNLIMITED = 1L << 62;
    private static final byte[][] STAT = CgroupFiles.keys("total_rss", "total_inactive_file", "total_pgfault", "total_pgmajfault");
    private static final byte[][] OOM = CgroupFiles.keys("oom_kill");

    @Override
    public String name() {
        return "memory";
    }

    @Override
    public void apply(Path dir, Resources r) {
        Long limit = Conversions.memoryLimit(r.memoryLimitBytes());
        Long memsw = Conversions.v1MemswLimit(r.memoryLimitBytes(), r.memorySwapLimitBytes());
        Path limitFile = dir.resolve("memory.limit_in_bytes");
        Path memswFile = dir.resolve("memory.memsw.limit_in_bytes");
        if (memsw != null && !Files.exists(memswFile)) {
            if (memsw != -1 && !memsw.equals(limit)) {
                throw BerthException.failedPrecondition("a swap limit was asked but this kernel does not account swap (%s missing)", memswFile);
            }
            memsw = null;
        }
        if (limit == null && memsw == null) {
            return;
        }
        if (memsw == null) {
            writeLimit(limitFile, memswFile, limit);
            return;
        }
        if (limit == null) {
            CgroupFiles.write(memswFile, Long.toString(memsw));
            return;
        }
        // memsw must stay >= the memory limit at every step: raise memsw first when growing,
        // lower the memory limit first when shrinking
        long current = CgroupFiles.readLong(limitFile.toString());
        if (limit == -1 || (memsw != -1 && current >= 0 && limit > current) || memsw == -1) {
            CgroupFiles.write(memswFile, Long.toString(memsw));
            CgroupFiles.write(limitFile, Long.toString(limit));
        } else {
            CgroupFiles.write(limitFile, Long.toString(limit));
            CgroupFiles.write(memswFile, Long.toString(memsw));
        }
    }

    /** A memory limit alone; when it would exceed the current memsw limit, memsw is raised with it. */
    private static void writeLimit(Path limitFile, Path memswFile, long limit) {
        try {
            CgroupFiles.write(limitFile, Long.toString(limit));
        } catch (BerthException e) {
            if (e.kind() != BerthException.Kind.INVALID_ARGUMENT || !Files.exists(memswFile)) {
                throw e;
            }
            CgroupFiles.write(memswFile, Long.toString(limit));
            CgroupFiles.write(limitFile, Long.toString(limit));
        }
    }

    @Override
    public void stats(String dir, StatsAccumulator out) {
        long usage = CgroupFiles.readLong(dir + "memory.usage_in_bytes");
        if (usage < 0) {
            return;
        }
        out.memoryUsageBytes = usage;
        long limit = CgroupFiles.readLong(dir + "memory.limit_in_bytes");
        out.memoryLimitBytes = limit >= UNLIMITED ? Long.MAX_VALUE : limit;
        long[] v = new long[STAT.length];
        CgroupFiles.readKeyed(dir + "memory.stat", STAT, v);
        out.memoryRssBytes = v[0];
        out.memoryWorkingSetBytes = Math.max(0, usage - v[1]);
        out.pageFaults = v[2];
        out.majorPageFaults = v[3];
        long memsw = CgroupFiles.readLong(dir + "memory.memsw.usage_in_bytes");
        out.swapUsageBytes = memsw < 0 ? 0 : Math.max(0, memsw - usage);
        out.oomKills = oomKills(dir);
    }

    /** oom_kill of memory.oom_control (kernels since 4.13); 0 where the kernel lacks it. */
    public static long oomKills(String dir) {
        long[] v = new long[1];
        CgroupFiles.readKeyed(dir + "memory.oom_control", OOM, v);
        return v[0];
    }
}
