package dev.berth.cgroups;

import static dev.berth.cgroups.ControllerBindings.dir;

import dev.berth.common.BerthException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Checks resources before anything is written, so a bad request changes nothing. */
final class ResourceValidation {
    private final ControllerBindings bindings;

    ResourceValidation(ControllerBindings bindings) {
        this.bindings = bindings;
    }

    /** Checks every value and that unified keys are served by v2 on this host. */
    void validate(Resources r) {
        if (r == null) {
            return;
        }
        Conversions.cpuMax(r.cpuQuota(), r.cpuPeriod());
        Conversions.memoryLimit(r.memoryLimitBytes());
        Conversions.v2SwapMax(r.memoryLimitBytes(), r.memorySwapLimitBytes());
        Conversions.pidsMax(r.pidsLimit());
        Conversions.cpuset(r.cpusetCpus(), "cpuset cpus");
        Conversions.cpuset(r.cpusetMems(), "cpuset mems");
        r.hugepageLimits().keySet().forEach(Conversions::hugepageSize);
        if (!r.unified().isEmpty()) {
            UnifiedKeys.validate(r.unified());
            CgroupLayout layout = bindings.layout();
            if (layout.unifiedMount() == null) {
                throw BerthException.invalidArgument("unified cgroup settings need cgroup v2, and this host has none");
            }
            for (String key : r.unified().keySet()) {
                String controller = UnifiedKeys.controllerOf(key);
                if (!"cgroup".equals(controller) && !layout.onV2(controller)) {
                    throw BerthException.invalidArgument("unified key %s needs the v2 %s controller, which this host serves from cgroup v1",
                            key, controller);
                }
            }
        }
    }

    /** Unknown unified keys and unsupported hugepage sizes of the existing cgroup {@code path} are refused. */
    void checkFilesExist(String path, Resources r) {
        if (!r.unified().isEmpty()) {
            Path dir = dir(bindings.layout().unifiedMount(), path);
            for (String key : r.unified().keySet()) {
                if (!Files.isRegularFile(dir.resolve(key))) {
                    throw BerthException.invalidArgument("unified key %s is not a file of cgroup %s", key, path);
                }
            }
        }
        if (!r.hugepageLimits().isEmpty()) {
            for (ControllerBindings.Bound b : bindings.bound()) {
                if ("hugetlb".equals(b.controller().name())) {
                    Path dir = dir(b.root(), path);
                    for (String size : r.hugepageLimits().keySet()) {
                        String file = "hugetlb." + size + (b.v2() ? ".max" : ".limit_in_bytes");
                        if (!Files.isRegularFile(dir.resolve(file))) {
                            throw BerthException.invalidArgument("hugepage size %s is not supported by this kernel", size);
                        }
                    }
                }
            }
        }
    }
}
