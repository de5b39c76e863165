package dev.berth.podsandbox.namespaces;

import dev.berth.common.BerthException;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * Which sysctls a pod may set: only those the kernel keeps per network or IPC namespace, and
 * only when the pod has its own namespace of that kind. Everything is checked before anything
 * is created.
 */
public final class Sysctls {
    private static final Pattern NAME = Pattern.compile("[a-zA-Z0-9_-]+(\\.[a-zA-Z0-9_*:-]+)*");
    private static final java.util.Set<String> IPC_EXACT = java.util.Set.of(
            "kernel.shmmax", "kernel.shmall", "kernel.shmmni", "kernel.shm_rmid_forced",
            "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem");

    /** The namespace a sysctl belongs to. */
    public enum Scope { NET, IPC }

    private Sysctls() {
    }

    /**
     * Validates and normalises ("/" separators become ".") the requested sysctls.
     * @throws BerthException INVALID_ARGUMENT naming the first sysctl that cannot be applied
     */
    public static Map<String, String> validate(Map<String, String> sysctls, boolean ownNetwork, boolean ownIpc) {
        Map<String, String> out = new TreeMap<>();
        for (Map.Entry<String, String> e : sysctls.entrySet()) {
            String name = e.getKey().replace('/', '.');
            String value = e.getValue();
            if (!NAME.matcher(name).matches() || name.contains("..")) {
                throw BerthException.invalidArgument("sysctl \"%s\" is not a valid sysctl name", e.getKey());
            }
            if (value == null || value.isEmpty() || value.indexOf('\n') >= 0 || value.indexOf('\0') >= 0) {
                throw BerthException.invalidArgument("sysctl %s has an invalid value \"%s\"", name, value);
            }
            Scope scope = scopeOf(name);
            if (scope == null) {
                throw BerthException.invalidArgument(
                        "sysctl %s is not namespaced: a pod may only set net.*, kernel.shm*, kernel.msg*, kernel.sem and fs.mqueue.*", name);
            }
            if (scope == Scope.NET && !ownNetwork) {
                throw BerthException.invalidArgument("sysctl %s cannot be set on a pod that uses the host network", name);
            }
            if (scope == Scope.IPC && !ownIpc) {
                throw BerthException.invalidArgument("sysctl %s cannot be set on a pod that uses the host IPC namespace", name);
            }
            out.put(name, value);
        }
        return out;
    }

    /** NET, IPC, or null when the sysctl is not kept per namespace. */
    public static Scope scopeOf(String name) {
        if (name.startsWith("net.")) {
            return Scope.NET;
        }
        if (IPC_EXACT.contains(name) || name.startsWith("fs.mqueue.")) {
            return Scope.IPC;
        }
        return null;
    }

    /** /proc/sys path of a normalised sysctl name. */
    public static String procPath(String name) {
        return "/proc/sys/" + name.replace('.', '/');
    }
}
