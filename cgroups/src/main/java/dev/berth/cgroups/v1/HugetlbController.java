package dev.berth.cgroups.v1;

import dev.berth.cgroups.CgroupFiles;
import dev.berth.cgroups.Cgroups;
import dev.berth.cgroups.Controller;
import dev.berth.cgroups.Conversions;
import dev.berth.cgroups.StatsAccumulator;
import dev.berth.common.BerthException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/** v1 {@code hugetlb}: hugetlb.&lt;size&gt;.limit_in_bytes per page size. */
public final class HugetlbController implements Controller {
    @Override
    public String name() {
        return "hugetlb";
    }

    @Override
    public void apply(Path dir, Cgroups.Resources r) {
        if (r.hugepageLimits() == null) {
            return;
        }
        for (Map.Entry<String, Long> e : r.hugepageLimits().entrySet()) {
            String size = Conversions.hugepageSize(e.getKey());
            Path file = dir.resolve("hugetlb." + size + ".limit_in_bytes");
            if (!Files.exists(file)) {
                throw BerthException.invalidArgument("hugepage size %s is not supported by this kernel", size);
            }
            CgroupFiles.write(file, Long.toString(e.getValue() == null ? -1 : e.getValue()));
        }
    }

    @Override
    public void stats(String dir, StatsAccumulator out) {
    }
}
