package dev.berth.e2e.reliability;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import dev.berth.cri.v1.ContainerConfig;
import dev.berth.cri.v1.ContainerMetadata;
import dev.berth.cri.v1.CreateContainerRequest;
import dev.berth.cri.v1.ExecSyncRequest;
import dev.berth.cri.v1.ExecSyncResponse;
import dev.berth.cri.v1.ImageSpec;
import dev.berth.cri.v1.Int64Value;
import dev.berth.cri.v1.LinuxContainerConfig;
import dev.berth.cri.v1.LinuxContainerSecurityContext;
import dev.berth.cri.v1.LinuxPodSandboxConfig;
import dev.berth.cri.v1.LinuxSandboxSecurityContext;
import dev.berth.cri.v1.NamespaceMode;
import dev.berth.cri.v1.NamespaceOption;
import dev.berth.cri.v1.PodSandboxConfig;
import dev.berth.cri.v1.PodSandboxMetadata;
import dev.berth.cri.v1.PullImageRequest;
import dev.berth.cri.v1.RunPodSandboxRequest;
import dev.berth.cri.v1.StartContainerRequest;
import dev.berth.e2e.BerthProcess;
import dev.berth.images.testing.RegistryFixture;
import dev.berth.images.testing.TestImage;
import dev.berth.images.testing.TestLayer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What a container of a default pod cannot do: see host processes, write {@code /proc/sys},
 * load a kernel module, mount, reach the CRI socket; and what a non-root user cannot read of
 * berth's state, from inside a container or on the host. Each check runs through ExecSync in
 * a container of busybox; all are checked and the failures reported together.
 */
@Tag("root")
class ContainerConfinementTest {
    @TempDir
    Path dir;

    BerthProcess berth;
    final List<String> problems = new ArrayList<>();

    @Test
    void aContainerCannotSeeHostProcessesWriteProcSysLoadModulesMountOrReachTheSocketAndStateIsClosedToOtherUsers() throws Exception {
        try (RegistryFixture registry = RegistryFixture.start(dir.resolve("registry"))) {
            TestImage.of(FuzzCriReliabilityTest.busybox().build(TestLayer.Compression.GZIP)).push(registry.pusher(), "confined/busybox", "1");
            String image = registry.host() + "/confined/busybox:1";
            berth = OwnNetworkDaemon.start(dir);
            berth.images().pullImage(PullImageRequest.newBuilder().setImage(ImageSpec.newBuilder().setImage(image)).build());
            PodSandboxConfig pod = PodSandboxConfig.newBuilder()
                    .setMetadata(PodSandboxMetadata.newBuilder().setName("confined").setNamespace("e2e").setUid("uid-confined"))
                    .setHostname("confined")
                    .setLogDirectory(dir.resolve("logs").toString())
                    .setLinux(LinuxPodSandboxConfig.newBuilder().setSecurityContext(LinuxSandboxSecurityContext.newBuilder()
                            .setNamespaceOptions(NamespaceOption.newBuilder().setPid(NamespaceMode.POD))))
                    .build();
            String podId = berth.runtime().runPodSandbox(RunPodSandboxRequest.newBuilder().setConfig(pod).build()).getPodSandboxId();
            String root = start(podId, pod, container("root", image, null));
            String user = start(podId, pod, container("user", image, 1000L));
            String socket = berth.socket().toString();

            // host processes: only the pod's own are visible
            String ps = exec(root, "ps", "-o", "pid,user,args").getStdout().toStringUtf8();
            List<String> rows = ps.lines().skip(1).map(String::strip).filter(l -> !l.isEmpty()).toList();
            check(rows.size() <= 8, "ps in the pod lists only the pod's processes, it listed " + rows.size() + ":\n" + ps);
            for (String word : List.of("java", "conmon", "docker-registry", "systemd", "berth.jar")) {
                check(!ps.contains(word), "ps in the pod shows a host process (" + word + "):\n" + ps);
            }
            long hostPids;
            try (Stream<Path> s = Files.list(Path.of("/proc"))) {
                hostPids = s.filter(p -> p.getFileName().toString().matches("\\d+")).count();
            }
            check(hostPids > rows.size(), "the host has more processes (" + hostPids + ") than the pod shows");

            // /proc/sys is read-only
            String hostname = Files.readString(Path.of("/proc/sys/kernel/hostname")).strip();
            ExecSyncResponse sysctl = exec(root, "sh", "-c", "echo escaped > /proc/sys/kernel/hostname");
            check(sysctl.getExitCode() != 0, "echo > /proc/sys/kernel/hostname succeeded in the container");
            check(hostname.equals(Files.readString(Path.of("/proc/sys/kernel/hostname")).strip()), "the host's hostname changed");
            ExecSyncResponse vm = exec(root, "sh", "-c", "echo 1 > /proc/sys/vm/drop_caches");
            check(vm.getExitCode() != 0, "echo > /proc/sys/vm/drop_caches succeeded in the container");

            // no modules: the kernel refuses before it reads the file (EPERM, not a bad format)
            ExecSyncResponse insmod = exec(root, "sh", "-c", "echo junk > /tmp/x.ko; insmod /tmp/x.ko");
            String insmodErr = insmod.getStderr().toStringUtf8() + insmod.getStdout().toStringUtf8();
            // a kernel without module support (no /proc/modules) answers ENOSYS to everyone: then CapEff below is the proof
            boolean modules = Files.exists(Path.of("/proc/modules"));
            check(insmod.getExitCode() != 0 && (!modules || insmodErr.contains("not permitted")),
                    "insmod was not refused for lack of permission: exit " + insmod.getExitCode() + ": " + insmodErr);
            long capEff = Long.parseLong(exec(root, "sh", "-c", "grep CapEff /proc/self/status").getStdout().toStringUtf8()
                    .replaceAll("(?s).*CapEff:\\s*([0-9a-f]+).*", "$1"), 16);
            check((capEff & (1L << 16)) == 0, "the container has CAP_SYS_MODULE: CapEff " + Long.toHexString(capEff));
            check((capEff & (1L << 21)) == 0, "the container has CAP_SYS_ADMIN: CapEff " + Long.toHexString(capEff));

            // no mounts
            ExecSyncResponse mount = exec(root, "sh", "-c", "mkdir -p /tmp/m && mount -t tmpfs none /tmp/m");
            check(mount.getExitCode() != 0, "mount -t tmpfs succeeded in the container");
            ExecSyncResponse bind = exec(root, "sh", "-c", "mount --bind /tmp /mnt");
            check(bind.getExitCode() != 0, "mount --bind succeeded in the container");

            // the CRI socket: not in the container's filesystem, by its path or through another process's root
            for (String id : List.of(root, user)) {
                ExecSyncResponse reach = exec(id, "sh", "-c", "test -e '" + socket + "' && echo direct; "
                        + "for r in /proc/[0-9]*/root; do test -e \"$r" + socket + "\" && echo \"$r\"; done; "
                        + "find / -xdev -type s 2>/dev/null; grep -F '" + socket + "' /proc/net/unix; true");
                String out = reach.getStdout().toStringUtf8().strip();
                check(out.isEmpty(), "the CRI socket " + socket + " or another socket is reachable from container " + id
                        + " as " + (id.equals(root) ? "root" : "uid 1000") + ": " + out);
            }

            // berth's state: absent from the container; on the host, closed to a non-root user
            ExecSyncResponse state = exec(user, "sh", "-c", "find / -xdev \\( -name record.json -o -name config.json \\) 2>/dev/null; "
                    + "test -e '" + berth.root() + "' && echo " + berth.root() + "; true");
            check(state.getStdout().toStringUtf8().isBlank(), "berth's state is visible in the container: " + state.getStdout().toStringUtf8());
            List<Path> secrets = new ArrayList<>();
            try (Stream<Path> s = Stream.concat(Files.walk(berth.root().resolve("containers")), Files.walk(berth.runRoot()))) {
                s.filter(p -> p.getFileName().toString().equals("record.json") || p.getFileName().toString().equals("config.json"))
                        .forEach(secrets::add);
            }
            check(!secrets.isEmpty(), "no record.json or config.json found under " + berth.root() + " and " + berth.runRoot());
            check(asUser(1000, "ls", berth.root().getParent().toString()) == 0,
                    "uid 1000 cannot even reach " + berth.root().getParent() + ": the checks below would prove nothing");
            for (Path p : secrets) {
                int rc = asUser(1000, "head", "-c", "1", p.toString());
                check(rc != 0, "uid 1000 on the host can read " + p);
            }
            check(asUser(1000, "ls", berth.root().resolve("containers").toString()) != 0,
                    "uid 1000 on the host can list " + berth.root().resolve("containers"));

            System.out.printf("RELIABILITY confinement: %d checks failed%s%n", problems.size(),
                    problems.isEmpty() ? "" : ":\n  " + String.join("\n  ", problems));
            assertEquals(List.of(), problems);
            assertNotEquals(0, rows.size());
        } finally {
            OwnNetworkDaemon.cleanUp(berth, dir);
        }
    }

