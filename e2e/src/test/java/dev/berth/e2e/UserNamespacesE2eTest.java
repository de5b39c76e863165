package dev.berth.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.berth.cri.v1.Container;
import dev.berth.cri.v1.ContainerConfig;
import dev.berth.cri.v1.ContainerMetadata;
import dev.berth.cri.v1.ContainerStatusRequest;
import dev.berth.cri.v1.CreateContainerRequest;
import dev.berth.cri.v1.ExecSyncRequest;
import dev.berth.cri.v1.ExecSyncResponse;
import dev.berth.cri.v1.IDMapping;
import dev.berth.cri.v1.ImageSpec;
import dev.berth.cri.v1.LinuxContainerConfig;
import dev.berth.cri.v1.LinuxContainerSecurityContext;
import dev.berth.cri.v1.LinuxPodSandboxConfig;
import dev.berth.cri.v1.LinuxSandboxSecurityContext;
import dev.berth.cri.v1.ListContainersRequest;
import dev.berth.cri.v1.ListPodSandboxRequest;
import dev.berth.cri.v1.NamespaceMode;
import dev.berth.cri.v1.NamespaceOption;
import dev.berth.cri.v1.PodSandbox;
import dev.berth.cri.v1.PodSandboxConfig;
import dev.berth.cri.v1.PodSandboxMetadata;
import dev.berth.cri.v1.PodSandboxStatusRequest;
import dev.berth.cri.v1.RemoveContainerRequest;
import dev.berth.cri.v1.RemovePodSandboxRequest;
import dev.berth.cri.v1.RunPodSandboxRequest;
import dev.berth.cri.v1.StartContainerRequest;
import dev.berth.cri.v1.UserNamespace;
import dev.berth.images.testing.TestImage;
import dev.berth.images.testing.TestLayer;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A pod in a user namespace of its own through the real daemon (runc): inside, the maps are the
 * pod's, root is the mapped host uid, and the files berth made for the pod (root filesystem,
 * /etc/hosts, /etc/resolv.conf, /dev/shm) are owned by the pod's root; after removal nothing
 * (pin, mount, process) is left.
 */
