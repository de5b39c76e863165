package dev.berth.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.berth.cri.v1.ListPodSandboxRequest;
import dev.berth.cri.v1.PodSandbox;
import dev.berth.cri.v1.RemovePodSandboxRequest;
import dev.berth.cri.v1.StopPodSandboxRequest;
import dev.berth.images.testing.RegistryFixture;
import dev.berth.images.testing.TestImage;
import dev.berth.images.testing.TestLayer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code berth bench} against a real berth daemon with tiny numbers: every call of the scenario
 * has samples and no errors, memory was measured, the reports were written, and no pod of the
 * bench is left behind.
 */
@Tag("root")
class BenchE2eTest {
    private static final String BRIDGE = "berthbn0";
    private static final String SUBNET = "10.196.16.0/20";
    /** Larger numbers for a look at the figures by hand (-Dberth.bench.iterations=10 -Dberth.bench.pods=20); CI keeps the tiny ones. */
    private static final int ITERATIONS = Integer.getInteger("berth.bench.iterations", 2);
    private static final int PODS = Integer.getInteger("berth.bench.pods", 3);
    private static final int CONCURRENCY = Integer.getInteger("berth.bench.concurrency", 2);
    private static final int FORWARD_MIB = Integer.getInteger("berth.bench.forwardMib", 8);
    /** A short warm-up keeps CI fast; it still runs every warm-up step once at least. */
    private static final int WARMUP = Integer.getInteger("berth.bench.warmup", 20);

    @TempDir
    Path dir;

