package dev.berth.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import dev.berth.cri.v1.ListPodSandboxRequest;
import dev.berth.cri.v1.PodSandbox;
import dev.berth.cri.v1.RemovePodSandboxRequest;
import dev.berth.cri.v1.StopPodSandboxRequest;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.stream.Stream;

/** What the tests of the real {@code berth agent} process share: waiting, a local busybox image, and cleaning up after a failed run. */
final class AgentTests {
    private AgentTests() {
    }

    /** {@code probe}'s first non-null answer within {@code within}; the test fails naming {@code what} otherwise. */
    static <T> T await(String what, Duration within, Callable<T> probe) throws Exception {
        long deadline = System.nanoTime() + within.toNanos();
        while (System.nanoTime() < deadline) {
            T value = probe.call();
            if (value != null) {
                return value;
            }
            Thread.sleep(100);
        }
        return fail("never happened: " + what);
    }

    /** Runs busybox's {@code cmd} in container {@code id} through the agent's runtime (ExecSync, 30 s at most). */
    static dev.berth.cri.v1.ExecSyncResponse exec(BerthProcess agent, String id, String... cmd) {
        java.util.List<String> argv = new java.util.ArrayList<>(java.util.List.of("/bin/busybox"));
        argv.addAll(java.util.List.of(cmd));
        return agent.runtime().withDeadlineAfter(60, java.util.concurrent.TimeUnit.SECONDS).execSync(
                dev.berth.cri.v1.ExecSyncRequest.newBuilder().setContainerId(id).addAllCmd(argv).setTimeout(30).build());
    }

    /** The output of a command that must succeed. */
    static String ok(dev.berth.cri.v1.ExecSyncResponse r) {
        assertEquals(0, r.getExitCode(), r.getStderr().toStringUtf8());
        return r.getStdout().toStringUtf8();
    }

    static int freeLoopbackPort() throws IOException {
        try (java.net.ServerSocket s = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    /**
     * A one-layer image {@code tag} of the host's static busybox ({@code sh} and {@code sleep}
     * linked to it) in the image store under {@code root}, so pods need no registry; built in
     * {@code work}.
     */
    static void busyboxImage(Path work, Path root, String tag) throws IOException, InterruptedException {
        Path rootfs = work.resolve("rootfs");
        Files.createDirectories(rootfs.resolve("bin"));
        Files.copy(Path.of("/bin/busybox"), rootfs.resolve("bin/busybox"));
        Files.createSymbolicLink(rootfs.resolve("bin/sh"), Path.of("busybox"));
        Files.createSymbolicLink(rootfs.resolve("bin/sleep"), Path.of("busybox"));
        Process build = new ProcessBuilder(BerthProcess.launcher().toString(), "image", "build-rootfs", rootfs.toString(),
                "--tag", tag, "--root", root.toString()).redirectErrorStream(true).start();
        String out = new String(build.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, build.waitFor(), out);
    }

    /** Deletes every file in {@code dir} (the manifests of a test's static pods). */
    static void emptyDirectory(Path dir) throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.toList()) {
                Files.delete(f);
            }
        }
    }

    /**
     * The agent leaves its pods running when it stops, so after a failed run a daemon on the same
     * directories (root {@code berthDir}, config {@code config}) stops and removes every sandbox.
     */
    static void removeLeftoverPods(Path berthDir, Path config) throws Exception {
        try (BerthProcess daemon = BerthProcess.start(berthDir, "--config", config.toString(), "--metrics-address", "")) {
            for (PodSandbox s : daemon.runtime().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsList()) {
                daemon.runtime().stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(s.getId()).build());
                daemon.runtime().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(s.getId()).build());
            }
        }
    }

    static void deleteBridge(String bridge) throws IOException, InterruptedException {
        new ProcessBuilder("ip", "link", "del", bridge).redirectErrorStream(true).start().waitFor();
    }
}
