package dev.berth.cgroups;

import dev.berth.common.BerthException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The cgroup hierarchies mounted on this host, read from {@code /proc/self/mountinfo},
 * {@code /proc/cgroups} and the unified root's {@code cgroup.controllers}. berth only reads
 * these mounts; it never mounts, unmounts or remounts anything.
 *
 * @param unifiedMount where cgroup2 is mounted, or null when it is not
 * @param unifiedControllers controllers the cgroup2 root offers (its {@code cgroup.controllers})
 * @param v1Mounts each mounted v1 controller (and {@code name=...} hierarchy) to its mount point
 */
public record CgroupLayout(Path unifiedMount, Set<String> unifiedControllers, Map<String, Path> v1Mounts) {
    /** The controllers berth manages, in cgroup v2 names. */
    public static final List<String> MANAGED = List.of("cpu", "cpuset", "memory", "pids", "io", "hugetlb");

    public CgroupLayout {
        unifiedControllers = Collections.unmodifiableSet(new LinkedHashSet<>(unifiedControllers));
        v1Mounts = Collections.unmodifiableMap(new LinkedHashMap<>(v1Mounts));
    }

    /** Reads the layout of the running host. */
    public static CgroupLayout detect() {
        try {
            String mountinfo = Files.readString(Path.of("/proc/self/mountinfo"));
            String procCgroups = Files.exists(Path.of("/proc/cgroups")) ? Files.readString(Path.of("/proc/cgroups")) : "";
            return parse(mountinfo, procCgroups, unified -> readIfPresent(unified.resolve("cgroup.controllers")),
                    unified -> readIfPresent(unified.resolve("cgroup.subtree_control")));
        } catch (IOException e) {
            throw BerthException.internal("cannot read the cgroup mounts of this host", e);
        }
    }

    private static String readIfPresent(Path file) {
        try {
            return Files.exists(file) ? Files.readString(file) : "";
        } catch (IOException e) {
            throw BerthException.internal("cannot read " + file, e);
        }
    }

    /** Reads the controllers file of a unified mount; a seam for tests. */
    public interface ControllersReader {
        String read(Path unifiedMount);
    }

    /**
     * Builds the layout from the text of a mountinfo file and of /proc/cgroups (v1 controllers
     * that are compiled in but disabled there are ignored).
     */
    public static CgroupLayout parse(String mountinfo, String procCgroups, ControllersReader controllers) {
        return parse(mountinfo, procCgroups, controllers, controllers);
    }

    /**
     * As {@link #parse(String, String, ControllersReader)}; on a hybrid host (v1 hierarchies
     * beside a cgroup2 mount) only the v2 controllers the host already enabled in the cgroup2
     * root's {@code cgroup.subtree_control} are used: that root belongs to the host, and berth
     * never changes a cgroup it did not create.
     */
    public static CgroupLayout parse(String mountinfo, String procCgroups, ControllersReader controllers,
            ControllersReader rootSubtreeControl) {
        Set<String> disabled = new LinkedHashSet<>();
        for (String line : procCgroups.split("\n")) {
            if (line.isBlank() || line.startsWith("#")) {
                continue;
            }
            String[] f = line.trim().split("\\s+");
            if (f.length >= 4 && "0".equals(f[3])) {
                disabled.add(f[0]);
            }
        }
        Path unified = null;
        Map<String, Path> v1 = new LinkedHashMap<>();
        for (String line : mountinfo.split("\n")) {
            int sep = line.indexOf(" - ");
            if (sep < 0) {
                continue;
            }
            String[] before = line.substring(0, sep).split(" ");
            String[] after = line.substring(sep + 3).split(" ");
            if (before.length < 5 || after.length < 3) {
                continue;
            }
            String root = unescape(before[3]);
            Path mountPoint = Path.of(unescape(before[4]));
            String fsType = after[0];
            if ("cgroup2".equals(fsType)) {
                // the first mount of the whole hierarchy wins; bind mounts of sub-trees are not roots
                if (unified == null && "/".equals(root)) {
                    unified = mountPoint;
                }
            } else if ("cgroup".equals(fsType)) {
                if (!"/".equals(root)) {
                    continue;
                }
                for (String option : after[2].split(",")) {
                    if ("rw".equals(option) || "ro".equals(option) || disabled.contains(option)
                            || option.startsWith("release_agent=") || "noprefix".equals(option)
                            || "clone_children".equals(option) || "xattr".equals(option)
                            || "cpuset_v2_mode".equals(option) || "none".equals(option)) {
                        continue;
                    }
                    v1.putIfAbsent(option, mountPoint);
                }
            }
        }
        Set<String> unifiedControllers = new LinkedHashSet<>();
        if (unified != null) {
            for (String c : controllers.read(unified).trim().split("\\s+")) {
                if (!c.isEmpty()) {
                    unifiedControllers.add(c);
                }
            }
        }
        if (unified != null && !v1.isEmpty()) {
            Set<String> delegated = new LinkedHashSet<>(List.of(rootSubtreeControl.read(unified).trim().split("\\s+")));
            unifiedControllers.retainAll(delegated);
        }
        return new CgroupLayout(unified, unifiedControllers, v1);
    }

