package dev.berth.cgroups.v1;

import dev.berth.cgroups.CgroupFiles;
import dev.berth.cgroups.Cgroups;
import dev.berth.cgroups.Controller;
import dev.berth.cgroups.Conversions;
import dev.berth.cgroups.StatsAccumulator;
import java.nio.file.Path;

/** v1 {@code pids}: pids.max; pids.current. */
public final class PidsController implements Controller {
    @Override
    public String name() {
        return "pids";
    }

    @Override
    public void apply(Path dir, Cgroups.Resources r) {
        String max = Conversions.pidsMax(r.pidsLimit());
        if (max != null) {
            CgroupFiles.write(dir.resolve("pids.max"), max);
        }
    }

    @Override
    public void stats(String dir, StatsAccumulator out) {
        out.pids = Math.max(0, CgroupFiles.readLong(dir + "pids.current"));
    }
}
