package dev.berth.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.cri.v1.Container;
import dev.berth.cri.v1.ContainerConfig;
import dev.berth.cri.v1.ContainerMetadata;
import dev.berth.cri.v1.ContainerStatusRequest;
import dev.berth.cri.v1.CreateContainerRequest;
import dev.berth.cri.v1.ExecSyncRequest;
import dev.berth.cri.v1.ExecSyncResponse;
import dev.berth.cri.v1.ImageSpec;
import dev.berth.cri.v1.ImageStatusRequest;
import dev.berth.cri.v1.LinuxPodSandboxConfig;
import dev.berth.cri.v1.LinuxSandboxSecurityContext;
import dev.berth.cri.v1.ListContainersRequest;
import dev.berth.cri.v1.ListPodSandboxRequest;
import dev.berth.cri.v1.Mount;
import dev.berth.cri.v1.MountPropagation;
import dev.berth.cri.v1.NamespaceMode;
import dev.berth.cri.v1.NamespaceOption;
import dev.berth.cri.v1.PodSandbox;
import dev.berth.cri.v1.PodSandboxConfig;
import dev.berth.cri.v1.PodSandboxMetadata;
import dev.berth.cri.v1.RemoveContainerRequest;
import dev.berth.cri.v1.RemoveImageRequest;
import dev.berth.cri.v1.RemovePodSandboxRequest;
import dev.berth.cri.v1.RunPodSandboxRequest;
import dev.berth.cri.v1.StartContainerRequest;
import dev.berth.images.testing.TestImage;
import dev.berth.images.testing.TestLayer;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * CRI mounts beyond host paths through the real daemon (runc, host-network pods): recursive
 * read-only mounts, which make a host directory's submounts read-only too, and image volumes,
 * an image of berth's store mounted read-only.
 */
@Tag("root")
class CriMountsE2eTest {
    static final String BUSYBOX = "docker.io/e2e/busybox:1";
    static final String DATA = "docker.io/e2e/data:1";
    /**
     * A handler whose runtime (runc behind a wrapper) leaves {@code rro} out of its features
     * document: berth trusts a document that rules a feature out, and refuses such mounts there.
     */
    static final String NO_RRO = "norro";

    @TempDir
    Path dir;

    BerthProcess berth;

