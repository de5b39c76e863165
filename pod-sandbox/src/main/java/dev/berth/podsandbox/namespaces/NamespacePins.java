package dev.berth.podsandbox.namespaces;

import dev.berth.common.BerthException;
import dev.berth.podsandbox.host.Command;
import dev.berth.podsandbox.host.MountTable;
import dev.berth.podsandbox.host.Mounts;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Creates a pod's network, IPC and UTS namespaces and keeps them alive without any process by
 * bind-mounting them onto files in a pin directory (itself a private bind mount, so the pins do
 * not propagate into other mount namespaces). Creation happens in one util-linux
 * {@code unshare} helper, which also sets the hostname inside the new UTS namespace.
 */
public final class NamespacePins {
    private NamespacePins() {
    }

    /**
     * Pins new namespaces in {@code dir} (created if absent): a network namespace when
     * {@code net}, an IPC one when {@code ipc}, a UTS one (with {@code hostname}) when {@code uts}.
     * On failure whatever was pinned is released again.
     */
    public static PodNamespaces create(Path dir, boolean net, boolean ipc, boolean uts, String hostname) {
        if (!net && !ipc && !uts) {
            return PodNamespaces.host();
        }
        Path netPin = net ? dir.resolve("net") : null;
        Path ipcPin = ipc ? dir.resolve("ipc") : null;
        Path utsPin = uts ? dir.resolve("uts") : null;
        try {
            Files.createDirectories(dir);
            Mounts.bindPrivate(dir);
            List<String> argv = new ArrayList<>(List.of("unshare"));
            for (Path pin : new Path[] {netPin, ipcPin, utsPin}) {
                if (pin != null) {
                    Files.write(pin, new byte[0]);
                }
            }
            if (netPin != null) {
                argv.add("--net=" + netPin);
            }
            if (ipcPin != null) {
                argv.add("--ipc=" + ipcPin);
            }
            if (utsPin != null) {
                argv.add("--uts=" + utsPin);
                argv.addAll(List.of("hostname", hostname));
            } else {
                argv.add("true");
            }
            Command.check(argv);
        } catch (IOException | RuntimeException e) {
            try {
                release(dir);
            } catch (RuntimeException suppressed) {
                e.addSuppressed(suppressed);
            }
            if (e instanceof BerthException be) {
                throw be;
            }
            throw BerthException.internal("cannot pin the namespaces of the pod in " + dir, e);
        }
        return new PodNamespaces(netPin, ipcPin, utsPin);
    }

    /**
     * Writes namespaced sysctls (names already validated by {@link Sysctls}) inside the pod's
     * namespaces: an {@code nsenter} helper joins them and writes /proc/sys, which the kernel
     * resolves against the writer's own network and IPC namespaces.
     */
    public static void applySysctls(PodNamespaces ns, Map<String, String> sysctls) {
        if (sysctls.isEmpty()) {
            return;
        }
        List<String> argv = new ArrayList<>(List.of("nsenter"));
        if (ns.net() != null) {
            argv.add("--net=" + ns.net());
        }
        if (ns.ipc() != null) {
            argv.add("--ipc=" + ns.ipc());
        }
        argv.addAll(List.of("--", "/bin/sh", "-c",
                "while [ $# -gt 0 ]; do printf '%s\\n' \"$2\" > \"$1\" || { echo \"cannot write $1\" >&2; exit 1; }; shift 2; done",
                "berth-sysctl"));
        sysctls.forEach((name, value) -> {
            argv.add(Sysctls.procPath(name));
            argv.add(value);
        });
        Command.Result r = Command.run(argv);
        if (!r.ok()) {
            throw BerthException.invalidArgument("cannot apply sysctls %s: %s", sysctls, r.stderr().strip());
        }
    }

    /** Unmounts every pin and the pin directory and deletes them. Idempotent. */
    public static void release(Path dir) {
        Mounts.unmountAllUnder(dir);
        if (!MountTable.mountPointsUnder(dir).isEmpty()) {
            throw BerthException.internal("namespace pins are still mounted under " + dir, null);
        }
        try {
            for (String name : new String[] {"net", "ipc", "uts"}) {
                Files.deleteIfExists(dir.resolve(name));
            }
            Files.deleteIfExists(dir);
        } catch (IOException e) {
            throw BerthException.internal("cannot delete the namespace pins in " + dir, e);
        }
    }
}
