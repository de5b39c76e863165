package dev.berth.cgroups;

import dev.berth.common.BerthException;

/**
 * How pod and container cgroups are named. With {@code cgroupfs} the CRI cgroup parent is a
 * path ({@code /kubepods/burstable/pod<uid>}); with {@code systemd} it is a slice name
 * ({@code kubepods-burstable-pod<uid>.slice}) that lives at the nested path systemd gives it
 * ({@code /kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid>.slice}).
 * berth writes the directories itself in both cases; a container's path is handed to the OCI
 * runtime in the notation that runtime expects for the driver.
 */
public enum CgroupDriver {
    CGROUPFS("cgroupfs"),
    SYSTEMD("systemd");

    /** The scope prefix of container cgroups under the systemd driver ({@code berth-<id>.scope}). */
    public static final String SCOPE_PREFIX = "berth";

    private final String id;

    CgroupDriver(String id) {
        this.id = id;
    }

    /** "cgroupfs" or "systemd". */
    public String id() {
        return id;
    }

    public static CgroupDriver of(String name) {
        for (CgroupDriver d : values()) {
            if (d.id.equals(name)) {
                return d;
            }
        }
        throw BerthException.invalidArgument("unknown cgroup driver %s (cgroupfs or systemd)", name);
    }

    /**
     * The absolute cgroup path (relative to each hierarchy's root, starting with '/') of a
     * pod whose CRI cgroup parent is {@code parent}.
     */
    public String podPath(String parent) {
        if (parent == null || parent.isEmpty()) {
            throw BerthException.invalidArgument("the pod cgroup parent is empty");
        }
        if (this == CGROUPFS) {
            return normalize(parent);
        }
        if (parent.startsWith("/")) {
            // already expanded: every component must be a slice and their nesting must match
            String path = normalize(parent);
            String last = path.substring(path.lastIndexOf('/') + 1);
            String expanded = expandSlice(last);
            if (!expanded.equals(path)) {
                throw BerthException.invalidArgument("cgroup parent %s is not the path of slice %s (%s)", parent, last, expanded);
            }
            return path;
        }
        return expandSlice(parent);
    }

    /**
     * The container's cgroup in the form the OCI runtime's {@code linux.cgroupsPath} takes:
     * a path under the pod for cgroupfs, {@code <pod slice>:berth:<id>} for systemd.
     */
    public String containerPath(String podCgroup, String containerId) {
        checkName(containerId, "container id");
        String pod = podPath(podCgroup);
        if (this == CGROUPFS) {
            return "/".equals(pod) ? "/" + containerId : pod + "/" + containerId;
        }
        String slice = pod.substring(pod.lastIndexOf('/') + 1);
        if (slice.isEmpty()) {
            slice = "-.slice";
        }
        return slice + ":" + SCOPE_PREFIX + ":" + containerId;
    }

    /**
     * The absolute cgroup path of any path berth handed out: a pod path, a cgroupfs
     * container path, or a systemd {@code slice:prefix:name} triple.
     */
    public String resolve(String path) {
        if (path == null || path.isEmpty()) {
            throw BerthException.invalidArgument("the cgroup path is empty");
        }
        if (this == SYSTEMD && !path.startsWith("/") && path.indexOf(':') >= 0) {
            String[] parts = path.split(":", -1);
            if (parts.length != 3) {
                throw BerthException.invalidArgument("systemd cgroup path %s is not slice:prefix:name", path);
            }
            String slicePath = parts[0].isEmpty() ? "/" : expandSlice(parts[0]);
            checkName(parts[1], "scope prefix");
            checkName(parts[2], "scope name");
            String scope = parts[1] + "-" + parts[2] + ".scope";
            return "/".equals(slicePath) ? "/" + scope : slicePath + "/" + scope;
        }
        if (this == SYSTEMD && !path.startsWith("/")) {
            return expandSlice(path);
        }
        return normalize(path);
    }

    /**
     * Expands a slice name to its path the way systemd nests slices:
     * {@code a-b-c.slice} → {@code /a.slice/a-b.slice/a-b-c.slice}; {@code -.slice} is the root.
     */
    public static String expandSlice(String slice) {
        if (!slice.endsWith(".slice") || slice.indexOf('/') >= 0) {
            throw BerthException.invalidArgument("%s is not a systemd slice name (NAME.slice)", slice);
        }
        if ("-.slice".equals(slice)) {
            return "/";
        }
        String name = slice.substring(0, slice.length() - ".slice".length());
        if (name.isEmpty() || name.startsWith("-") || name.endsWith("-") || name.contains("--")) {
            throw BerthException.invalidArgument("invalid systemd slice name %s", slice);
        }
        StringBuilder path = new StringBuilder(slice.length() * 2);
        int from = 0;
        while (true) {
            int dash = name.indexOf('-', from);
            String prefix = dash < 0 ? name : name.substring(0, dash);
            path.append('/').append(prefix).append(".slice");
            if (dash < 0) {
                break;
            }
            from = dash + 1;
        }
        return path.toString();
    }

    /** "/a/b/c": leading slash added, no empty, "." or ".." components, no trailing slash. */
    static String normalize(String path) {
        StringBuilder b = new StringBuilder(path.length() + 1);
        for (String part : path.split("/")) {
            if (part.isEmpty()) {
                continue;
            }
            checkName(part, "cgroup path component");
            b.append('/').append(part);
        }
        return b.length() == 0 ? "/" : b.toString();
    }

    static void checkName(String name, String what) {
        if (name == null || name.isEmpty() || ".".equals(name) || "..".equals(name)
                || name.indexOf('/') >= 0 || name.indexOf('\0') >= 0 || name.indexOf('\n') >= 0) {
            throw BerthException.invalidArgument("invalid %s: %s", what, name);
        }
    }
}
