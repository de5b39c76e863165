package dev.berth.host;

import dev.berth.common.BerthException;
import dev.berth.common.OwnThread;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Map;

/**
 * Makes and pins a pod's namespaces in-process, without a helper: a short-lived thread
 * unshares its network, IPC and UTS namespaces (allowed per thread, unlike mount or user
 * namespaces), sets the hostname in the new UTS namespace and bind-mounts its own
 * {@code /proc/thread-self/ns/*} onto the pin files, then ends. The namespaces live on through
 * the pins; no thread of the daemon stays in them.
 */
public final class LinuxNamespaces implements HostNamespaces {
    public static final LinuxNamespaces INSTANCE = new LinuxNamespaces();

    private LinuxNamespaces() {
    }

    @Override
    public void createPinned(Map<Kind, Path> pins, String hostname) {
        int flags = 0;
        for (Kind k : pins.keySet()) {
            flags |= k.cloneFlag();
        }
        int cloneFlags = flags;
        OwnThread.run("berth-pod-namespaces", "creating the pod's namespaces", () -> {
            Libc.C c = Libc.c();
            if (c.unshare(cloneFlags) != 0) {
                throw fail("create the pod's namespaces (unshare)");
            }
            if (pins.containsKey(Kind.UTS) && hostname != null && !hostname.isEmpty()
                    && c.sethostname(hostname, hostname.getBytes(StandardCharsets.UTF_8).length) != 0) {
                throw fail("set the hostname " + hostname);
            }
            for (Kind k : Kind.values()) {
                Path pin = pins.get(k);
                if (pin != null && c.mount("/proc/thread-self/ns/" + k.procName(), pin.toString(), null, Libc.MS_BIND, null) != 0) {
                    throw fail("pin the " + k.procName() + " namespace at " + pin);
                }
            }
        });
    }

    private static BerthException fail(String what) {
        return BerthException.internal("cannot " + what + ": " + Libc.describe(Libc.errno()), null);
    }
}
