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

    /**
     * The namespaces come from a short-lived helper in the new user namespace (see
     * {@link UserNamespaces#inHelper}): berth writes its maps and bind-mounts the helper's
     * {@code /proc/PID/ns/*} onto the pins before it ends. The hostname is then set by a thread
     * of berth's that joins the UTS namespace alone (root on the host holds every capability in
     * the pod's user namespace).
     */
    @Override
    public void createPinnedInUserNamespace(Path userPin, String uidMap, String gidMap, Map<Kind, Path> pins, String hostname) {
        List<String> more = new ArrayList<>();
        for (Kind k : pins.keySet()) {
            more.add(switch (k) {
                case NET -> "--net";
                case IPC -> "--ipc";
                case UTS -> "--uts";
            });
        }
        UserNamespaces.inHelper(more, uidMap, gidMap, proc -> {
            bind(proc.resolve("ns/user"), userPin, "user");
            for (Kind k : Kind.values()) {
                Path pin = pins.get(k);
                if (pin != null) {
                    bind(proc.resolve("ns/" + k.procName()), pin, k.procName());
                }
            }
        });
        Path uts = pins.get(Kind.UTS);
        if (uts != null && hostname != null && !hostname.isEmpty()) {
            OwnThread.run("berth-pod-hostname", "setting the pod's hostname", () -> {
                Libc.C c = Libc.c();
                int fd = c.open(uts.toString(), Libc.O_RDONLY | Libc.O_CLOEXEC);
                if (fd < 0) {
                    throw fail("open the UTS namespace " + uts);
                }
                try {
                    if (c.setns(fd, Libc.CLONE_NEWUTS) != 0) {
                        throw fail("join the UTS namespace " + uts);
                    }
                } finally {
                    c.close(fd);
                }
                if (c.sethostname(hostname, hostname.getBytes(StandardCharsets.UTF_8).length) != 0) {
                    throw fail("set the hostname " + hostname);
                }
            });
        }
    }

    /** A map is written in one write(2), as the kernel requires. */
    private static void bind(Path source, Path pin, String what) {
        if (Libc.c().mount(source.toString(), pin.toString(), null, Libc.MS_BIND, null) != 0) {
            throw fail("pin the " + what + " namespace at " + pin);
        }
    }

    private static BerthException fail(String what) {
        return BerthException.internal("cannot " + what + ": " + Libc.describe(Libc.errno()), null);
    }
}
