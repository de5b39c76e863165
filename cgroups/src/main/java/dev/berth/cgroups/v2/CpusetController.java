package dev.berth.cgroups.v2;

import dev.berth.cgroups.CgroupFiles;
import dev.berth.cgroups.Cgroups;
import dev.berth.cgroups.Controller;
import dev.berth.cgroups.Conversions;
import dev.berth.cgroups.StatsAccumulator;
import java.nio.file.Path;

/** v2 {@code cpuset}: cpuset.cpus and cpuset.mems. */
public final class CpusetController implements Controller {
    @Override
    public String name() {
        return "cpuset";
    }

    @Override
    public void apply(Path dir, Cgroups.Resources r) {
        String cpus = Conversions.cpuset(r.cpusetCpus(), "cpuset cpus");
        if (cpus != null) {
            CgroupFiles.write(dir.resolve("cpuset.cpus"), cpus);
        }
        String mems = Conversions.cpuset(r.cpusetMems(), "cpuset mems");
        if (mems != null) {
            CgroupFiles.write(dir.resolve("cpuset.mems"), mems);
        }
    }

    @Override
    public void stats(String dir, StatsAccumulator out) {
    }
}
