package dev.berth.e2e;

import dev.berth.cri.v1.Container;
import dev.berth.cri.v1.ContainerStatusRequest;
import dev.berth.cri.v1.ImageSpec;
import dev.berth.cri.v1.ImageStatusRequest;
import dev.berth.cri.v1.ListContainersRequest;
import dev.berth.cri.v1.ListPodSandboxRequest;
import dev.berth.cri.v1.PodSandbox;
import dev.berth.cri.v1.PodSandboxStatusRequest;
import dev.berth.cri.v1.RemoveContainerRequest;
import dev.berth.cri.v1.RemovePodSandboxRequest;
import dev.berth.cri.v1.StartContainerRequest;
import dev.berth.cri.v1.StopContainerRequest;
import dev.berth.images.testing.TestImage;
import dev.berth.images.testing.TestLayer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.junit.jupiter.api.io.TempDir;

/**
 * Not a test of correctness: medians of the container calls through the real daemon, one
 * container after another in one pod (CreateContainer, StartContainer, ContainerStatus,
 * ListContainers, PodSandboxStatus, ImageStatus, StopContainer with a grace period, and
 * RemoveContainer of the exited container). Run with {@code -Dberth.benchmark=true};
 * {@code -Dberth.benchmark.runs} sets the number of containers (default 30). The daemon logs at
 * debug level (its step timings) to {@code berth.log} in the test's directory, kept under
 * {@code target/container-calls-benchmark.log}. Its own bridge and subnet.
 */
@EnabledIfSystemProperty(named = "berth.benchmark", matches = "true")
@Tag("root")
class ContainerCallsBenchmark {
    private static final String BRIDGE = "berthcp0";

    @TempDir
    Path dir;

    @Test
    void containerCallMedians() throws Exception {
        int runs = Integer.getInteger("berth.benchmark.runs", 30);
        Path home = dir.resolve("berth");
        Files.createDirectories(home);
        Path config = home.resolve("bench.toml");
        Files.writeString(config, "[network]\ncni_config_dir = \"" + home.resolve("net.d") + "\"\n"
                + "default_bridge = \"" + BRIDGE + "\"\ndefault_subnet = \"10.196.48.0/20\"\n");
        int port;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        Map<String, List<Double>> t = new LinkedHashMap<>();
        BerthProcess berth = BerthProcess.start(home, "--config", config.toString(), "--metrics-address",
                "127.0.0.1:" + port, "--log-level", "debug");
        try {
            Path archive = dir.resolve("busybox.tar");
            TestLayer layer = TestLayer.busybox();
            for (String applet : List.of("echo", "sleep")) {
                layer.symlink("bin/" + applet, "busybox");
            }
            TestImage.of(layer.build(TestLayer.Compression.NONE)).writeDockerSave(archive, "e2e/busybox:1");
            Process p = new ProcessBuilder(BerthProcess.launcher().toString(), "image", "import", archive.toString(),
                    "--root", berth.root().toString()).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (p.waitFor() != 0) {
                throw new IllegalStateException(out);
            }
            String pod = berth.runtime().runPodSandbox(ContainerE2eTest.pod("bench", dir.resolve("logs"))).getPodSandboxId();
            for (int i = -3; i < runs; i++) { // the first three warm the daemon up and are not counted
                String name = "c" + (i + 3);
                long t0 = System.nanoTime();
                String id = berth.runtime().createContainer(ContainerE2eTest.request(pod, name, name + "/0.log")).getContainerId();
                long t1 = System.nanoTime();
                berth.runtime().startContainer(StartContainerRequest.newBuilder().setContainerId(id).build());
                long t2 = System.nanoTime();
                berth.runtime().containerStatus(ContainerStatusRequest.newBuilder().setContainerId(id).build());
                long t3 = System.nanoTime();
                berth.runtime().listContainers(ListContainersRequest.getDefaultInstance());
                long t4 = System.nanoTime();
                berth.runtime().podSandboxStatus(PodSandboxStatusRequest.newBuilder().setPodSandboxId(pod).build());
                long t5 = System.nanoTime();
                berth.images().imageStatus(ImageStatusRequest.newBuilder()
                        .setImage(ImageSpec.newBuilder().setImage(ContainerE2eTest.IMAGE)).build());
                long t6 = System.nanoTime();
                berth.runtime().stopContainer(StopContainerRequest.newBuilder().setContainerId(id).setTimeout(10).build());
                long t7 = System.nanoTime();
                Thread.sleep(50); // as a kubelet does: the exit is seen before the removal
                long t8 = System.nanoTime();
                berth.runtime().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(id).build());
                long t9 = System.nanoTime();
                if (i < 0) {
                    continue;
                }
                add(t, "CreateContainer", t1 - t0);
                add(t, "StartContainer", t2 - t1);
                add(t, "create + start", t2 - t0);
                add(t, "ContainerStatus", t3 - t2);
                add(t, "ListContainers", t4 - t3);
                add(t, "PodSandboxStatus", t5 - t4);
                add(t, "ImageStatus", t6 - t5);
                add(t, "StopContainer (grace 10 s)", t7 - t6);
                add(t, "RemoveContainer", t9 - t8);
            }
        } finally {
            try {
                for (Container c : berth.runtime().listContainers(ListContainersRequest.getDefaultInstance()).getContainersList()) {
                    berth.runtime().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(c.getId()).build());
                }
                for (PodSandbox p : berth.runtime().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsList()) {
                    berth.runtime().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(p.getId()).build());
                }
            } finally {
                berth.close();
                Path kept = Path.of("target/container-calls-benchmark.log");
                Files.createDirectories(kept.getParent());
                Files.copy(berth.log(), kept, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                if (Files.exists(Path.of("/sys/class/net/" + BRIDGE))) {
                    new ProcessBuilder("ip", "link", "delete", BRIDGE).start().waitFor();
                }
            }
        }
        StringBuilder report = new StringBuilder(String.format("container calls, %d runs (median / p90 ms):%n", runs));
        t.forEach((k, v) -> report.append(String.format("  %-28s %7.2f %7.2f%n", k, pct(v, 50), pct(v, 90))));
        System.out.print(report);
        Path out = Path.of("target/container-calls-benchmark.txt");
        Files.writeString(out, report.toString());
    }

    private static void add(Map<String, List<Double>> t, String call, long nanos) {
        t.computeIfAbsent(call, k -> new ArrayList<>()).add(nanos / 1e6);
    }

    private static double pct(List<Double> values, int p) {
        List<Double> sorted = new ArrayList<>(values);
        Collections.sort(sorted);
        return sorted.get(Math.max(0, (int) Math.ceil(p / 100.0 * sorted.size()) - 1));
    }
}