    /** mountinfo escapes space, tab, newline and backslash as octal {@code \ooo}. */
    static String unescape(String s) {
        if (s.indexOf('\\') < 0) {
            return s;
        }
        StringBuilder b = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && i + 3 < s.length()
                    && isOctal(s.charAt(i + 1)) && isOctal(s.charAt(i + 2)) && isOctal(s.charAt(i + 3))) {
                b.append((char) ((s.charAt(i + 1) - '0') * 64 + (s.charAt(i + 2) - '0') * 8 + (s.charAt(i + 3) - '0')));
                i += 3;
            } else {
                b.append(c);
            }
        }
        return b.toString();
    }

    private static boolean isOctal(char c) {
        return c >= '0' && c <= '7';
    }

    /** The v1 name of a v2 controller ({@code io} is {@code blkio} in v1). */
    public static String v1Name(String v2Controller) {
        return "io".equals(v2Controller) ? "blkio" : v2Controller;
    }

    /** True when {@code controller} (a v2 name) is served by the unified hierarchy. */
    public boolean onV2(String controller) {
        return unifiedMount != null && unifiedControllers.contains(controller);
    }

    /** True when {@code controller} (a v2 name) is served by a v1 hierarchy and not by v2. */
    public boolean onV1(String controller) {
        return !onV2(controller) && v1Mounts.containsKey(v1Name(controller));
    }

    /** The managed controllers that are available at all, in either version. */
    public List<String> available() {
        List<String> out = new ArrayList<>();
        for (String c : MANAGED) {
            if (onV2(c) || onV1(c)) {
                out.add(c);
            }
        }
        return out;
    }

    /**
     * "v2" when every managed controller that is available comes from the unified hierarchy,
     * "v1" otherwise (legacy, or hybrid where v1 hierarchies hold the controllers).
     */
    public String mode() {
        if (unifiedMount == null && v1Mounts.isEmpty()) {
            return "none";
        }
        for (String c : MANAGED) {
            if (onV1(c)) {
                return "v1";
            }
        }
        return unifiedMount != null ? "v2" : "v1";
    }

    /** True when v1 hierarchies and a cgroup2 mount coexist. */
    public boolean hybrid() {
        return unifiedMount != null && !v1Mounts.isEmpty();
    }

    /** A one-line account for logs and Status verbose info. */
    public String describe() {
        StringBuilder b = new StringBuilder(mode());
        if (hybrid()) {
            b.append(" (hybrid; cgroup2 at ").append(unifiedMount).append(')');
        } else if (unifiedMount != null) {
            b.append(" (unified at ").append(unifiedMount).append(')');
        }
        List<String> v2 = new ArrayList<>();
        List<String> v1 = new ArrayList<>();
        for (String c : MANAGED) {
            if (onV2(c)) {
                v2.add(c);
            } else if (onV1(c)) {
                v1.add(c);
            }
        }
        b.append(": v2 controllers ").append(v2).append(", v1 controllers ").append(v1);
        return b.toString();
    }
}