    @AfterEach
    void cleanUp() throws Exception {
        try {
            if (berth != null && berth.process().isAlive()) {
                for (Container c : berth.runtime().listContainers(ListContainersRequest.getDefaultInstance()).getContainersList()) {
                    berth.runtime().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(c.getId()).build());
                }
                for (PodSandbox p : berth.runtime().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsList()) {
                    berth.runtime().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(p.getId()).build());
                }
            }
        } finally {
            if (berth != null) {
                berth.close();
            }
            // a safety net for a failed test: no container process or mount may stay
            for (long pid : ContainerE2eTest.processesMentioning(dir.toString())) {
                new ProcessBuilder("kill", "-KILL", Long.toString(pid)).start().waitFor();
            }
            if (Files.exists(Path.of("/sys/class/net/berthmt0"))) {
                new ProcessBuilder("ip", "link", "delete", "berthmt0").start().waitFor();
            }
            List<String> left = PodSandboxE2eTest.mountsUnder(dir);
            for (int i = left.size() - 1; i >= 0; i--) {
                new ProcessBuilder("umount", "--lazy", left.get(i)).start().waitFor();
            }
        }
    }

    // ---------------------------------------------------------------- recursive read-only

    @Test
    void recursiveReadOnlyMountsMakeSubmountsReadOnlyAndAreRefusedWhereTheyCannotBe() throws Exception {
        start();
        importImage(busyboxImage(), "e2e/busybox:1");
        Path host = Files.createDirectories(dir.resolve("host"));
        Files.writeString(host.resolve("top.txt"), "top\n");
        Path sub = Files.createDirectories(host.resolve("sub"));
        run("mount", "-t", "tmpfs", "-o", "size=1m", "berth-e2e-sub", sub.toString());
        String pod = berth.runtime().runPodSandbox(pod("rro", "")).getPodSandboxId();

        String rro = createAndStart(pod, "rro", hostMount("/host", host, true, true, MountPropagation.PROPAGATION_PRIVATE));
        ExecSyncResponse subWrite = exec(rro, "sh", "-c", "echo x > /host/sub/f");
        assertNotEquals(0, subWrite.getExitCode());
        assertTrue(subWrite.getStderr().toStringUtf8().contains("Read-only file system"), subWrite.getStderr().toStringUtf8());
        ExecSyncResponse topWrite = exec(rro, "sh", "-c", "echo x > /host/f");
        assertTrue(topWrite.getStderr().toStringUtf8().contains("Read-only file system"), topWrite.getStderr().toStringUtf8());
        assertEquals("top\n", exec(rro, "cat", "/host/top.txt").getStdout().toStringUtf8());
        assertTrue(berth.runtime().containerStatus(ContainerStatusRequest.newBuilder().setContainerId(rro).build())
                .getStatus().getMounts(0).getRecursiveReadOnly(), "ContainerStatus reports the mount as asked");

        // the contrast: plain readonly leaves the submount writable
        String ro = createAndStart(pod, "ro", hostMount("/host", host, true, false, MountPropagation.PROPAGATION_PRIVATE));
        ExecSyncResponse plainSub = exec(ro, "sh", "-c", "echo x > /host/sub/f");
        assertEquals(0, plainSub.getExitCode(), plainSub.getStderr().toStringUtf8());
        assertEquals("x\n", Files.readString(sub.resolve("f")));
        assertTrue(exec(ro, "sh", "-c", "echo x > /host/f").getStderr().toStringUtf8().contains("Read-only file system"));

        // refusals: read-write, propagation other than private, a handler whose runtime cannot
        assertCreateFails(Status.Code.INVALID_ARGUMENT, "must be readonly",
                request(pod, "rw", hostMount("/host", host, false, true, MountPropagation.PROPAGATION_PRIVATE)));
        assertCreateFails(Status.Code.INVALID_ARGUMENT, "requires private propagation",
                request(pod, "slave", hostMount("/host", host, true, true, MountPropagation.PROPAGATION_HOST_TO_CONTAINER)));
        assertCreateFails(Status.Code.INVALID_ARGUMENT, "requires private propagation",
                request(pod, "shared", hostMount("/host", host, true, true, MountPropagation.PROPAGATION_BIDIRECTIONAL)));
        String old = berth.runtime().runPodSandbox(pod("old", NO_RRO)).getPodSandboxId();
        assertCreateFails(Status.Code.INVALID_ARGUMENT, "not supported by runtime handler " + NO_RRO,
                request(old, "rro", hostMount("/host", host, true, true, MountPropagation.PROPAGATION_PRIVATE)));
        // the same handler runs the plain read-only mount
        String oldRo = createAndStart(old, "ro", hostMount("/host", host, true, false, MountPropagation.PROPAGATION_PRIVATE));
        assertEquals("top\n", exec(oldRo, "cat", "/host/top.txt").getStdout().toStringUtf8());
    }

    // ---------------------------------------------------------------- image volumes

    @Test
    void imageVolumesAreReadOnlyOutliveTheirImageAndADaemonCrashAndLeaveNothingWhenRemoved() throws Exception {
        start();
        String busyboxId = importImage(busyboxImage(), "e2e/busybox:1");
        TestLayer lower = TestLayer.create().dir("data", 0755).file("data/a.txt", "alpha\n").dir("data/sub", 0755)
                .file("data/sub/b.txt", "beta\n").file("data/plain", "not a directory\n").symlink("data/up", "../../../..")
                .symlink("data/abs", "/data/sub");
        TestLayer upper = TestLayer.create().file("top.txt", "upper\n").file("data/a.txt", "alpha from above\n");
        String dataId = importImage(TestImage.of(lower.build(TestLayer.Compression.NONE), upper.build(TestLayer.Compression.NONE)),
                "e2e/data:1");
        String pod = berth.runtime().runPodSandbox(pod("vol", "")).getPodSandboxId();

        String c = createAndStart(pod, "reader",
                imageMount("/data", DATA, ""),
                imageMount("/bin2", busyboxId, "bin"),
                imageMount("/sub", DATA, "data/abs"),
                imageMount("/up", DATA, "data/up/data/sub"));
        assertEquals("alpha from above\n", exec(c, "cat", "/data/data/a.txt").getStdout().toStringUtf8(), "layers stack");
        assertEquals("beta\n", exec(c, "cat", "/data/data/sub/b.txt").getStdout().toStringUtf8());
        assertEquals("upper\n", exec(c, "cat", "/data/top.txt").getStdout().toStringUtf8());
        ExecSyncResponse write = exec(c, "sh", "-c", "echo x > /data/new");
        assertNotEquals(0, write.getExitCode());
        assertTrue(write.getStderr().toStringUtf8().contains("Read-only file system"), write.getStderr().toStringUtf8());
        assertTrue(exec(c, "sh", "-c", "echo x > /data/data/a.txt").getStderr().toStringUtf8().contains("Read-only file system"));
        assertEquals(0, exec(c, "/bin2/busybox", "true").getExitCode(), "a one-layer image's sub-path");
        assertEquals("beta\n", exec(c, "cat", "/sub/b.txt").getStdout().toStringUtf8(), "a symlinked sub-path stays inside the image");
        assertEquals("beta\n", exec(c, "cat", "/up/b.txt").getStdout().toStringUtf8(), "\"..\" stops at the image's root");
        String mountLine = exec(c, "sh", "-c", "grep ' /data ' /proc/self/mountinfo").getStdout().toStringUtf8();
        assertTrue(mountLine.contains(" ro,") && mountLine.contains("nosuid") && mountLine.contains("nodev"), mountLine);
        assertEquals(DATA, berth.runtime().containerStatus(ContainerStatusRequest.newBuilder().setContainerId(c).build())
                .getStatus().getMounts(0).getImage().getImage());

        // refusals: unknown image, a sub-path that is missing or a file; nothing of them stays staged
        assertCreateFails(Status.Code.NOT_FOUND, "not found", request(pod, "unknown", imageMount("/data", "docker.io/e2e/none:1", "")));
        assertCreateFails(Status.Code.INVALID_ARGUMENT, "does not exist", request(pod, "missing", imageMount("/data", DATA, "data/nope")));
        assertCreateFails(Status.Code.INVALID_ARGUMENT, "not a directory", request(pod, "file", imageMount("/data", DATA, "data/plain")));
        assertCreateFails(Status.Code.INVALID_ARGUMENT, "must be readonly", request(pod, "rw",
                imageMount("/data", DATA, "").toBuilder().setReadonly(false).build()));
        assertEquals(1, stagedContainers(), "only the running container has image volumes staged");

        // the image goes from the store; its volume stays whole
        berth.images().removeImage(RemoveImageRequest.newBuilder().setImage(ImageSpec.newBuilder().setImage(DATA)).build());
        assertTrue(!berth.images().imageStatus(ImageStatusRequest.newBuilder().setImage(ImageSpec.newBuilder().setImage(dataId))
                .build()).hasImage(), "the image is removed");
        assertEquals("beta\n", exec(c, "cat", "/data/data/sub/b.txt").getStdout().toStringUtf8());

        // a crash of the daemon: the container keeps its volumes, its removal after the restart frees them
        berth.kill();
        berth.restart();
        assertEquals("upper\n", exec(c, "cat", "/data/top.txt").getStdout().toStringUtf8());
        berth.runtime().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(c).build());
        assertEquals(List.of(), PodSandboxE2eTest.mountsUnder(berth.runRoot().resolve("image-volumes")), "nothing stays mounted");
        assertEquals(0, stagedContainers(), "nothing stays staged");
        assertEquals(List.of(), volumeHolds(), "no image hold stays");
    }

    // ---------------------------------------------------------------- helpers

    private void start() throws Exception {
        Path wrapper = dir.resolve("runc-without-rro");
        Files.writeString(wrapper, "#!/bin/sh\n[ \"$1\" = features ] && { runc features | sed '/\"rro\"/d'; exit; }\n"
                + "exec runc \"$@\"\n");
        Files.setPosixFilePermissions(wrapper, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path config = dir.resolve("berth.toml");
        Files.writeString(config, "[network]\n"
                + "cni_config_dir = \"" + dir.resolve("net.d") + "\"\n"
                + "default_bridge = \"berthmt0\"\n"
                + "default_subnet = \"10.197.32.0/20\"\n"
                + "[runtime.handlers." + NO_RRO + "]\n"
                + "binary = \"" + wrapper + "\"\n");
        berth = BerthProcess.start(dir.resolve("berth"), "--config", config.toString());
    }

    static TestImage busyboxImage() throws IOException {
        TestLayer layer = TestLayer.busybox();
        for (String applet : List.of("echo", "sleep", "cat", "grep", "true")) {
            layer.symlink("bin/" + applet, "busybox");
        }
        return TestImage.of(layer.build(TestLayer.Compression.NONE));
    }

    /** Imports {@code image} as {@code repoTag} with {@code berth image import}; returns its id. */
    private String importImage(TestImage image, String repoTag) throws Exception {
        Path archive = dir.resolve(repoTag.replace('/', '_').replace(':', '_') + ".tar");
        image.writeDockerSave(archive, repoTag);
        Process p = new ProcessBuilder(BerthProcess.launcher().toString(), "image", "import", archive.toString(),
                "--root", berth.root().toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), out);
        return out.strip().split("\\s+")[0];
    }

    static RunPodSandboxRequest pod(String name, String handler) {
        return RunPodSandboxRequest.newBuilder().setRuntimeHandler(handler).setConfig(PodSandboxConfig.newBuilder()
                .setMetadata(PodSandboxMetadata.newBuilder().setName(name).setNamespace("e2e").setUid("uid-" + name))
                .setHostname(name)
                .setLinux(LinuxPodSandboxConfig.newBuilder().setSecurityContext(LinuxSandboxSecurityContext.newBuilder()
                        .setNamespaceOptions(NamespaceOption.newBuilder().setNetwork(NamespaceMode.NODE)))))
                .build();
    }

    static Mount hostMount(String containerPath, Path hostPath, boolean readonly, boolean recursive, MountPropagation propagation) {
        return Mount.newBuilder().setContainerPath(containerPath).setHostPath(hostPath.toString()).setReadonly(readonly)
                .setRecursiveReadOnly(recursive).setPropagation(propagation).build();
    }

    static Mount imageMount(String containerPath, String image, String subPath) {
        return Mount.newBuilder().setContainerPath(containerPath).setImage(ImageSpec.newBuilder().setImage(image))
                .setImageSubPath(subPath).setReadonly(true).build();
    }

    static CreateContainerRequest request(String pod, String name, Mount... mounts) {
        return CreateContainerRequest.newBuilder().setPodSandboxId(pod).setConfig(ContainerConfig.newBuilder()
                .setMetadata(ContainerMetadata.newBuilder().setName(name))
                .setImage(ImageSpec.newBuilder().setImage(BUSYBOX))
                .addCommand("sleep").addArgs("1000")
                .addAllMounts(List.of(mounts)))
                .build();
    }

    private String createAndStart(String pod, String name, Mount... mounts) {
        String id = berth.runtime().createContainer(request(pod, name, mounts)).getContainerId();
        berth.runtime().startContainer(StartContainerRequest.newBuilder().setContainerId(id).build());
        return id;
    }

    private void assertCreateFails(Status.Code code, String message, CreateContainerRequest r) {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> berth.runtime().createContainer(r));
        assertEquals(code, e.getStatus().getCode(), e.toString());
        assertTrue(String.valueOf(e.getStatus().getDescription()).contains(message), e.toString());
    }

    private ExecSyncResponse exec(String id, String... cmd) {
        return berth.runtime().execSync(ExecSyncRequest.newBuilder().setContainerId(id).addAllCmd(List.of(cmd)).setTimeout(30).build());
    }

    /** Containers with a directory of staged image volumes. */
    private long stagedContainers() throws IOException {
        Path d = berth.runRoot().resolve("image-volumes");
        if (!Files.isDirectory(d)) {
            return 0;
        }
        try (Stream<Path> s = Files.list(d)) {
            return s.count();
        }
    }

    /** The image holds of image volumes ({@code <container id>.v<n>}) in the store. */
    private List<String> volumeHolds() throws IOException {
        try (Stream<Path> s = Files.walk(berth.root())) {
            return s.filter(p -> p.getParent() != null && p.getParent().getFileName().toString().equals("holds"))
                    .map(p -> p.getFileName().toString()).filter(n -> n.contains(".v")).toList();
        }
    }

    private static void run(String... argv) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), String.join(" ", argv) + ": " + out);
    }
}
