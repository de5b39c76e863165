package dev.berth.cgroups.v1;

import dev.berth.cgroups.CgroupFiles;
import dev.berth.cgroups.Cgroups;
import dev.berth.cgroups.Controller;
import dev.berth.cgroups.Conversions;
import dev.berth.cgroups.StatsAccumulator;
import java.nio.file.Path;

/**
 * v1 {@code cpuset}: cpuset.cpus and cpuset.mems. A new v1 cpuset starts empty and no task
 * may join it, so a cgroup berth creates first takes its parent's cpus and mems.
 */
public final class CpusetController implements Controller {
    @Override
    public String name() {
        return "cpuset";
    }

    @Override
    public void prepare(Path dir) {
        for (String file : new String[] {"cpuset.cpus", "cpuset.mems"}) {
            String own = CgroupFiles.readString(dir.resolve(file));
            if (own != null && own.isEmpty()) {
                String parent = CgroupFiles.readString(dir.getParent().resolve(file));
                if (parent != null && !parent.isEmpty()) {
                    CgroupFiles.write(dir.resolve(file), parent);
                }
            }
        }
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
