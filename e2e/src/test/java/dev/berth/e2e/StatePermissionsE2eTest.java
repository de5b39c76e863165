package dev.berth.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.cri.v1.Container;
import dev.berth.cri.v1.ContainerStatusRequest;
import dev.berth.cri.v1.CreateContainerRequest;
import dev.berth.cri.v1.ExecSyncRequest;
import dev.berth.cri.v1.ExecSyncResponse;
import dev.berth.cri.v1.Int64Value;
import dev.berth.cri.v1.LinuxContainerSecurityContext;
import dev.berth.cri.v1.ListContainersRequest;
import dev.berth.cri.v1.ListPodSandboxRequest;
import dev.berth.cri.v1.NamespaceMode;
import dev.berth.cri.v1.NamespaceOption;
import dev.berth.cri.v1.PodSandbox;
import dev.berth.cri.v1.RemoveContainerRequest;
import dev.berth.cri.v1.RemovePodSandboxRequest;
import dev.berth.cri.v1.StartContainerRequest;
import dev.berth.images.testing.TestImage;
import dev.berth.images.testing.TestLayer;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * berth's state against another local user: as {@code nobody}, nothing of a running container
 * (its record, its spec with the environment, its log, the lists of containers and sandboxes)
 * can be read, while the container itself, running as a non-root user, still reads the pod's
 * /etc files and uses /dev/shm. Also: a symbolic link planted at a log path, and a TARGET pid
 * namespace in another pod, are refused through the real daemon, conmon and runc.
 */
@Tag("root")
class StatePermissionsE2eTest {
    static final String SECRET = "e2e-secret-value-7f3a";

    @TempDir
    Path dir;

    BerthProcess berth;