    void check(boolean ok, String problem) {
        if (!ok) {
            problems.add(problem);
        }
    }

    String start(String podId, PodSandboxConfig pod, ContainerConfig config) {
        String id = berth.runtime().withDeadlineAfter(60, TimeUnit.SECONDS).createContainer(CreateContainerRequest.newBuilder()
                .setPodSandboxId(podId).setConfig(config).setSandboxConfig(pod).build()).getContainerId();
        berth.runtime().withDeadlineAfter(60, TimeUnit.SECONDS).startContainer(StartContainerRequest.newBuilder().setContainerId(id).build());
        return id;
    }

    static ContainerConfig container(String name, String image, Long uid) {
        LinuxContainerSecurityContext.Builder sc = LinuxContainerSecurityContext.newBuilder()
                .setNamespaceOptions(NamespaceOption.newBuilder().setPid(NamespaceMode.POD));
        if (uid != null) {
            sc.setRunAsUser(Int64Value.newBuilder().setValue(uid));
        }
        return ContainerConfig.newBuilder()
                .setMetadata(ContainerMetadata.newBuilder().setName(name))
                .setImage(ImageSpec.newBuilder().setImage(image))
                .addCommand("sh").addArgs("-c").addArgs("trap 'exit 0' TERM; while true; do sleep 1; done")
                .setLogPath(name + "/0.log")
                .setLinux(LinuxContainerConfig.newBuilder().setSecurityContext(sc))
                .build();
    }

    ExecSyncResponse exec(String id, String... cmd) {
        return berth.runtime().withDeadlineAfter(60, TimeUnit.SECONDS).execSync(ExecSyncRequest.newBuilder()
                .setContainerId(id).addAllCmd(List.of(cmd)).setTimeout(30).build());
    }

    static int asUser(int uid, String... cmd) throws Exception {
        List<String> c = new ArrayList<>(List.of("setpriv", "--reuid=" + uid, "--regid=" + uid, "--clear-groups", "--"));
        c.addAll(List.of(cmd));
        Process p = new ProcessBuilder(c).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        if (!p.waitFor(10, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            return 0;
        }
        return p.exitValue();
    }
}
