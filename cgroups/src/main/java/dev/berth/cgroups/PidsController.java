package dev.berth.cgroups;

import java.nio.file.Path;

/** {@code pids}, the same files in v1 and v2: pids.max; pids.current. */
public final class PidsController implements Controller {
    @Override
    public String name() {
        return "pids";
    }

    @Override
    public void apply(Path dir, Resources r) {
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
