package dev.berth.cgroups;

import java.nio.file.Path;

/**
 * {@code cpuset}: cpuset.cpus and cpuset.mems, the same files in v1 and v2. A new v1 cpuset
 * starts empty and no task may join it, so in v1 a cgroup berth creates first takes its
 * parent's cpus and mems (a v2 cpuset inherits its parent's effective sets by itself).
 */
public final class CpusetController implements Controller {
    private final boolean v1;

    public CpusetController(boolean v1) {
        this.v1 = v1;
    }

    @Override
    public String name() {
        return "cpuset";
    }

    @Override
    public void prepare(Path dir) {
        if (!v1) {
            return;
        }
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
    public void apply(Path dir, Resources r) {
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