@Tag("root")
class UserNamespacesE2eTest {
    static final String IMAGE = "docker.io/e2e/busybox:1";
    static final String BRIDGE = "berthun0";
    static final String SUBNET = "10.197.16.0/20";
    /** Far above any real user of this host. */
    static final int HOST_ID = 1_500_000_000;

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
            if (Files.exists(Path.of("/sys/class/net/" + BRIDGE))) {
                new ProcessBuilder("ip", "link", "delete", BRIDGE).start().waitFor();
            }
            List<String> left = PodSandboxE2eTest.mountsUnder(dir);
            for (int i = left.size() - 1; i >= 0; i--) {
                new ProcessBuilder("umount", "--lazy", left.get(i)).start().waitFor();
            }
        }
    }

    static UserNamespace userns(NamespaceMode mode, int hostId) {
        IDMapping m = IDMapping.newBuilder().setContainerId(0).setHostId(hostId).setLength(65536).build();
        return UserNamespace.newBuilder().setMode(mode).addUids(m).addGids(m).build();
    }

    static RunPodSandboxRequest pod(String name, UserNamespace userns) {
        return RunPodSandboxRequest.newBuilder().setConfig(PodSandboxConfig.newBuilder()
                .setMetadata(PodSandboxMetadata.newBuilder().setName(name).setNamespace("e2e").setUid("uid-" + name))
                .setHostname(name)
                .setLinux(LinuxPodSandboxConfig.newBuilder().setSecurityContext(LinuxSandboxSecurityContext.newBuilder()
                        .setNamespaceOptions(NamespaceOption.newBuilder().setPid(NamespaceMode.POD).setUsernsOptions(userns)))))
                .build();
    }

    static CreateContainerRequest container(String pod, String name, UserNamespace userns) {
        return CreateContainerRequest.newBuilder().setPodSandboxId(pod).setConfig(ContainerConfig.newBuilder()
                .setMetadata(ContainerMetadata.newBuilder().setName(name))
                .setImage(ImageSpec.newBuilder().setImage(IMAGE))
                .addCommand("sleep").addArgs("1000")
                .setLinux(LinuxContainerConfig.newBuilder().setSecurityContext(LinuxContainerSecurityContext.newBuilder()
                        .setNamespaceOptions(NamespaceOption.newBuilder().setPid(NamespaceMode.POD).setUsernsOptions(userns)))))
                .build();
    }

    @Test
    void aPodInItsOwnUserNamespaceSeesItsMapsAndOwnsItsFilesAndLeavesNothing() throws Exception {
        // the OCI runtime resolves the pod's root filesystems from inside the pod's user namespace,
        // as any other user of the host: the test's directory (JUnit makes it 0700) must be
        // traversable as berth's run root is
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx--x--x"));
        Path config = Files.writeString(dir.resolve("berth.toml"), "[network]\ncni_config_dir = \"" + dir.resolve("net.d")
                + "\"\ndefault_bridge = \"" + BRIDGE + "\"\ndefault_subnet = \"" + SUBNET + "\"\n");
        berth = BerthProcess.start(dir.resolve("berth"), "--config", config.toString());
        importBusybox();
        UserNamespace userns = userns(NamespaceMode.POD, HOST_ID);

        // refused by the daemon as by the translation's unit tests
        StatusRuntimeException container = assertThrows(StatusRuntimeException.class,
                () -> berth.runtime().runPodSandbox(pod("refused", userns(NamespaceMode.CONTAINER, HOST_ID))));
        assertEquals(Status.Code.INVALID_ARGUMENT, container.getStatus().getCode());

        String pod = berth.runtime().runPodSandbox(pod("mapped", userns)).getPodSandboxId();
        assertEquals(userns, berth.runtime().podSandboxStatus(PodSandboxStatusRequest.newBuilder().setPodSandboxId(pod).build())
                .getStatus().getLinux().getNamespaces().getOptions().getUsernsOptions(), "the status reports the pod's user namespace");

        StatusRuntimeException other = assertThrows(StatusRuntimeException.class,
                () -> berth.runtime().createContainer(container(pod, "other", userns(NamespaceMode.POD, HOST_ID + 65536))));
        assertEquals(Status.Code.INVALID_ARGUMENT, other.getStatus().getCode(), "a container's maps must be its pod's");

        String c = berth.runtime().createContainer(container(pod, "app", userns)).getContainerId();
        berth.runtime().startContainer(StartContainerRequest.newBuilder().setContainerId(c).build());

        assertEquals("0 " + HOST_ID + " 65536", squeeze(exec(c, "cat", "/proc/self/uid_map")));
        assertEquals("0 " + HOST_ID + " 65536", squeeze(exec(c, "cat", "/proc/self/gid_map")));
        assertEquals("0", exec(c, "id", "-u").strip(), "root inside");
        long pid = new ObjectMapper().readTree(berth.runtime().containerStatus(ContainerStatusRequest.newBuilder()
                .setContainerId(c).setVerbose(true).build()).getInfoOrThrow("info")).path("pid").asLong();
        Matcher uid = Pattern.compile("(?m)^Uid:\\s+(\\d+)").matcher(Files.readString(Path.of("/proc/" + pid + "/status")));
        assertTrue(uid.find());
        assertEquals(HOST_ID, Long.parseLong(uid.group(1)), "root in the pod is the mapped uid on the host");

        // owned by the pod's root inside (no file shows as the overflow id 65534)
        assertEquals("0:0 0:0 0:0 0:0 0:0 0:0 0:0", squeeze(exec(c, "stat", "-c", "%u:%g", "/", "/bin/busybox", "/etc",
                "/etc/hosts", "/etc/resolv.conf", "/etc/hostname", "/dev/shm")));
        // and usable as such: root writes into its root filesystem and /dev/shm
        exec(c, "sh", "-c", "echo x > /new && echo y > /dev/shm/new && echo z > /etc/new");
        assertEquals("mapped", exec(c, "hostname").strip());

        berth.runtime().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(c).build());
        berth.runtime().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(pod).build());
        assertEquals(List.of(), PodSandboxE2eTest.mountsUnder(dir), "no pin or mount left");
        assertEquals(List.of(), ContainerE2eTest.processesMentioning(dir.toString()).stream().filter(p -> p != berth.pid()).toList(),
                "no process left but berth");
        assertFalse(Files.exists(berth.runRoot().resolve("sandboxes").resolve(pod)), "no run directory left");
        try (var s = Files.list(berth.runRoot().resolve("rootfs-userns"))) {
            assertEquals(List.of(), s.toList(), "no root filesystem directory left");
        }
    }

    String exec(String id, String... cmd) {
        ExecSyncResponse r = berth.runtime().execSync(ExecSyncRequest.newBuilder().setContainerId(id).addAllCmd(List.of(cmd))
                .setTimeout(30).build());
        assertEquals(0, r.getExitCode(), String.join(" ", cmd) + ": " + r.getStderr().toStringUtf8());
        return r.getStdout().toStringUtf8();
    }

    static String squeeze(String s) {
        return s.strip().replaceAll("\\s+", " ");
    }

    void importBusybox() throws Exception {
        Path archive = dir.resolve("busybox.tar");
        TestLayer layer = TestLayer.busybox();
        for (String applet : List.of("sleep", "hostname", "cat", "id", "stat")) {
            layer.symlink("bin/" + applet, "busybox");
        }
        TestImage.of(layer.dir("etc", 0755).build(TestLayer.Compression.NONE)).writeDockerSave(archive, "e2e/busybox:1");
        Process p = new ProcessBuilder(BerthProcess.launcher().toString(), "image", "import", archive.toString(),
                "--root", berth.root().toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), out);
    }
}