    @AfterEach
    void cleanUp() throws Exception {
        if (berth == null) {
            return;
        }
        try {
            if (berth.process().isAlive()) {
                for (Container c : berth.runtime().listContainers(ListContainersRequest.getDefaultInstance()).getContainersList()) {
                    berth.runtime().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(c.getId()).build());
                }
                for (PodSandbox p : berth.runtime().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsList()) {
                    berth.runtime().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(p.getId()).build());
                }
            }
        } finally {
            berth.close();
            for (long pid : ContainerE2eTest.processesMentioning(dir.toString())) {
                new ProcessBuilder("kill", "-KILL", Long.toString(pid)).start().waitFor();
            }
            if (Files.exists(Path.of("/sys/class/net/berthe2e0"))) {
                new ProcessBuilder("ip", "link", "delete", "berthe2e0").start().waitFor();
            }
            List<String> left = PodSandboxE2eTest.mountsUnder(dir);
            for (int i = left.size() - 1; i >= 0; i--) {
                new ProcessBuilder("umount", "--lazy", left.get(i)).start().waitFor();
            }
        }
    }

    @Test
    void anotherUserReadsNothingOfARunningContainerWhichStillReadsItsPodFiles() throws Exception {
        // the test's own directories are open to others, as /var/lib and /run are: only berth's modes close anything
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path control = Files.writeString(dir.resolve("control"), "readable\n");
        Files.setPosixFilePermissions(control, PosixFilePermissions.fromString("rw-r--r--"));
        berth = BerthProcess.start(dir.resolve("berth"));
        Files.setPosixFilePermissions(dir.resolve("berth"), PosixFilePermissions.fromString("rwxr-xr-x"));
        importBusybox();
        // the kubelet makes the pod's log directory 0755
        Path logs = Files.createDirectories(dir.resolve("logs"));
        Files.setPosixFilePermissions(logs, PosixFilePermissions.fromString("rwxr-xr-x"));
        String pod = berth.runtime().runPodSandbox(ContainerE2eTest.pod("perm", logs)).getPodSandboxId();

        CreateContainerRequest base = ContainerE2eTest.request(pod, "app", "app/0.log");
        CreateContainerRequest asUser = base.toBuilder().setConfig(base.getConfig().toBuilder()
                .addEnvs(dev.berth.cri.v1.KeyValue.newBuilder().setKey("TOKEN").setValue(com.google.protobuf.ByteString.copyFromUtf8(SECRET)))
                .setLinux(base.getConfig().getLinux().toBuilder().setSecurityContext(LinuxContainerSecurityContext.newBuilder()
                        .setNamespaceOptions(NamespaceOption.newBuilder().setPid(NamespaceMode.POD))
                        .setRunAsUser(Int64Value.newBuilder().setValue(1000))))).build();
        String id = berth.runtime().createContainer(asUser).getContainerId();
        berth.runtime().startContainer(StartContainerRequest.newBuilder().setContainerId(id).build());

        // the container, as uid 1000, reads its pod's files and writes to /dev/shm
        assertEquals("1000", exec(id, "id", "-u").getStdout().toStringUtf8().strip());
        ExecSyncResponse hosts = exec(id, "cat", "/etc/hosts");
        assertEquals(0, hosts.getExitCode(), hosts.getStderr().toStringUtf8());
        assertTrue(hosts.getStdout().toStringUtf8().contains("perm"), hosts.getStdout().toStringUtf8());
        ExecSyncResponse resolv = exec(id, "cat", "/etc/resolv.conf");
        assertEquals(0, resolv.getExitCode(), resolv.getStderr().toStringUtf8());
        assertEquals(0, exec(id, "cat", "/etc/hostname").getExitCode());
        assertEquals(0, exec(id, "sh", "-c", "echo x > /dev/shm/mine && cat /dev/shm/mine").getExitCode());
        assertEquals(0, exec(id, "ls", "/").getExitCode(), "the container's / is 0755");

        String sandbox = berth.runtime().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItems(0).getId();
        Path log = logs.resolve("app/0.log");
        ContainerE2eTest.awaitContent(log, " stdout F hello");
        List<Path> files = List.of(
                berth.root().resolve("containers").resolve(id).resolve("record.json"),
                berth.runRoot().resolve("containers").resolve(id).resolve("config.json"),
                berth.root().resolve("sandboxes").resolve(sandbox).resolve("sandbox.json"),
                log);
        for (Path f : files) {
            assertTrue(Files.readString(f).length() > 0, f + " exists and root reads it");
        }
        assertTrue(Files.readString(files.get(1)).contains(SECRET), "the spec holds the environment");

        // the control: nobody reaches and reads a world-readable file beside berth's directories
        assertEquals(0, asNobody("cat", control.toString()).exitCode, "setpriv works and the test's directories are open");
        List<String> readable = new ArrayList<>();
        for (Path f : files) {
            Result r = asNobody("cat", f.toString());
            if (r.exitCode == 0 || r.output.contains(SECRET)) {
                readable.add(f + ": " + r.output.substring(0, Math.min(120, r.output.length())));
            }
        }
        for (Path d : List.of(berth.root().resolve("containers"), berth.runRoot().resolve("containers"),
                berth.root().resolve("sandboxes"), berth.runRoot().resolve("sandboxes"), berth.root().resolve("container-layers"),
                berth.runRoot().resolve("rootfs"), berth.runRoot().resolve("exits"), berth.runRoot().resolve("sockets"),
                berth.root().resolve("cni/results"), berth.root(), berth.runRoot(), logs.resolve("app"))) {
            if (Files.isDirectory(d) && asNobody("ls", d.toString()).exitCode == 0) {
                readable.add(d + " (listed)");
            }
        }
        assertEquals(List.of(), readable, "what nobody could read");
        assertEquals("rwx--x--x", PosixFilePermissions.toString(Files.getPosixFilePermissions(berth.root())));
        assertEquals("rwx--x--x", PosixFilePermissions.toString(Files.getPosixFilePermissions(berth.runRoot())));
    }

    @Test
    void aSymlinkAtTheLogPathIsRefusedAndConmonNeverWritesThroughIt() throws Exception {
        berth = BerthProcess.start(dir.resolve("berth"));
        importBusybox();
        Path logs = Files.createDirectories(dir.resolve("logs"));
        String pod = berth.runtime().runPodSandbox(ContainerE2eTest.pod("links", logs)).getPodSandboxId();
        Path outside = Files.writeString(dir.resolve("outside.txt"), "precious\n");
        Files.createDirectories(logs.resolve("evil"));
        Files.createSymbolicLink(logs.resolve("evil/0.log"), outside);
        Path outsideDir = Files.createDirectories(dir.resolve("outside-dir"));
        Files.createSymbolicLink(logs.resolve("linked"), outsideDir);

        for (String logPath : List.of("evil/0.log", "linked/0.log", "../escape.log")) {
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> berth.runtime().createContainer(
                    ContainerE2eTest.request(pod, "evil", logPath)), logPath);
            assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), logPath + ": " + e.getStatus());
        }
        Thread.sleep(500); // a container started anyway would have said hello by now
        assertEquals("precious\n", Files.readString(outside), "the file behind the link is untouched");
        assertEquals(List.of(), listing(outsideDir), "nothing created through the linked directory");
        assertEquals(false, Files.exists(dir.resolve("escape.log")));
        assertEquals(0, berth.runtime().listContainers(ListContainersRequest.getDefaultInstance()).getContainersCount());
    }

    @Test
    void aTargetPidNamespaceInAnotherPodIsRefused() throws Exception {
        berth = BerthProcess.start(dir.resolve("berth"));
        importBusybox();
        Path logs = Files.createDirectories(dir.resolve("logs"));
        String podA = berth.runtime().runPodSandbox(ContainerE2eTest.pod("a", logs.resolve("a"))).getPodSandboxId();
        String podB = berth.runtime().runPodSandbox(ContainerE2eTest.pod("b", logs.resolve("b"))).getPodSandboxId();
        String victim = berth.runtime().createContainer(ContainerE2eTest.request(podA, "victim", "victim/0.log")).getContainerId();
        berth.runtime().startContainer(StartContainerRequest.newBuilder().setContainerId(victim).build());

        CreateContainerRequest base = ContainerE2eTest.request(podB, "spy", "spy/0.log");
        CreateContainerRequest spy = base.toBuilder().setConfig(base.getConfig().toBuilder()
                .setLinux(base.getConfig().getLinux().toBuilder().setSecurityContext(LinuxContainerSecurityContext.newBuilder()
                        .setNamespaceOptions(NamespaceOption.newBuilder().setPid(NamespaceMode.TARGET).setTargetId(victim))))).build();
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> berth.runtime().createContainer(spy));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.getStatus().toString());
        CreateContainerRequest none = spy.toBuilder().setConfig(spy.getConfig().toBuilder()
                .setLinux(spy.getConfig().getLinux().toBuilder().setSecurityContext(LinuxContainerSecurityContext.newBuilder()
                        .setNamespaceOptions(NamespaceOption.newBuilder().setPid(NamespaceMode.TARGET).setTargetId("f".repeat(64)))))).build();
        assertEquals(Status.Code.NOT_FOUND, assertThrows(StatusRuntimeException.class,
                () -> berth.runtime().createContainer(none)).getStatus().getCode());
        assertEquals(1, berth.runtime().listContainers(ListContainersRequest.getDefaultInstance()).getContainersCount());
        assertNotEquals("", berth.runtime().containerStatus(ContainerStatusRequest.newBuilder().setContainerId(victim).build())
                .getStatus().getId());
    }

    // ---------------------------------------------------------------- helpers

    record Result(int exitCode, String output) {
    }

    /** Runs a command as nobody:nogroup without supplementary groups. */
    static Result asNobody(String... cmd) throws Exception {
        List<String> argv = new ArrayList<>(List.of("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"));
        argv.addAll(List.of(cmd));
        Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        return new Result(p.waitFor(), out);
    }

    static List<String> listing(Path d) throws Exception {
        try (var s = Files.list(d)) {
            return s.map(p -> p.getFileName().toString()).toList();
        }
    }

    ExecSyncResponse exec(String id, String... cmd) {
        return berth.runtime().execSync(ExecSyncRequest.newBuilder().setContainerId(id).addAllCmd(List.of(cmd)).setTimeout(30).build());
    }

    void importBusybox() throws Exception {
        Path archive = dir.resolve("busybox.tar");
        TestLayer layer = TestLayer.busybox();
        for (String applet : List.of("echo", "sleep", "hostname", "cat", "id", "ls")) {
            layer.symlink("bin/" + applet, "busybox");
        }
        TestImage.of(layer.build(TestLayer.Compression.NONE)).writeDockerSave(archive, "e2e/busybox:1");
        Process p = new ProcessBuilder(BerthProcess.launcher().toString(), "image", "import", archive.toString(),
                "--root", berth.root().toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), out);
    }
}
