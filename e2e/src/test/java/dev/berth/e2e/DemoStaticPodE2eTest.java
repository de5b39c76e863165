package dev.berth.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.cri.v1.ListContainersRequest;
import dev.berth.cri.v1.ListPodSandboxRequest;
import dev.berth.cri.v1.PodSandbox;
import dev.berth.cri.v1.PodSandboxFilter;
import dev.berth.cri.v1.PodSandboxState;
import dev.berth.cri.v1.PodSandboxStatusRequest;
import dev.berth.e2e.reliability.LeakCensus;
import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The demo of {@code scripts/run}: {@code manifests/demo/berth-demo.yaml} as shipped (only its
 * host port swapped for a free one), its image built by {@code scripts/build-demo-image} as the
 * script builds it, run by {@code berth agent --pod-manifest-path} on a copy of the directory.
 * The page answers over the host port on 127.0.0.1 and names the pod, its node and its IP;
 * when the manifest goes, the pod goes, and with it everything it made on the host.
 */
@Tag("root")
class DemoStaticPodE2eTest {
    private static final String NODE = "e2e-demo";
    private static final String POD = "berth-demo-" + NODE;
    private static final String BRIDGE = "berthdm0";
    private static final String SUBNET = "10.199.240.0/20";
    private static final String SHIPPED_PORT = "hostPort: 8088";

    @TempDir
    Path dir;

    @Test
    void theDemoAnswersOnItsHostPortAndGoesWithItsManifest() throws Exception {
        Path repo = BerthProcess.launcher().getParent().getParent();
        Path berthDir = dir.resolve("berth");
        Path manifests = Files.createDirectories(dir.resolve("manifests"));
        Path config = Files.writeString(dir.resolve("agent.toml"), "[network]\ncni_config_dir = \"" + dir.resolve("net.d") + "\"\n"
                + "default_bridge = \"" + BRIDGE + "\"\ndefault_subnet = \"" + SUBNET + "\"\n"
                // the census after the pod went counts the network's masquerade rules too: no linger
                + "masquerade_linger = \"0s\"\n"
                + "[agent]\ncgroups_per_qos = false\npod_logs_dir = \"" + dir.resolve("logs") + "\"\nmanifest_rescan_interval = \"2s\"\n");
        String shipped = Files.readString(repo.resolve("manifests/demo/berth-demo.yaml"), StandardCharsets.UTF_8);
        assertEquals(1, shipped.split(SHIPPED_PORT, -1).length - 1, "the demo's manifest names its host port once");
        int port = AgentTests.freeLoopbackPort();
        String manifest = shipped.replace(SHIPPED_PORT, "hostPort: " + port);

        Process build = new ProcessBuilder(repo.resolve("scripts/build-demo-image").toString(), "--root",
                berthDir.resolve("root").toString()).redirectErrorStream(true).start();
        String built = new String(build.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, build.waitFor(), built);
        assertTrue(built.trim().endsWith(" localhost/berth-demo:1"), built);

        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
        HttpRequest get = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/")).timeout(Duration.ofSeconds(5)).build();
        boolean clean = false;
        try (BerthProcess agent = BerthProcess.startAgent(berthDir, "", "--config", config.toString(),
                "--metrics-address", "127.0.0.1:" + AgentTests.freeLoopbackPort(), "--node-name", NODE, "--pod-manifest-path", manifests.toString())) {
            // what the first pod of a runtime (and of an agent: its pods/ directory) makes once and later pods share is not the demo's to remove
            Path ipam = agent.root().resolve("cni/ipam/berth");
            Set<String> madeOnce = Stream.of(ipam, ipam.resolve("last_reserved_ip.0"), ipam.resolve("lock"),
                    agent.runRoot().resolve("runtimes"), agent.runRoot().resolve("runtimes/runc"),
                    agent.root().resolve("agent/pods"))
                    .map(p -> p.toAbsolutePath().normalize().toString()).collect(java.util.stream.Collectors.toSet());
            LeakCensus census = new LeakCensus(agent.root(), agent.runRoot(), BRIDGE, SUBNET, List.of(), Set.of());
            LeakCensus.Snapshot before = census.take();

            Files.writeString(manifests.resolve("berth-demo.yaml"), manifest);
            HttpResponse<String> page = await("the demo answers on 127.0.0.1:" + port, () -> {
                try {
                    HttpResponse<String> r = http.send(get, HttpResponse.BodyHandlers.ofString());
                    return r.statusCode() == 200 ? r : null;
                } catch (IOException e) {
                    return null;
                }
            });
            PodSandbox sandbox = sandbox(agent);
            assertEquals(PodSandboxState.SANDBOX_READY, sandbox.getState());
            String ip = agent.runtime().podSandboxStatus(PodSandboxStatusRequest.newBuilder().setPodSandboxId(sandbox.getId()).build())
                    .getStatus().getNetwork().getIp();
            assertTrue(ip.startsWith("10.199.24"), ip);
            String body = page.body();
            assertTrue(body.contains("Hello from berth!"), body);
            assertTrue(body.contains("static pod " + POD + ","), "the page names its pod: " + body);
            assertTrue(body.contains("on node " + NODE + ","), "the page names its node: " + body);
            assertTrue(body.contains("pod IP " + ip + "."), "the page names the pod's IP: " + body);

            Files.delete(manifests.resolve("berth-demo.yaml"));
            await("the demo pod is gone", () -> sandbox(agent) == null
                    && agent.runtime().listContainers(ListContainersRequest.getDefaultInstance()).getContainersCount() == 0 ? true : null);
            assertThrows(ConnectException.class, () -> http.send(get, HttpResponse.BodyHandlers.ofString()),
                    "nothing answers on the demo's port any more");
            Map<String, List<String>> leaks = new java.util.TreeMap<>(census.take().leaksSince(before));
            leaks.computeIfPresent("state files", (kind, paths) -> {
                List<String> left = paths.stream().filter(p -> !madeOnce.contains(p)).toList();
                return left.isEmpty() ? null : left;
            });
            assertEquals(0, LeakCensus.total(leaks), "left behind: " + leaks);
            clean = true;
        } finally {
            cleanUp(berthDir, manifests, config, clean);
        }
    }

    /** The demo's sandbox, or null when the runtime holds none. */
    private static PodSandbox sandbox(BerthProcess agent) {
        return agent.runtime().listPodSandbox(ListPodSandboxRequest.newBuilder()
                .setFilter(PodSandboxFilter.newBuilder().putLabelSelector("io.kubernetes.pod.name", POD)).build())
                .getItemsList().stream().findFirst().orElse(null);
    }

    /**
     * Whatever a failed run left: the agent leaves its pods running when it stops, so a daemon
     * on the same directories (without the manifest) removes them, unless the run ended with
     * nothing left; then the test's bridge goes.
     */
    private static void cleanUp(Path berthDir, Path manifests, Path config, boolean clean) throws Exception {
        AgentTests.emptyDirectory(manifests);
        if (!clean && Files.isDirectory(berthDir.resolve("root"))) {
            AgentTests.removeLeftoverPods(berthDir, config);
        }
        AgentTests.deleteBridge(BRIDGE);
    }

    private static <T> T await(String what, Callable<T> probe) throws Exception {
        return AgentTests.await(what, Duration.ofSeconds(45), probe);
    }

}
