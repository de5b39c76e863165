package dev.berth.host;

import dev.berth.common.BerthException;
import dev.berth.common.OwnThread;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
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

    /** An {@code nsenter} helper joins the namespaces and writes the files: nothing of berth's own threads changes namespace. */
    @Override
    public void writeProcSys(Map<Kind, Path> pins, Map<String, String> files) {
        List<String> argv = new ArrayList<>(List.of("nsenter"));
        if (pins.get(Kind.NET) != null) {
            argv.add("--net=" + pins.get(Kind.NET));
        }
        if (pins.get(Kind.IPC) != null) {
            argv.add("--ipc=" + pins.get(Kind.IPC));
        }
        argv.addAll(List.of("--", "/bin/sh", "-c",
                "while [ $# -gt 0 ]; do printf '%s\\n' \"$2\" > \"$1\" || { echo \"cannot write $1\" >&2; exit 1; }; shift 2; done",
                "berth-sysctl"));
        files.forEach((file, value) -> {
            argv.add(file);
            argv.add(value);
        });
        Command.Result r = Command.run(argv);
        if (!r.ok()) {
            throw BerthException.invalidArgument("%s", r.stderr().strip());
        }
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
