package dev.berth.e2e;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.berth.cri.v1.ContainerConfig;
import dev.berth.cri.v1.ContainerMetadata;
import dev.berth.cri.v1.ContainerStatusRequest;
import dev.berth.cri.v1.CreateContainerRequest;
import dev.berth.cri.v1.ExecSyncRequest;
import dev.berth.cri.v1.ExecSyncResponse;
import dev.berth.cri.v1.ImageSpec;
import dev.berth.cri.v1.Int64Value;
import dev.berth.cri.v1.LinuxContainerConfig;
import dev.berth.cri.v1.LinuxContainerSecurityContext;
import dev.berth.cri.v1.LinuxContainerUser;
import dev.berth.cri.v1.LinuxPodSandboxConfig;
import dev.berth.cri.v1.LinuxSandboxSecurityContext;
import dev.berth.cri.v1.ListPodSandboxRequest;
import dev.berth.cri.v1.NamespaceMode;
import dev.berth.cri.v1.NamespaceOption;
import dev.berth.cri.v1.PodSandboxConfig;
import dev.berth.cri.v1.PodSandboxMetadata;
import dev.berth.cri.v1.PortForwardRequest;
import dev.berth.cri.v1.RunPodSandboxRequest;
import dev.berth.cri.v1.RuntimeHandler;
import dev.berth.cri.v1.StartContainerRequest;
import dev.berth.cri.v1.StatusRequest;
import dev.berth.cri.v1.StatusResponse;
import dev.berth.cri.v1.SupplementalGroupsPolicy;
import dev.berth.images.testing.TestImage;
import dev.berth.images.testing.TestLayer;
import dev.berth.streaming.SpdyClient;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * #17's runtime features through the real daemon, with host-network pods only (no CNI): port
 * forwarding to a host-network pod, SupplementalGroupsPolicy seen inside the container and in
 * ContainerStatus, and what Status offers (handlers that run here, their features, the
 * handlers that cannot and why, checkpointing). One daemon serves every test.
 */
