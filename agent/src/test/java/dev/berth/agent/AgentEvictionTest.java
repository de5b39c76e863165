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
import io.fabric8.kubernetes.api.model.NodeCondition;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodCondition;
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
 * Eviction through the whole agent, connected to the mock API server, on an in-memory runtime
 * whose pods report made-up working sets and a memory signal the test sets: the pod above its
 * request is evicted (Failed, Evicted, the kubelet's message, DisruptionTarget, an event), the
 * other keeps running, and the Node shows MemoryPressure with its NoSchedule taint. Under that
 * pressure a new BestEffort pod is refused (Failed, Evicted, the kubelet's message, an event,
 * never a sandbox) while a Burstable one runs.
 */
class AgentEvictionTest {
    private static final String NODE = "evict-node";
    private static final long MI = 1L << 20;

    @TempDir
    Path dir;

    private final ApiServerFixture server = new ApiServerFixture();
    private final KubernetesClient client = server.client();
    private final KubernetesClient agentClient = server.client();
    private static final long CAPACITY = 8192 * MI;
    /** What the machine uses besides the pods' containers: the test raises it to cross the threshold. */
    private volatile long base = 1024 * MI;
    /** The admission test's memory signal: under the threshold at first, above it once the node shows the pressure. */
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

    /** The working sets of the runtime's running containers, as the memory signal counts them. */
    private long containersMemory() {
        return cri.containers.values().stream().filter(c -> c.getState() == dev.berth.cri.v1.ContainerState.CONTAINER_RUNNING)
                .mapToLong(c -> cri.memoryUse.getOrDefault(c.getLabelsOrDefault("io.kubernetes.pod.uid", "") + "/" + c.getMetadata().getName(), 0L))
                .sum();
    }

    private static Pod pod(String name, String memoryRequest) {
        return pod(name, Map.of("memory", new Quantity(memoryRequest)), 30L);
    }

    private static Pod pod(String name, Map<String, Quantity> requests, long graceSeconds) {
        return new PodBuilder().withNewMetadata().withName(name).withNamespace("default").endMetadata()
                .withNewSpec().withNodeName(NODE).withTerminationGracePeriodSeconds(graceSeconds).addNewContainer().withName("c")
                .withImage("local/app:1").withNewResources().withRequests(requests).endResources().endContainer().endSpec().build();
    }

    /** The whole agent, connected, on a fresh FakeCri, with a 100Mi memory.available hard threshold and {@code signals}. */
    private void startAgent(dev.berth.agent.eviction.NodeSignals signals) throws java.io.IOException {
        cri = new FakeCri();
        cri.images.add("local/app:1");
        NodeSettings node = new NodeSettings(Map.of(), List.of(), List.of("10.199.112.10"), 110, Map.of(), Map.of(),
                Map.of("memory.available", "100Mi"), Duration.ofMillis(200), Duration.ofSeconds(1));
        EvictionSettings eviction = new EvictionSettings(Map.of(), Map.of(), 0, Duration.ofMinutes(5), Map.of(), Duration.ofMillis(100));
        AgentSettings settings = new AgentSettings(NODE, dir.resolve("state"), null, dir.resolve("logs"), Duration.ofSeconds(20),
                Duration.ofSeconds(30), Duration.ofSeconds(30), node, false, "/", List.of(), "").withEviction(eviction);
        agent = Agent.start(settings, StateLock.acquire(settings.stateDir()), cri.channel(), agentClient, signals);
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
    void thePodAboveItsRequestIsEvictedAndTheNodeShowsMemoryPressureAndItsTaint() throws Exception {
        startAgent(() -> Map.of("memory.available", new Observation(CAPACITY - base - containersMemory(), CAPACITY)));

        Pod big = client.pods().inNamespace("default").resource(pod("big", "512Mi")).create();
        Pod greedy = client.pods().inNamespace("default").resource(pod("greedy", "10Mi")).create();
        await("both pods running", () -> "Running".equals(phase(get("big"))) && "Running".equals(phase(get("greedy"))));
        cri.memoryUse.put(big.getMetadata().getUid() + "/c", 300 * MI);
        cri.memoryUse.put(greedy.getMetadata().getUid() + "/c", 50 * MI);

        long crossed = System.nanoTime();
        base = CAPACITY - 350 * MI - 60 * MI; // 60Mi available with both pods, 110Mi once greedy's 50Mi are freed
        Pod evicted = await("greedy evicted", () -> {
            Pod p = get("greedy");
            return "Failed".equals(phase(p)) ? p : null;
        });
        double ms = (System.nanoTime() - crossed) / 1e6;
        System.out.printf("eviction time from threshold crossing to pod Failed in the API: %.0f ms (housekeeping every 100 ms)%n", ms);

        assertEquals("Evicted", evicted.getStatus().getReason());
        assertEquals("The node was low on resource: memory. Threshold quantity: 100Mi, available: 60Mi. "
                + "Container c was using 50Mi, request is 10Mi, has larger consumption of memory. ", evicted.getStatus().getMessage());
        PodCondition disruption = evicted.getStatus().getConditions().stream().filter(c -> c.getType().equals("DisruptionTarget"))
                .findFirst().orElseThrow();
        assertEquals("True", disruption.getStatus());
        assertEquals("TerminationByKubelet", disruption.getReason());
        Pod stopped = await("greedy's container shown terminated", () -> {
            Pod p = get("greedy");
            var state = p.getStatus().getContainerStatuses().get(0).getState();
            return state.getTerminated() != null ? p : null;
        });
        assertEquals("Failed", phase(stopped), "stays Failed once stopped");
        assertEquals(137, stopped.getStatus().getContainerStatuses().get(0).getState().getTerminated().getExitCode());
        await("greedy's sandbox removed", () -> cri.sandboxes.values().stream()
                .noneMatch(s -> s.getMetadata().getUid().equals(greedy.getMetadata().getUid())));
        await("an Evicted event", () -> client.v1().events().inNamespace("default").list().getItems().stream()
                .anyMatch(e -> "Evicted".equals(e.getReason()) && "greedy".equals(e.getInvolvedObject().getName())
                        && "Warning".equals(e.getType())));

        Node n = await("the node under memory pressure, tainted", () -> {
            Node x = client.nodes().withName(NODE).get();
            if (x == null || x.getStatus() == null || x.getSpec().getTaints() == null) {
                return null;
            }
            boolean pressure = x.getStatus().getConditions().stream()
                    .anyMatch(c -> c.getType().equals("MemoryPressure") && c.getStatus().equals("True"));
            boolean taint = x.getSpec().getTaints().stream()
                    .anyMatch(t -> t.getKey().equals("node.kubernetes.io/memory-pressure") && t.getEffect().equals("NoSchedule"));
            return pressure && taint ? x : null;
        });
        NodeCondition mp = n.getStatus().getConditions().stream().filter(c -> c.getType().equals("MemoryPressure")).findFirst().orElseThrow();
        assertEquals("KubeletHasInsufficientMemory", mp.getReason());

        // greedy's memory freed, the signal is above the threshold again: no second eviction; big runs on
        Thread.sleep(500);
        assertEquals("Running", phase(get("big")));
        assertTrue(cri.sandboxes.values().stream().anyMatch(s -> s.getMetadata().getUid().equals(big.getMetadata().getUid())));
        assertTrue(cri.sandboxes.values().stream().noneMatch(s -> s.getMetadata().getUid().equals(greedy.getMetadata().getUid())),
                "the evicted pod is never started again");
    }

    @Test
    void underMemoryPressureABestEffortPodIsRefusedAndABurstableOneRuns() throws Exception {
        // 50Mi available, under the 100Mi hard threshold: MemoryPressure from the first housekeeping on
        startAgent(() -> Map.of("memory.available", new Observation(available, CAPACITY)));
        await("the node under memory pressure", () -> {
            Node n = client.nodes().withName(NODE).get();
            return n != null && n.getStatus() != null && n.getStatus().getConditions().stream()
                    .anyMatch(c -> c.getType().equals("MemoryPressure") && c.getStatus().equals("True"));
        });
        // memory reclaimed: no threshold met, so nothing is evicted, and the condition stays True for the
        // pressure transition period (5 min), as the node does not flap
        available = 1024 * MI;

        Pod bestEffort = client.pods().inNamespace("default").resource(pod("best-effort", Map.of(), 30L)).create();
        client.pods().inNamespace("default").resource(pod("burstable", Map.of("memory", new Quantity("10Mi")), 30L)).create();

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
