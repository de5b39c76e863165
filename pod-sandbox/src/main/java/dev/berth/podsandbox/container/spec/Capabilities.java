package dev.berth.podsandbox.container.spec;

import dev.berth.common.BerthException;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.TreeSet;

/** Linux capability names, berth's default set for containers, and CRI add/drop rules. */
public final class Capabilities {
    /** Capability names by number (linux/capability.h). */
    static final List<String> BY_NUMBER = List.of(
            "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
            "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
            "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
            "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
            "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
            "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
            "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
            "CAP_CHECKPOINT_RESTORE");

    /** The capabilities an unprivileged container gets unless the caller adds or drops some. */
    public static final List<String> DEFAULT = List.of(
            "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
            "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
            "CAP_AUDIT_WRITE");

    private Capabilities() {
    }

    /** The names of the bits set in a capability mask as /proc/PID/status prints it. */
    public static Set<String> fromMask(long mask) {
        Set<String> out = new TreeSet<>();
        for (int i = 0; i < BY_NUMBER.size(); i++) {
            if ((mask & (1L << i)) != 0) {
                out.add(BY_NUMBER.get(i));
            }
        }
        return out;
    }

    /** Canonical "CAP_X" form of a CRI capability name, which may lack the prefix and be any case. */
    public static String canonical(String name) {
        String n = name.trim().toUpperCase(Locale.ROOT);
        if (!n.startsWith("CAP_")) {
            n = "CAP_" + n;
        }
        if (!BY_NUMBER.contains(n)) {
            throw BerthException.invalidArgument("unknown capability %s", name);
        }
        return n;
    }

    private static boolean isAll(String name) {
        String n = name.trim().toUpperCase(Locale.ROOT);
        return n.equals("ALL") || n.equals("CAP_ALL");
    }

    /**
     * The capability set from the default set after CRI add/drop: {@code ALL} in add grants
     * every capability berth holds, {@code ALL} in drop removes all; then single names are
     * added, then single names dropped (so "add ALL, drop X" is everything but X).
     */
    public static List<String> resolve(List<String> add, List<String> drop, Set<String> all) {
        Set<String> caps = new LinkedHashSet<>(DEFAULT);
        if (add.stream().anyMatch(Capabilities::isAll)) {
            caps.addAll(sorted(all));
        }
        if (drop.stream().anyMatch(Capabilities::isAll)) {
            caps.clear();
        }
        for (String a : add) {
            if (!isAll(a)) {
                caps.add(canonical(a));
            }
        }
        for (String d : drop) {
            if (!isAll(d)) {
                caps.remove(canonical(d));
            }
        }
        return new ArrayList<>(caps);
    }

    /** All capabilities berth holds, in kernel order. */
    public static List<String> sorted(Set<String> caps) {
        List<String> out = new ArrayList<>();
        for (String c : BY_NUMBER) {
            if (caps.contains(c)) {
                out.add(c);
            }
        }
        return out;
    }
}
