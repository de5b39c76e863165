package dev.berth.cgroups;

import static dev.berth.cgroups.ControllerBindings.dirString;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Optional;

/** Reads a cgroup's counters through the bound controllers, plus PSI and the OOM kill counter. */
final class CgroupStatsReader {
    private final ControllerBindings bindings;

    CgroupStatsReader(ControllerBindings bindings) {
        this.bindings = bindings;
    }

    /** @param p a resolved cgroup path */
    Optional<Cgroups.CgroupStats> stats(String p) {
        Instant clock = Instant.now();
        long now = clock.getEpochSecond() * 1_000_000_000L + clock.getNano();
        StatsAccumulator acc = new StatsAccumulator();
        boolean any = false;
        for (ControllerBindings.Bound b : bindings.bound()) {
            String d = dirString(b.root(), p);
            if (!any) {
                if (!Files.isDirectory(Path.of(d))) {
                    return Optional.empty();
                }
                any = true;
            }
            b.controller().stats(d, acc);
        }
        if (!any) {
            return Optional.empty();
        }
        Path unified = bindings.layout().unifiedMount();
        if (unified != null) {
            String d = dirString(unified, p);
            acc.pressure("cpu", CgroupFiles.readPressure(d + "cpu.pressure"));
            acc.pressure("memory", CgroupFiles.readPressure(d + "memory.pressure"));
            acc.pressure("io", CgroupFiles.readPressure(d + "io.pressure"));
        }
        return Optional.of(acc.toStats(now));
    }

    /** The OOM kill counter of the resolved cgroup {@code p}: v2 memory.events, else v1 memory.oom_control; 0 without memory. */
    long oomKills(String p) {
        CgroupLayout layout = bindings.layout();
        if (layout.onV2("memory")) {
            return dev.berth.cgroups.v2.MemoryController.oomKills(dirString(layout.unifiedMount(), p));
        }
        if (bindings.v1Memory() != null) {
            return dev.berth.cgroups.v1.MemoryController.oomKills(dirString(bindings.v1Memory(), p));
        }
        return 0;
    }
}