    @Test
    void benchRunsTheScenarioAgainstBerthAndLeavesNothingBehind() throws Exception {
        Path config = Files.writeString(dir.resolve("daemon.toml"), BerthProcess.networkToml(dir, BRIDGE, SUBNET));
        try (RegistryFixture registry = RegistryFixture.start(dir.resolve("registry"));
             BerthProcess berth = BerthProcess.start(dir.resolve("berth"), "--config", config.toString(), "--metrics-address", "")) {
            try {
                TestImage.of(TestLayer.busybox().symlink("bin/sleep", "busybox").symlink("bin/true", "busybox")
                        .symlink("bin/cat", "busybox").symlink("bin/nc", "busybox")
                        .build(TestLayer.Compression.GZIP)).push(registry.pusher(), "bench/busybox", "1");
                Path json = dir.resolve("out/bench.json");
                Path html = dir.resolve("out/bench.html");
                Process bench = new ProcessBuilder(BerthProcess.launcher().toString(), "bench",
                        "--runtime-endpoint", "unix://" + berth.socket(), "--image", registry.host() + "/bench/busybox:1",
                        "--iterations", String.valueOf(ITERATIONS), "--pods", String.valueOf(PODS), "--concurrency", String.valueOf(CONCURRENCY), "--settle", "0", "--call-timeout", "30",
                        "--forward-mib", String.valueOf(FORWARD_MIB), "--warmup", String.valueOf(WARMUP), "--warmup-pods", "1",
                        "--json", json.toString(), "--html", html.toString(), "--quiet")
                        .redirectErrorStream(true).redirectOutput(dir.resolve("bench.out").toFile()).start();
                assertTrue(bench.waitFor(120L + 30L * (ITERATIONS + PODS), TimeUnit.SECONDS), "bench did not finish");
                String out = Files.readString(dir.resolve("bench.out"));
                System.out.println(out);
                assertEquals(0, bench.exitValue(), out);
                assertTrue(out.contains("RunPodSandbox"), out);
                assertTrue(out.contains("PortForward stream (MB/s)"), out);
                // the progress and the table only: no library logging (gRPC's and Netty's debug lines) in between
                assertFalse(out.contains("DEBUG") || out.contains(" INFO ") || out.contains(" WARN "), out);

                JsonNode run = new ObjectMapper().readTree(json.toFile()).get("runs").get(0);
                String page = Files.readString(html, StandardCharsets.UTF_8);
                assertEquals("berth", run.get("runtimeName").asText(), out);
                for (String call : List.of("Version", "Status", "PullImage", "RemoveImage", "ImageStatus", "ListImages", "RunPodSandbox",
                        "CreateContainer", "StartContainer", "create + start", "ContainerStatus", "PodSandboxStatus", "ListContainers",
                        "ListPodSandbox", "ExecSync", "StopContainer", "RemoveContainer", "StopPodSandbox", "RemovePodSandbox",
                        "pod lifecycle (sum)", "Exec", "Exec stream (WebSocket)", "ContainerStats", "ListContainerStats", "PortForward", "PortForward first byte",
                        "RunPodSandbox (load)", "CreateContainer (load)", "StartContainer (load)", "StopContainer (load)",
                        "RemoveContainer (load)", "StopPodSandbox (load)", "RemovePodSandbox (load)")) {
                    JsonNode c = run.get("calls").get(call);
                    assertTrue(c != null, call + " missing:\n" + out);
                    assertEquals(0, c.get("errors").asInt(), call + ": " + c.get("firstError") + "\n" + out);
                    assertTrue(c.get("count").asInt() > 0 && c.get("samplesMs").size() == c.get("count").asInt(), call + "\n" + out);
                    assertTrue(c.get("p50").asDouble() > 0, call + "\n" + out);
                }
                // the first calls after the bench connected, one sample each, in a section of their own
                assertTrue(out.contains("first calls (ms)"), out);
                for (String call : List.of("connect", "Version", "Status", "ListPodSandbox", "ListContainers", "ListImages", "ImageStatus")) {
                    JsonNode c = run.get("firstCalls").get(call);
                    assertTrue(c != null, call + " missing from the first calls:\n" + out);
                    assertEquals(0, c.get("errors").asInt(), call + ": " + c.get("firstError") + "\n" + out);
                    assertEquals(1, c.get("count").asInt(), call + "\n" + out);
                    assertTrue(c.get("p50").asDouble() > 0, call + "\n" + out);
                }
                assertTrue(run.get("warmupSeconds").asDouble() > 0, out);
                assertFalse(out.contains("warm-up stopped"), out);
                assertTrue(page.contains("<h2>first calls (ms)</h2>"), page);
                JsonNode forward = run.get("throughput").get("PortForward stream (MB/s)");
                assertTrue(forward != null, "no port-forward throughput:\n" + out);
                assertEquals(0, forward.get("errors").asInt(), forward.get("firstError") + "\n" + out);
                assertEquals(ITERATIONS, forward.get("count").asInt(), out);
                // every round's bytes came back through the pod's echo server and were compared
                assertEquals((long) FORWARD_MIB << 20, forward.get("bytesPerRound").asLong(), out);
                assertEquals((long) ITERATIONS * FORWARD_MIB << 20, forward.get("bytesVerified").asLong(), out);
                for (JsonNode mbps : forward.get("samplesMbPerSecond")) {
                    assertTrue(mbps.asDouble() > 0, forward + "\n" + out);
                }
                JsonNode load = run.get("load");
                assertEquals(PODS, load.get("running").asInt(), out);
                assertEquals(0, load.get("errors").asInt(), out);
                JsonNode memory = run.get("memory");
                assertEquals("idle", memory.get(0).get("label").asText(), out);
                assertEquals("at " + PODS + " pods", memory.get(memory.size() - 2).get("label").asText(), out);
                assertEquals("idle after churn", memory.get(memory.size() - 1).get("label").asText(), out);
                for (JsonNode m : memory) {
                    assertTrue(m.get("daemonPssBytes").asLong() > 0, m + "\n" + out);
                }
                // at least a conmon for each pod's container
                JsonNode all = memory.get(memory.size() - 2);
                assertTrue(all.get("helpersPssBytes").asLong() > 0 && all.get("helperCount").asInt() >= PODS, memory + "\n" + out);
                assertEquals(berth.pid(), run.get("daemonPid").asLong());

                assertTrue(page.contains("<svg"), page);
                assertFalse(page.contains("http://") || page.contains("https://"), page);

                assertEquals(List.of(), benchPods(berth), out);
            } finally {
                for (PodSandbox p : benchPods(berth)) {
                    berth.runtime().stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(p.getId()).build());
                    berth.runtime().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(p.getId()).build());
                }
            }
        } finally {
            // the daemon's default network made the bridge; nothing else removes it
            new ProcessBuilder("ip", "link", "delete", BRIDGE).start().waitFor();
        }
    }

    private static List<PodSandbox> benchPods(BerthProcess berth) {
        return berth.runtime().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsList().stream()
                .filter(p -> p.getLabelsMap().containsKey("berth-bench")).toList();
    }
}
