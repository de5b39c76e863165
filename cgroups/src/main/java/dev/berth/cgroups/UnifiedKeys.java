package dev.berth.cgroups;

import dev.berth.common.BerthException;
import java.util.Map;
import java.util.Set;

/**
 * Validation of the CRI {@code unified} map: cgroup v2 file names and the values written to
 * them verbatim. A key must name a file of a v2 controller berth knows
 * ({@code <controller>.<file>}), may not reach outside the cgroup, and may not be one of the
 * interface files berth itself owns (membership, delegation, kill, freeze).
 */
public final class UnifiedKeys {
    static final Set<String> CONTROLLERS = Set.of("cpu", "cpuset", "io", "memory", "hugetlb", "pids", "rdma", "misc", "cgroup");
    static final Set<String> RESERVED = Set.of(
            "cgroup.procs", "cgroup.threads", "cgroup.subtree_control", "cgroup.kill", "cgroup.freeze",
            "cgroup.type", "cgroup.controllers", "cgroup.events", "cgroup.stat");
    static final int MAX_VALUE_LENGTH = 4096;

    private UnifiedKeys() {
    }

    /** Checks every entry; the first bad one is an invalid-argument error naming it. */
    public static void validate(Map<String, String> unified) {
        if (unified == null) {
            return;
        }
        for (Map.Entry<String, String> e : unified.entrySet()) {
            checkKey(e.getKey());
            checkValue(e.getKey(), e.getValue());
        }
    }

    /** The v2 controller a key belongs to ("memory" for "memory.high"). */
    public static String controllerOf(String key) {
        return key.substring(0, key.indexOf('.'));
    }

    static void checkKey(String key) {
        if (key == null || key.isEmpty()) {
            throw BerthException.invalidArgument("unified: empty key");
        }
        int dot = key.indexOf('.');
        if (dot <= 0 || dot == key.length() - 1 || key.endsWith(".")) {
            throw BerthException.invalidArgument("unified: key %s is not <controller>.<file>", key);
        }
        for (int i = 0; i < key.length(); i++) {
            char c = key.charAt(i);
            boolean ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.'
                    || (c >= 'A' && c <= 'Z'); // hugetlb.2MB.max
            if (!ok) {
                throw BerthException.invalidArgument("unified: key %s has an invalid character '%c'", key, c);
            }
        }
        if (key.contains("..")) {
            throw BerthException.invalidArgument("unified: key %s is not <controller>.<file>", key);
        }
        String controller = key.substring(0, dot);
        if (!CONTROLLERS.contains(controller)) {
            throw BerthException.invalidArgument("unified: key %s names unknown controller %s", key, controller);
        }
        if (RESERVED.contains(key)) {
            throw BerthException.invalidArgument("unified: key %s is managed by berth and may not be set", key);
        }
    }

    static void checkValue(String key, String value) {
        if (value == null) {
            throw BerthException.invalidArgument("unified: key %s has no value", key);
        }
        if (value.length() > MAX_VALUE_LENGTH) {
            throw BerthException.invalidArgument("unified: value of %s is longer than %d characters", key, MAX_VALUE_LENGTH);
        }
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            if (c == '\0' || (c == '\n' && i != value.length() - 1)) {
                throw BerthException.invalidArgument("unified: value of %s contains a control character", key);
            }
        }
    }
}
