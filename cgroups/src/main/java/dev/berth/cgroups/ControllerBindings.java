package dev.berth.cgroups;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Which implementation serves each managed controller on this host and from which hierarchy
 * root: the v2 one when the unified hierarchy offers the controller, the v1 one otherwise.
 * Decided once from the layout; the tree, the resource writer and the stats reader share it.
 */
final class ControllerBindings {
    /** A controller implementation bound to the root of the hierarchy that serves it. */
    record Bound(Controller controller, Path root, boolean v2) {
    }

    private final CgroupLayout layout;
    private final List<Bound> bound = new ArrayList<>();
    /** Hierarchy roots berth creates its cgroups in (unified first when mounted). */
    private final List<Path> roots = new ArrayList<>();
    /** Every mounted hierarchy root: remove also cleans up what the OCI runtime created there. */
    private final List<Path> allRoots = new ArrayList<>();
    /** v2 controllers enabled in the subtree of every cgroup berth creates in the unified hierarchy. */
    private final List<String> v2Controllers = new ArrayList<>();
    private final Path v1Memory;

    ControllerBindings(CgroupLayout layout) {
        this.layout = layout;
        Set<Path> used = new LinkedHashSet<>();
        if (layout.unifiedMount() != null) {
            used.add(layout.unifiedMount());
        }
        for (String c : CgroupLayout.MANAGED) {
            if (layout.onV2(c)) {
                bind(v2(c), layout.unifiedMount(), true, used);
                v2Controllers.add(c);
            } else if (layout.onV1(c)) {
                bind(v1(c), layout.v1Mounts().get(CgroupLayout.v1Name(c)), false, used);
                if ("cpu".equals(c) && layout.v1Mounts().containsKey("cpuacct")) {
                    bind(new dev.berth.cgroups.v1.CpuacctController(), layout.v1Mounts().get("cpuacct"), false, used);
                }
            }
        }
        Path v1Freezer = layout.v1Mounts().get("freezer");
        if (v1Freezer != null) {
            used.add(v1Freezer);
        }
        this.v1Memory = layout.onV1("memory") ? layout.v1Mounts().get("memory") : null;
        roots.addAll(used);
        Set<Path> all = new LinkedHashSet<>(used);
        all.addAll(layout.v1Mounts().values());
        allRoots.addAll(all);
    }

    private void bind(Controller c, Path root, boolean v2, Set<Path> used) {
        bound.add(new Bound(c, root, v2));
        used.add(root);
    }

    private static Controller v2(String name) {
        switch (name) {
            case "cpu": return new dev.berth.cgroups.v2.CpuController();
            case "cpuset": return new CpusetController(false);
            case "memory": return new dev.berth.cgroups.v2.MemoryController();
            case "pids": return new PidsController();
            case "io": return new dev.berth.cgroups.v2.IoController();
            case "hugetlb": return new HugetlbController(true);
            default: throw new IllegalArgumentException(name);
        }
    }

    private static Controller v1(String name) {
        switch (name) {
            case "cpu": return new dev.berth.cgroups.v1.CpuController();
            case "cpuset": return new CpusetController(true);
            case "memory": return new dev.berth.cgroups.v1.MemoryController();
            case "pids": return new PidsController();
            case "io": return new dev.berth.cgroups.v1.BlkioController();
            case "hugetlb": return new HugetlbController(false);
            default: throw new IllegalArgumentException(name);
        }
    }

    CgroupLayout layout() {
        return layout;
    }

    List<Bound> bound() {
        return bound;
    }

    List<Path> roots() {
        return roots;
    }

    List<Path> allRoots() {
        return allRoots;
    }

    List<String> v2Controllers() {
        return v2Controllers;
    }

    /** The v1 memory hierarchy root when memory is served from v1, else null. */
    Path v1Memory() {
        return v1Memory;
    }

    /** {@code path} ("/a/b", or "/" for the root) below {@code root}. */
    static Path dir(Path root, String path) {
        return "/".equals(path) ? root : root.resolve(path.substring(1));
    }

    /** Like {@link #dir} as a string ending in '/', the form the controllers' stats readers take. */
    static String dirString(Path root, String path) {
        String r = root.toString();
        return "/".equals(path) ? r + "/" : r + path + "/";
    }
}
