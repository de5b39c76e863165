package dev.berth.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.berth.agent.eviction.EvictionSettings;
import dev.berth.agent.eviction.Observation;
import dev.berth.agent.node.NodeSettings;
import dev.berth.agent.testing.ApiServerFixture;
import dev.berth.agent.testing.FakeCri;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Admission under node pressure through the whole agent, connected to the mock API server, on
 * an in-memory runtime whose memory signal stays under the threshold: a BestEffort pod bound
 * to the node is refused (Failed, Evicted, the kubelet's message, an event, never a sandbox),
 * a Burstable one runs.
 */
class AgentAdmissionTest {
    private static final String NODE = "admit-node";
    private static final long MI = 1L << 20;
    private static final long CAPACITY = 8192 * MI;

    @TempDir
    Path dir;

    private final ApiServerFixture server = new ApiServerFixture();
    private final KubernetesClient client = server.client();
    private final KubernetesClient agentClient = server.client();
    /** The memory signal: under the threshold at first, above it once the node shows the pressure. */
    private volatile long available = 50 * MI;
    private FakeCri cri;
    private Agent agent;

    @AfterEach
    void tearDown() {
        if (agent != null) {
            agent.close();
        }
        agentClient.close();
        client.close();
        server.close();
        if (cri != null) {
            cri.close();
        }
    }

    private static Pod pod(String name, Map<String, Quantity> requests) {
        return new PodBuilder().withNewMetadata().withName(name).withNamespace("default").endMetadata()
                .withNewSpec().withNodeName(NODE).addNewContainer().withName("c").withImage("local/app:1")
                .withNewResources().withRequests(requests).endResources().endContainer().endSpec().build();
    }

    private Pod get(String name) {
        return client.pods().inNamespace("default").withName(name).get();
    }

    private static String phase(Pod p) {
        return p == null || p.getStatus() == null ? null : p.getStatus().getPhase();
    }

    private static <T> T await(String what, Supplier<T> probe) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (true) {
            T v = probe.get();
            if (v != null && !Boolean.FALSE.equals(v)) {
                return v;
            }
            if (System.nanoTime() > deadline) {
                fail("never happened: " + what);
            }
            Thread.sleep(10);
        }
    }

    @Test
    void underMemoryPressureABestEffortPodIsRefusedAndABurstableOneRuns() throws Exception {
        cri = new FakeCri();
        cri.images.add("local/app:1");
        NodeSettings node = new NodeSettings(Map.of(), List.of(), List.of("10.199.113.10"), 110, Map.of(), Map.of(),
                Map.of("memory.available", "100Mi"), Duration.ofMillis(200), Duration.ofSeconds(1));
        EvictionSettings eviction = new EvictionSettings(Map.of(), Map.of(), 0, Duration.ofMinutes(5), Map.of(), Duration.ofMillis(100));
        AgentSettings settings = new AgentSettings(NODE, dir.resolve("state"), null, dir.resolve("logs"), Duration.ofSeconds(20),
                Duration.ofSeconds(30), Duration.ofSeconds(30), node, false, "/", List.of(), "").withEviction(eviction);
        // 50Mi available, under the 100Mi hard threshold: MemoryPressure from the first housekeeping on
        agent = Agent.start(settings, StateLock.acquire(settings.stateDir()), cri.channel(), agentClient,
                () -> Map.of("memory.available", new Observation(available, CAPACITY)));
        await("the node under memory pressure", () -> {
            Node n = client.nodes().withName(NODE).get();
            return n != null && n.getStatus() != null && n.getStatus().getConditions().stream()
                    .anyMatch(c -> c.getType().equals("MemoryPressure") && c.getStatus().equals("True"));
        });
        // memory reclaimed: no threshold met, so nothing is evicted, and the condition stays True for the
        // pressure transition period (5 min), as the node does not flap
        available = 1024 * MI;

        Pod bestEffort = client.pods().inNamespace("default").resource(pod("best-effort", Map.of())).create();
        client.pods().inNamespace("default").resource(pod("burstable", Map.of("memory", new Quantity("10Mi")))).create();

        Pod refused = await("best-effort refused", () -> {
            Pod p = get("best-effort");
            return "Failed".equals(phase(p)) ? p : null;
        });
        assertEquals("Evicted", refused.getStatus().getReason());
        assertEquals("Pod was rejected: The node had condition: [MemoryPressure]. ", refused.getStatus().getMessage());
        assertEquals("BestEffort", refused.getStatus().getQosClass());
        await("an Evicted event", () -> client.v1().events().inNamespace("default").list().getItems().stream()
                .anyMatch(e -> "Evicted".equals(e.getReason()) && "best-effort".equals(e.getInvolvedObject().getName())
                        && "Warning".equals(e.getType()) && "The node had condition: [MemoryPressure]. ".equals(e.getMessage())));
        await("burstable running", () -> "Running".equals(phase(get("burstable"))));

        Thread.sleep(300); // the informer's later copies of best-effort (or a resync) start nothing
        assertEquals("Failed", phase(get("best-effort")));
        assertTrue(cri.sandboxes.values().stream().noneMatch(s -> s.getMetadata().getUid().equals(bestEffort.getMetadata().getUid())),
                "the refused pod never gets a sandbox");
        assertEquals(1, cri.sandboxes.size(), "only burstable's sandbox");
    }
}
