package dev.berth.cgroups;

import dev.berth.common.BerthException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * {@code hugetlb}, one limit file per page size: hugetlb.&lt;size&gt;.max in v2 ("max" for
 * no limit), hugetlb.&lt;size&gt;.limit_in_bytes in v1 (-1 for no limit).
 */
public final class HugetlbController implements Controller {
    private final boolean v2;

    public HugetlbController(boolean v2) {
        this.v2 = v2;
    }

    @Override
    public String name() {
        return "hugetlb";
    }

    @Override
    public void apply(Path dir, Resources r) {
        if (r.hugepageLimits() == null) {
            return;
        }
        for (Map.Entry<String, Long> e : r.hugepageLimits().entrySet()) {
            String size = Conversions.hugepageSize(e.getKey());
            Path file = dir.resolve("hugetlb." + size + (v2 ? ".max" : ".limit_in_bytes"));
            if (!Files.exists(file)) {
                throw BerthException.invalidArgument("hugepage size %s is not supported by this kernel", size);
            }
            long limit = e.getValue() == null ? -1 : e.getValue();
            CgroupFiles.write(file, v2 ? Conversions.v2Bytes(limit) : Long.toString(limit));
        }
    }

    @Override
    public void stats(String dir, StatsAccumulator out) {
    }
}