@Tag("root")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class CriFeaturesE2eTest {
    static final String IMAGE = "docker.io/e2e/groups:1";
    /** The image's user app (1000:1000), listed in its /etc/group as a member of extra (2345). */
    static final long APP_UID = 1000;
    static final long EXTRA_GID = 2345;
    /** A supplemental group the CRI asks for. */
    static final long POD_GID = 3000;

    @TempDir
    static Path dir;

    final ContainerE2eTest fixture = new ContainerE2eTest();
    BerthProcess berth;

    @BeforeAll
    void startBerth() throws Exception {
        fixture.dir = dir;
        // traversable as berth's run root is: the runtime resolves the root of a pod in a user
        // namespace (and of the handler probe's container in one) from inside it, as any user
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx--x--x"));
        Path config = dir.resolve("features.toml");
        // the test's own bridge and subnet, though its host-network pods never attach to a network
        Files.writeString(config, "[network]\n"
                + "cni_config_dir = \"" + dir.resolve("net.d") + "\"\n"
                + "default_bridge = \"berthft0\"\n"
                + "default_subnet = \"10.197.48.0/20\"\n");
        int metrics;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            metrics = s.getLocalPort();
        }
        berth = BerthProcess.start(dir.resolve("berth"), "--config", config.toString(),
                "--metrics-address", "127.0.0.1:" + metrics);
        fixture.berth = berth;
        importImage();
    }

    @AfterAll
    void stopBerth() throws Exception {
        try {
            fixture.cleanUp();
        } finally {
            if (Files.exists(Path.of("/sys/class/net/berthft0"))) {
                new ProcessBuilder("ip", "link", "delete", "berthft0").start().waitFor();
            }
        }
    }

    void importImage() throws Exception {
        Path archive = dir.resolve("groups.tar");
        TestLayer layer = TestLayer.busybox();
        for (String applet : List.of("sleep", "cat", "id")) {
            layer.symlink("bin/" + applet, "busybox");
        }
        layer.file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n")
                .file("etc/group", "root:x:0:\napp:x:1000:\nextra:x:2345:app\n");
        TestImage.of(layer.build(TestLayer.Compression.NONE)).writeDockerSave(archive, "e2e/groups:1");
        Process p = new ProcessBuilder(BerthProcess.launcher().toString(), "image", "import", archive.toString(),
                "--root", berth.root().toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), out);
    }

    static RunPodSandboxRequest hostNetworkPod(String name, String handler, NamespaceMode pid) {
        return RunPodSandboxRequest.newBuilder().setRuntimeHandler(handler).setConfig(PodSandboxConfig.newBuilder()
                .setMetadata(PodSandboxMetadata.newBuilder().setName(name).setNamespace("features").setUid("uid-" + name))
                .setLogDirectory("")
                .setLinux(LinuxPodSandboxConfig.newBuilder().setSecurityContext(LinuxSandboxSecurityContext.newBuilder()
                        .setNamespaceOptions(NamespaceOption.newBuilder().setNetwork(NamespaceMode.NODE).setPid(pid)))))
                .build();
    }

    // ---------------------------------------------------------------- port-forward

    @Test
    void portForwardToAHostNetworkPodReachesTheHostsLoopbackAndAClosedPortReportsOnItsErrorStream() throws Exception {
        String pod = berth.runtime().runPodSandbox(hostNetworkPod("pf", "", NamespaceMode.CONTAINER)).getPodSandboxId();
        int closed;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            closed = s.getLocalPort();
        }
        try (ServerSocket echo = dev.berth.streaming.EchoServerMain.inThisProcess(InetAddress.getByName("127.0.0.1"))) {
            int port = echo.getLocalPort();
            String url = berth.runtime().portForward(PortForwardRequest.newBuilder().setPodSandboxId(pod).build()).getUrl();
            try (SpdyClient c = SpdyClient.open(url, "portforward.k8s.io")) {
                SpdyClient.Stream error = c.stream("streamtype", "error", "port", Integer.toString(port), "requestid", "0");
                SpdyClient.Stream data = c.stream("streamtype", "data", "port", Integer.toString(port), "requestid", "0");
                byte[] payload = new byte[128 * 1024];
                new Random(17).nextBytes(payload);
                data.write(payload);
                assertArrayEquals(payload, data.awaitBytes(payload.length), "the bytes came back through the host's loopback");
                data.close();
                assertEquals("", error.awaitEnd(), "nothing on the error stream");
                data.awaitEnd();

                SpdyClient.Stream badError = c.stream("streamtype", "error", "port", Integer.toString(closed), "requestid", "1");
                SpdyClient.Stream badData = c.stream("streamtype", "data", "port", Integer.toString(closed), "requestid", "1");
                String message = badError.awaitEnd();
                assertTrue(message.startsWith("error forwarding port " + closed + " to pod sandbox " + pod), message);
                badData.awaitEnd();
            }
        }
    }

    // ---------------------------------------------------------------- SupplementalGroupsPolicy

    String runAsApp(String pod, String name, SupplementalGroupsPolicy policy) {
        String id = berth.runtime().createContainer(CreateContainerRequest.newBuilder().setPodSandboxId(pod)
                .setSandboxConfig(hostNetworkPod("groups", "", NamespaceMode.CONTAINER).getConfig())
                .setConfig(ContainerConfig.newBuilder()
                        .setMetadata(ContainerMetadata.newBuilder().setName(name))
                        .setImage(ImageSpec.newBuilder().setImage(IMAGE))
                        .addCommand("sleep").addArgs("1000")
                        .setLinux(LinuxContainerConfig.newBuilder().setSecurityContext(LinuxContainerSecurityContext.newBuilder()
                                .setRunAsUser(Int64Value.newBuilder().setValue(APP_UID))
                                .addSupplementalGroups(POD_GID)
                                .setSupplementalGroupsPolicy(policy)
                                .setNamespaceOptions(NamespaceOption.newBuilder().setNetwork(NamespaceMode.NODE)))))
                .build()).getContainerId();
        berth.runtime().startContainer(StartContainerRequest.newBuilder().setContainerId(id).build());
        return id;
    }

    String exec(String id, String... cmd) {
        ExecSyncResponse r = berth.runtime().execSync(ExecSyncRequest.newBuilder().setContainerId(id)
                .addAllCmd(List.of(cmd)).setTimeout(30).build());
        assertEquals(0, r.getExitCode(), r.getStderr().toStringUtf8());
        return r.getStdout().toStringUtf8().strip();
    }

    LinuxContainerUser user(String id) {
        return berth.runtime().containerStatus(ContainerStatusRequest.newBuilder().setContainerId(id).build())
                .getStatus().getUser().getLinux();
    }

    /** The Groups line of the container process's /proc status, as the kernel has it. */
    String kernelGroups(String id) {
        return exec(id, "sh", "-c", "grep '^Groups:' /proc/1/status").replaceFirst("^Groups:\\s*", "").strip();
    }

    @Test
    void mergeGivesTheImagesGroupOfTheUserAndStrictDoesNotInsideTheContainerAndInItsStatus() {
        String pod = berth.runtime().runPodSandbox(hostNetworkPod("groups", "", NamespaceMode.CONTAINER)).getPodSandboxId();
        String merge = runAsApp(pod, "merge", SupplementalGroupsPolicy.Merge);
        String strict = runAsApp(pod, "strict", SupplementalGroupsPolicy.Strict);

        assertEquals("1000 2345 3000", exec(merge, "id", "-G"), "Merge: the image's extra group is there");
        assertEquals("1000 2345 3000", kernelGroups(merge));
        LinuxContainerUser m = user(merge);
        assertEquals(APP_UID, m.getUid());
        assertEquals(1000, m.getGid());
        assertEquals(List.of(1000L, EXTRA_GID, POD_GID), m.getSupplementalGroupsList());

        assertEquals("1000 3000", exec(strict, "id", "-G"), "Strict: only the primary gid and the pod's groups");
        assertEquals("1000 3000", kernelGroups(strict));
        LinuxContainerUser s = user(strict);
        assertEquals(APP_UID, s.getUid());
        assertEquals(1000, s.getGid());
        assertEquals(List.of(1000L, POD_GID), s.getSupplementalGroupsList());
        assertFalse(s.getSupplementalGroupsList().contains(EXTRA_GID));
    }

    // ---------------------------------------------------------------- Status

    StatusResponse probedStatus() throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (true) {
            StatusResponse r = berth.runtime().status(StatusRequest.newBuilder().setVerbose(true).build());
            if (!r.getInfoOrThrow("config").contains("probingRuntimeHandlers") || System.nanoTime() > deadline) {
                return r;
            }
            Thread.sleep(50);
        }
    }

    @Test
    void statusOffersTheHandlersThatRunHereNamesTheOthersWithTheirReasonAndSaysWhyThereIsNoCheckpoint() throws Exception {
        StatusResponse r = probedStatus();
        JsonNode info = new ObjectMapper().readTree(r.getInfoOrThrow("config"));
        System.out.println("berth Status on this host: handlers " + r.getRuntimeHandlersList() + " verbose " + info);
        assertTrue(info.path("probingRuntimeHandlers").isMissingNode(), info.toString());
        List<String> offered = r.getRuntimeHandlersList().stream().map(RuntimeHandler::getName).toList();
        assertEquals("", offered.get(0), "the default handler under the empty name first");
        assertTrue(offered.contains("runc"), offered.toString());
        assertTrue(r.getFeatures().getSupplementalGroupsPolicy());
        // runc 1.1 lists rro and the user namespace in its features, and this kernel has mount_setattr:
        // the default handler and runc offer both (the tests of each feature run them for real)
        for (RuntimeHandler h : r.getRuntimeHandlersList()) {
            if (h.getName().isEmpty() || h.getName().equals("runc")) {
                assertTrue(h.getFeatures().getRecursiveReadOnlyMounts(), h.toString());
                assertTrue(h.getFeatures().getUserNamespaces(), h.toString());
            }
        }

        boolean hybrid = HostCgroups.hybridWithV2Controllers();
        if (hybrid) {
            assertFalse(offered.contains("crun"), offered.toString());
            assertTrue(info.path("unavailableRuntimeHandlers").path("crun").asText()
                    .contains("cgroups in hybrid mode not supported"), info.toString());
            // a pod of the refused handler still fails cleanly and leaves no sandbox
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> berth.runtime()
                    .runPodSandbox(hostNetworkPod("crun", "crun", NamespaceMode.POD)));
            assertTrue(e.getStatus().getDescription().contains("hybrid"), e.getStatus().toString());
            assertTrue(berth.runtime().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsList().stream()
                    .noneMatch(p -> p.getMetadata().getName().equals("crun")));
        }
        String checkpoint = info.path("checkpoint").asText();
        assertTrue(checkpoint.startsWith("unsupported: CheckpointContainer is not implemented (UNIMPLEMENTED); "), checkpoint);
        assertFalse(checkpoint.contains("being checked"), checkpoint);
        System.out.println("berth Status on this host: handlers " + r.getRuntimeHandlersList() + " features "
                + r.getFeatures() + " verbose " + info);
    }

    /** The cgroup layout crun 1.8 refuses: a unified hierarchy with controllers beside v1 hierarchies. */
    static final class HostCgroups {
        static boolean hybridWithV2Controllers() throws IOException {
            Path controllers = Path.of("/sys/fs/cgroup/unified/cgroup.controllers");
            return Files.exists(controllers) && !Files.readString(controllers).isBlank();
        }
    }
}
