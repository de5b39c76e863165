package dev.berth.podsandbox.namespaces;

import dev.berth.common.BerthException;
import dev.berth.common.PrivateFiles;
import dev.berth.host.HostMounts;
import dev.berth.host.HostNamespaces;
import dev.berth.host.LinuxMounts;
import dev.berth.host.LinuxNamespaces;
import dev.berth.host.MountTable;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Creates a pod's network, IPC and UTS namespaces (and, when the pod asks, the user namespace
 * that owns them) and keeps them alive without any process by
 * bind-mounting them onto files in a pin directory (itself a private bind mount, so the pins do
 * not propagate into other mount namespaces). Without a user namespace creation happens
 * in-process (see {@link LinuxNamespaces}): no helper process is forked for the sandbox.
 */
public final class NamespacePins {
    private final HostMounts mounts;
    private final HostNamespaces namespaces;

    /** On the host's own mounts and namespaces. */
    public NamespacePins() {
        this(LinuxMounts.INSTANCE, LinuxNamespaces.INSTANCE);
    }

    public NamespacePins(HostMounts mounts, HostNamespaces namespaces) {
        this.mounts = mounts;
        this.namespaces = namespaces;
    }

    /**
     * Pins new namespaces in {@code dir} (created if absent): a network namespace when
     * {@code net}, an IPC one when {@code ipc}, a UTS one (with {@code hostname}) when {@code uts};
     * and mounts the pod's /dev/shm tmpfs when {@code shm} is given. When the mount that holds
     * {@code dir} propagates (shared), {@code dir} is first made a private bind mount of itself. On failure whatever was mounted is released.
     * All of it is system calls from the daemon; nothing is forked.
     */
    public PodNamespaces create(Path dir, boolean net, boolean ipc, boolean uts, String hostname, Shm shm) {
        return create(dir, net, ipc, uts, hostname, shm, null);
    }

    /**
     * As {@link #create(Path, boolean, boolean, boolean, String, Shm)}, and with {@code user}
     * (null: none) a user namespace with those maps pinned at {@code dir/user}, which owns the
     * new network, IPC and UTS namespaces. A user namespace cannot be made by the daemon's
     * threads: a short-lived helper process makes them all (see {@link HostNamespaces#createPinnedInUserNamespace}).
     */
    public PodNamespaces create(Path dir, boolean net, boolean ipc, boolean uts, String hostname, Shm shm, UserMaps user) {
        Path netPin = net ? dir.resolve("net") : null;
        Path ipcPin = ipc ? dir.resolve("ipc") : null;
        Path utsPin = uts ? dir.resolve("uts") : null;
        Path userPin = user != null ? dir.resolve("user") : null;
        if (!net && !ipc && !uts && shm == null && user == null) {
            return PodNamespaces.host();
        }
        try {
            PrivateFiles.directory(dir);
            if (net || ipc || uts || user != null) {
                MountTable.Mount holder = mounts.containing(dir);
                if (holder != null && holder.shared()) {
                    mounts.bindPrivate(dir);
                }
                for (Path pin : new Path[] {userPin, netPin, ipcPin, utsPin}) {
                    if (pin != null) {
                        PrivateFiles.write(pin, new byte[0]);
                    }
                }
                Map<HostNamespaces.Kind, Path> pins = new EnumMap<>(HostNamespaces.Kind.class);
                if (net) {
                    pins.put(HostNamespaces.Kind.NET, netPin);
                }
                if (ipc) {
                    pins.put(HostNamespaces.Kind.IPC, ipcPin);
                }
                if (uts) {
                    pins.put(HostNamespaces.Kind.UTS, utsPin);
                }
                if (user != null) {
                    namespaces.createPinnedInUserNamespace(userPin, user.uidMap(), user.gidMap(), pins, hostname);
                } else {
                    namespaces.createPinned(pins, hostname);
                }
            }
            if (shm != null) {
                // the mount point in a 0700 directory: the pod's shared memory is the pod's alone;
                // the tmpfs itself is 1777 as /dev/shm is for every user of the container
                PrivateFiles.createDirectories(shm.path());
                mounts.tmpfs("shm", shm.path(), "mode=1777,size=" + shm.sizeBytes());
            }
        } catch (IOException | RuntimeException e) {
            try {
                if (shm != null) {
                    mounts.unmountAllUnder(shm.path());
                }
                release(dir);
            } catch (RuntimeException suppressed) {
                e.addSuppressed(suppressed);
            }
            if (e instanceof BerthException be) {
                throw be;
            }
            throw BerthException.internal("cannot pin the namespaces of the pod in " + dir, e);
        }
        return new PodNamespaces(netPin, ipcPin, utsPin, userPin);
    }

    /** The maps of a pod's user namespace, as written to {@code uid_map} and {@code gid_map}. */
    public record UserMaps(String uidMap, String gidMap) {
    }

    /** The pod's /dev/shm: a tmpfs of {@code sizeBytes} mounted at {@code path}. */
    public record Shm(Path path, long sizeBytes) {
    }

    /**
     * Writes namespaced sysctls (names already validated by {@link Sysctls}) inside the pod's
     * namespaces (see {@link HostNamespaces#writeProcSys}).
     */
    public void applySysctls(PodNamespaces ns, Map<String, String> sysctls) {
        if (sysctls.isEmpty()) {
            return;
        }
        Map<HostNamespaces.Kind, Path> pins = new EnumMap<>(HostNamespaces.Kind.class);
        if (ns.net() != null) {
            pins.put(HostNamespaces.Kind.NET, ns.net());
        }
        if (ns.ipc() != null) {
            pins.put(HostNamespaces.Kind.IPC, ns.ipc());
        }
        Map<String, String> files = new LinkedHashMap<>();
        sysctls.forEach((name, value) -> files.put(Sysctls.procPath(name), value));
        try {
            namespaces.writeProcSys(pins, files);
        } catch (BerthException e) {
            throw BerthException.invalidArgument("cannot apply sysctls %s: %s", sysctls, e.getMessage());
        }
    }

    /** Unmounts every pin and the pin directory and deletes them. Idempotent. */
    public void release(Path dir) {
        mounts.unmountAllUnder(dir);
        if (!mounts.mountPointsUnder(dir).isEmpty()) {
            throw BerthException.internal("namespace pins are still mounted under " + dir, null);
        }
        try {
            for (String name : new String[] {"net", "ipc", "uts", "user"}) {
                Files.deleteIfExists(dir.resolve(name));
            }
            Files.deleteIfExists(dir);
        } catch (IOException e) {
            throw BerthException.internal("cannot delete the namespace pins in " + dir, e);
        }
    }
}
