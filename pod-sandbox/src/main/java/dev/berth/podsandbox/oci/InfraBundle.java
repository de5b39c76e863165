package dev.berth.podsandbox.oci;

import dev.berth.common.AtomicFiles;
import dev.berth.common.BerthException;
import dev.berth.common.PrivateFiles;
import dev.berth.common.Json;
import dev.berth.host.HostProcesses;
import dev.berth.podsandbox.container.spec.ContainerConfig;
import dev.berth.podsandbox.namespaces.PodNamespaces;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The OCI bundle of a pod's infra process: {@code catatonit -P}, PID 1 of the pod's own PID
 * namespace, joined to the pod's pinned network, IPC and UTS namespaces. Every bundle shares one
 * read-only root filesystem that holds nothing but the (static) catatonit binary.
 */
public final class InfraBundle {
    public static final Path CATATONIT = Path.of("/usr/bin/catatonit");

    private InfraBundle() {
    }

    /** Makes sure the shared root filesystem exists under {@code dir}; returns it. */
    public static synchronized Path ensureRootfs(Path dir) {
        Path rootfs = dir.resolve("rootfs");
        Path binary = rootfs.resolve("catatonit");
        try {
            if (!Files.isRegularFile(CATATONIT)) {
                throw BerthException.failedPrecondition("%s is missing: pods that share a PID namespace need catatonit", CATATONIT);
            }
            if (!Files.exists(binary) || Files.size(binary) != Files.size(CATATONIT)) {
                // the infra process's "/": 0755 as any root directory
                PrivateFiles.directory(rootfs, PosixFilePermissions.fromString("rwxr-xr-x"));
                Files.createDirectories(rootfs.resolve("proc"));
                Files.createDirectories(rootfs.resolve("dev"));
                Path tmp = rootfs.resolve(".catatonit.tmp");
                Files.copy(CATATONIT, tmp, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.COPY_ATTRIBUTES);
                Files.move(tmp, binary, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            throw BerthException.fromIo("cannot prepare the infra root filesystem in " + rootfs, rootfs, e);
        }
        return rootfs;
    }

    /**
     * Waits until the infra process has become catatonit: the runtime returns from {@code run -d}
     * once it told its init to exec, which may not have happened yet.
     */
    public static void awaitExec(long pid, HostProcesses processes) {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (System.nanoTime() < deadline) {
            String command = processes.command(pid).orElseThrow(() -> BerthException.internal(
                    "the infra process " + pid + " exited before it started catatonit", null));
            if (command.equals("catatonit")) {
                return;
            }
            try {
                Thread.sleep(1);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new BerthException(BerthException.Kind.CANCELLED, "interrupted while starting the infra process", e);
            }
        }
        throw BerthException.deadlineExceeded("the infra process %d did not start catatonit within 10 s", pid);
    }

    private static Map<String, Object> mapping(ContainerConfig.IdMapping m) {
        return Map.of("containerID", m.containerId(), "hostID", m.hostId(), "size", m.length());
    }

    /** Writes {@code bundle}/config.json. {@code cgroupsPath} is in the form the runtime expects. */
    public static void write(Path bundle, Path rootfs, PodNamespaces ns, String cgroupsPath) {
        write(bundle, rootfs, ns, cgroupsPath, List.of(), List.of());
    }

    /**
     * As {@link #write(Path, Path, PodNamespaces, String)}; a pod with a user namespace has the
     * infra process join it by path (first: the PID namespace it makes then belongs to it, so the
     * pod's containers may join that), with its maps, which the runtime asks for even then.
     */
    public static void write(Path bundle, Path rootfs, PodNamespaces ns, String cgroupsPath,
                             List<ContainerConfig.IdMapping> uids, List<ContainerConfig.IdMapping> gids) {
        Map<String, Object> process = new LinkedHashMap<>();
        process.put("terminal", false);
        process.put("user", Map.of("uid", 0, "gid", 0));
        process.put("args", List.of("/catatonit", "-P"));
        process.put("env", List.of("PATH=/"));
        process.put("cwd", "/");
        process.put("noNewPrivileges", true);
        process.put("capabilities", Map.of("bounding", List.of(), "effective", List.of(), "permitted", List.of()));

        List<Map<String, Object>> namespaces = new ArrayList<>();
        if (ns.user() != null) {
            namespaces.add(Map.of("type", "user", "path", ns.user().toString()));
        }
        namespaces.add(Map.of("type", "pid"));
        namespaces.add(Map.of("type", "mount"));
        if (ns.net() != null) {
            namespaces.add(Map.of("type", "network", "path", ns.net().toString()));
        }
        if (ns.ipc() != null) {
            namespaces.add(Map.of("type", "ipc", "path", ns.ipc().toString()));
        }
        if (ns.uts() != null) {
            namespaces.add(Map.of("type", "uts", "path", ns.uts().toString()));
        }
        Map<String, Object> linux = new LinkedHashMap<>();
        linux.put("namespaces", namespaces);
        linux.put("cgroupsPath", cgroupsPath);
        if (ns.user() != null) {
            linux.put("uidMappings", uids.stream().map(InfraBundle::mapping).toList());
            linux.put("gidMappings", gids.stream().map(InfraBundle::mapping).toList());
        }
        linux.put("maskedPaths", List.of("/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware"));
        linux.put("readonlyPaths", List.of("/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"));

        Map<String, Object> spec = new LinkedHashMap<>();
        spec.put("ociVersion", "1.0.2");
        spec.put("process", process);
        spec.put("root", Map.of("path", rootfs.toAbsolutePath().toString(), "readonly", true));
        spec.put("mounts", List.of(
                Map.of("destination", "/proc", "type", "proc", "source", "proc", "options", List.of("nosuid", "noexec", "nodev")),
                Map.of("destination", "/dev", "type", "tmpfs", "source", "tmpfs", "options", List.of("nosuid", "mode=755", "size=64k"))));
        spec.put("linux", linux);
        try {
            PrivateFiles.directory(bundle);
            AtomicFiles.writeString(bundle.resolve("config.json"), Json.write(spec));
        } catch (IOException e) {
            throw BerthException.fromIo("cannot write the infra bundle " + bundle, bundle, e);
        }
    }
}
