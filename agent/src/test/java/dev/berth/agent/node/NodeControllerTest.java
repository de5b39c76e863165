package dev.berth.agent.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.berth.agent.cri.CriClient;
import dev.berth.agent.testing.FakeCri;
import dev.berth.cri.v1.RuntimeCondition;
import dev.berth.cri.v1.RuntimeStatus;
import dev.berth.cri.v1.StatusResponse;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.NodeCondition;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.http.MockResponse;
import io.fabric8.mockwebserver.http.RecordedRequest;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The Node, its status and its Lease against the mock API server in CRUD mode, with the fake CRI runtime behind. */
class NodeControllerTest {
    private static final String NODE = "node-a";

    @TempDir
    Path stateDir;

    private Recording dispatcher;
    private KubernetesMockServer server;
    private KubernetesClient api;
    private FakeCri fake;
    private CriClient cri;
    private NodeController controller;

    /** The CRUD dispatcher, recording "METHOD path code" of every request, and failing all of them with 500 while asked to. */
    static final class Recording extends KubernetesCrudDispatcher {
        final List<String> requests = new CopyOnWriteArrayList<>();
        volatile boolean failing;

        Recording() {
            super(List.of());
        }

        @Override
        public MockResponse dispatch(RecordedRequest r) {
            MockResponse response = failing ? new MockResponse().setResponseCode(500).setBody("{\"kind\":\"Status\",\"code\":500}") : super.dispatch(r);
            requests.add(r.getMethod() + " " + r.getPath().replaceAll("\\?.*", "") + " " + response.code());
            return response;
        }

        long count(String prefix) {
            return requests.stream().filter(s -> s.startsWith(prefix)).count();
        }
    }

    @BeforeEach
    void start() throws Exception {
        dispatcher = new Recording();
        server = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(), dispatcher, false);
        server.init();
        api = server.createClient(b -> b.editOrNewConfig().withRequestRetryBackoffLimit(0).endConfig());
        fake = new FakeCri();
        cri = new CriClient(fake.channel(), Duration.ofSeconds(5), Duration.ofSeconds(5));
    }

    @AfterEach
    void stop() {
        if (controller != null) {
            controller.close();
        }
        fake.close();
        api.close();
        server.destroy();
    }

    private static NodeSettings settings(Map<String, String> labels, List<String> taints, Map<String, String> systemReserved) {
        // no eviction thresholds: the machine's real usage must not make the conditions flap in these tests
        return new NodeSettings(labels, taints, List.of("10.9.8.7"), 110, systemReserved, Map.of(), Map.of(),
                Duration.ofSeconds(10), Duration.ofMinutes(5));
    }

    private NodeController startController(NodeSettings s, Duration update, Duration report, Duration lease) {
        controller = NodeController.start(api, cri, NODE, s, stateDir, new NodeController.Timing(update, report, lease, Duration.ofMillis(20)));
        return controller;
    }

    private static void await(String what, BooleanSupplier done) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (!done.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                fail("never happened: " + what);
            }
            Thread.sleep(20);
        }
    }

    private Node node() {
        return api.nodes().withName(NODE).get();
    }

    private NodeCondition condition(String type) {
        Node n = node();
        if (n == null || n.getStatus() == null || n.getStatus().getConditions() == null) {
            return null;
        }
        return n.getStatus().getConditions().stream().filter(c -> type.equals(c.getType())).findFirst().orElse(null);
    }

    private long statusPatches() {
        return dispatcher.count("PATCH /api/v1/nodes/" + NODE + "/status 2");
    }

    private static long bytes(Quantity q) {
        return Quantity.getAmountInBytes(q).longValueExact();
    }

    @Test
    void theNodeIsRegisteredWithItsLabelsTaintsCapacityAllocatableNodeInfoAndConditions() throws Exception {
        startController(settings(Map.of("example.com/role", "edge"), List.of("dedicated=edge:NoSchedule"), Map.of("memory", "1Gi", "cpu", "250m")),
                Duration.ofSeconds(10), Duration.ofMinutes(5), Duration.ofSeconds(10));
        await("the node's Ready condition", () -> condition("Ready") != null);
        Node n = node();
        MachineFacts facts = MachineFacts.current();
        Map<String, String> labels = n.getMetadata().getLabels();
        assertEquals(NODE, labels.get("kubernetes.io/hostname"));
        assertEquals("linux", labels.get("kubernetes.io/os"));
        assertEquals(facts.architecture(), labels.get("kubernetes.io/arch"));
        assertEquals("linux", labels.get("beta.kubernetes.io/os"));
        assertEquals(facts.architecture(), labels.get("beta.kubernetes.io/arch"));
        assertEquals("edge", labels.get("example.com/role"));
        assertEquals(1, n.getSpec().getTaints().size());
        assertEquals("dedicated", n.getSpec().getTaints().get(0).getKey());
        assertEquals("edge", n.getSpec().getTaints().get(0).getValue());
        assertEquals("NoSchedule", n.getSpec().getTaints().get(0).getEffect());

        Map<String, Quantity> capacity = n.getStatus().getCapacity();
        Map<String, Quantity> allocatable = n.getStatus().getAllocatable();
        assertEquals(facts.cpus() * 1000L, Quantity.getAmountInBytes(capacity.get("cpu")).movePointRight(3).longValueExact());
        assertEquals(facts.memoryBytes(), bytes(capacity.get("memory")));
        assertEquals(110, bytes(capacity.get("pods")));
        assertEquals(java.nio.file.Files.getFileStore(stateDir).getTotalSpace(), bytes(capacity.get("ephemeral-storage")));
        long hugepages = facts.hugepages().values().stream().mapToLong(Long::longValue).sum();
        assertEquals(Math.max(0, facts.memoryBytes() - (1L << 30) - hugepages), bytes(allocatable.get("memory")));
        assertEquals(facts.cpus() * 1000L - 250, Quantity.getAmountInBytes(allocatable.get("cpu")).movePointRight(3).longValueExact());
        facts.hugepages().forEach((k, v) -> assertEquals((long) v, bytes(capacity.get(k)), k));

        assertEquals("fake://0", n.getStatus().getNodeInfo().getContainerRuntimeVersion());
        assertEquals(NodeStatusMaker.KUBELET_VERSION, n.getStatus().getNodeInfo().getKubeletVersion());
        assertEquals(facts.bootId(), n.getStatus().getNodeInfo().getBootID());
        assertEquals(facts.kernelVersion(), n.getStatus().getNodeInfo().getKernelVersion());
        assertEquals(facts.osImage(), n.getStatus().getNodeInfo().getOsImage());
        assertEquals("linux", n.getStatus().getNodeInfo().getOperatingSystem());
        assertEquals(List.of("InternalIP=10.9.8.7", "Hostname=" + NODE),
                n.getStatus().getAddresses().stream().map(a -> a.getType() + "=" + a.getAddress()).toList());
        assertEquals(List.of("10.9.8.7"), controller.nodeIPs());
        assertEquals(0, n.getStatus().getDaemonEndpoints().getKubeletEndpoint().getPort());
        assertEquals(List.of("MemoryPressure=False/KubeletHasSufficientMemory", "DiskPressure=False/KubeletHasNoDiskPressure",
                        "PIDPressure=False/KubeletHasSufficientPID", "Ready=True/KubeletReady"),
                n.getStatus().getConditions().stream().map(c -> c.getType() + "=" + c.getStatus() + "/" + c.getReason()).toList());
        assertEquals(1, dispatcher.count("POST /api/v1/nodes 201"));
    }

    @Test
    void anExistingNodeIsAdoptedItsTaintsKeptAndTheAgentsLabelsReconciled() throws Exception {
        api.nodes().resource(new NodeBuilder().withNewMetadata().withName(NODE)
                .withLabels(Map.of("kubernetes.io/os", "windows", "team", "a", "example.com/role", "old")).endMetadata()
                .withNewSpec().addNewTaint().withKey("maintenance").withEffect("NoExecute").endTaint().endSpec().build()).create();
        String uid = node().getMetadata().getUid();
        startController(settings(Map.of("example.com/role", "edge"), List.of("dedicated=edge:NoSchedule"), Map.of()),
                Duration.ofSeconds(10), Duration.ofMinutes(5), Duration.ofSeconds(10));
        await("the adopted node's status", () -> condition("Ready") != null);
        Node n = node();
        assertEquals(uid, n.getMetadata().getUid(), "the same Node, not a new one");
        assertEquals("linux", n.getMetadata().getLabels().get("kubernetes.io/os"));
        assertEquals("edge", n.getMetadata().getLabels().get("example.com/role"));
        assertEquals(NODE, n.getMetadata().getLabels().get("kubernetes.io/hostname"));
        assertEquals("a", n.getMetadata().getLabels().get("team"), "labels the agent does not own stay");
        assertEquals(List.of("maintenance"), n.getSpec().getTaints().stream().map(t -> t.getKey()).toList(),
                "taints are applied only when the agent creates the Node");
        assertEquals(1, dispatcher.count("POST /api/v1/nodes 409"));
    }

    @Test
    void theLeaseIsCreatedOwnedByTheNodeAndRenewed() throws Exception {
        startController(settings(Map.of(), List.of(), Map.of()), Duration.ofSeconds(10), Duration.ofMinutes(5), Duration.ofMillis(50));
        await("the lease", () -> api.leases().inNamespace("kube-node-lease").withName(NODE).get() != null);
        Lease first = api.leases().inNamespace("kube-node-lease").withName(NODE).get();
        assertEquals(NODE, first.getSpec().getHolderIdentity());
        assertEquals(40, first.getSpec().getLeaseDurationSeconds());
        assertEquals(1, first.getMetadata().getOwnerReferences().size());
        assertEquals("Node", first.getMetadata().getOwnerReferences().get(0).getKind());
        assertEquals(node().getMetadata().getUid(), first.getMetadata().getOwnerReferences().get(0).getUid());
        await("a renewal", () -> api.leases().inNamespace("kube-node-lease").withName(NODE).get().getSpec().getRenewTime()
                .isAfter(first.getSpec().getRenewTime()));
        await("renewals without reading the lease first", () -> dispatcher.count("PUT /apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/"
                + NODE + " 200") >= 5);
        assertEquals(0, dispatcher.count("PUT /apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/" + NODE + " 409"));

        // someone else writes the lease: the next renewal conflicts, reads it again and renews it
        api.leases().inNamespace("kube-node-lease").withName(NODE).edit(l -> {
            l.getMetadata().setLabels(Map.of("touched", "yes"));
            return l;
        });
        await("a renewal after a conflict", () -> dispatcher.count("PUT /apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/"
                + NODE + " 409") >= 1 && api.leases().inNamespace("kube-node-lease").withName(NODE).get().getSpec().getRenewTime()
                .isAfter(first.getSpec().getRenewTime().plusNanos(1)) && dispatcher.requests.get(dispatcher.requests.size() - 1).endsWith(" 200"));
        assertEquals("yes", api.leases().inNamespace("kube-node-lease").withName(NODE).get().getMetadata().getLabels().get("touched"));
    }

    @Test
    void theStatusIsWrittenWhenItChangesAndNotWhenNothingChanged() throws Exception {
        startController(settings(Map.of(), List.of(), Map.of()), Duration.ofMillis(20), Duration.ofHours(1), Duration.ofSeconds(10));
        await("the first status", () -> condition("Ready") != null);
        int passes = fake.calls("Status");
        await("twenty more status passes", () -> fake.calls("Status") >= passes + 20);
        assertEquals(1, statusPatches(), "an unchanged status is not written again before the report interval");
        assertEquals(1, fake.calls("ImageFsInfo"), "the image filesystem is asked for once, not measured every pass");
        String transition = condition("Ready").getLastTransitionTime();

        fake.statusAnswer = StatusResponse.newBuilder().setStatus(RuntimeStatus.newBuilder()
                .addConditions(RuntimeCondition.newBuilder().setType("RuntimeReady").setStatus(true))
                .addConditions(RuntimeCondition.newBuilder().setType("NetworkReady").setStatus(false).setReason("NetworkPluginNotReady")
                        .setMessage("cni config uninitialized"))).build();
        await("Ready turning False", () -> "False".equals(condition("Ready").getStatus()));
        NodeCondition ready = condition("Ready");
        assertEquals("KubeletNotReady", ready.getReason());
        assertEquals("container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:cni config uninitialized",
                ready.getMessage());
        assertEquals(2, statusPatches());
        int more = fake.calls("Status");
        await("twenty more status passes", () -> fake.calls("Status") >= more + 20);
        assertEquals(2, statusPatches(), "written once for the change, then not again");
        assertTrue(ready.getLastTransitionTime().compareTo(transition) >= 0);
        assertEquals("False", condition("MemoryPressure").getStatus());
    }

    @Test
    void anUnchangedStatusIsReportedEveryReportInterval() throws Exception {
        startController(settings(Map.of(), List.of(), Map.of()), Duration.ofMillis(20), Duration.ofMillis(200), Duration.ofSeconds(10));
        await("three reports of an unchanged status", () -> statusPatches() >= 3);
        assertEquals("True", condition("Ready").getStatus());
    }

    @Test
    void aRuntimeThatDoesNotAnswerMakesTheNodeNotReady() throws Exception {
        startController(settings(Map.of(), List.of(), Map.of()), Duration.ofMillis(20), Duration.ofHours(1), Duration.ofSeconds(10));
        await("the first status", () -> condition("Ready") != null);
        fake.close();
        await("Ready turning False", () -> "False".equals(condition("Ready").getStatus()));
        assertEquals("container runtime is down", condition("Ready").getMessage());
    }

    @Test
    void theStatusKeepsOthersConditionsAndRetriesAfterAConflict() throws Exception {
        startController(settings(Map.of(), List.of(), Map.of()), Duration.ofMillis(20), Duration.ofHours(1), Duration.ofSeconds(10));
        await("the first status", () -> condition("Ready") != null);
        // a network add-on sets its own condition and someone labels the node: the agent's copy is now stale
        api.nodes().withName(NODE).subresource("status").patch(PatchContext.of(PatchType.JSON), "[{\"op\":\"add\",\"path\":"
                + "\"/status/conditions/-\",\"value\":{\"type\":\"NetworkUnavailable\",\"status\":\"False\",\"reason\":\"RouteCreated\","
                + "\"message\":\"by the add-on\"}}]");
        api.nodes().withName(NODE).edit(x -> {
            x.getMetadata().getLabels().put("touched", "yes");
            return x;
        });
        fake.statusAnswer = StatusResponse.newBuilder().setStatus(RuntimeStatus.newBuilder()
                .addConditions(RuntimeCondition.newBuilder().setType("RuntimeReady").setStatus(false).setReason("Broken").setMessage("m"))
                .addConditions(RuntimeCondition.newBuilder().setType("NetworkReady").setStatus(true))).build();
        await("Ready turning False", () -> "False".equals(condition("Ready").getStatus()));
        assertEquals("container runtime not ready: RuntimeReady=false reason:Broken message:m", condition("Ready").getMessage());
        assertTrue(dispatcher.count("PATCH /api/v1/nodes/" + NODE + "/status 409") >= 1, dispatcher.requests.toString());
        assertEquals("by the add-on", condition("NetworkUnavailable").getMessage());
        assertEquals("yes", node().getMetadata().getLabels().get("touched"));
    }

    @Test
    void apiErrorsDoNotStopRegistrationStatusOrLease() throws Exception {
        dispatcher.failing = true;
        startController(settings(Map.of(), List.of(), Map.of()), Duration.ofMillis(20), Duration.ofHours(1), Duration.ofMillis(50));
        await("registration attempts failing", () -> dispatcher.count("POST /api/v1/nodes 500") >= 3);
        dispatcher.failing = false;
        await("the node registered", () -> condition("Ready") != null);
        await("the lease", () -> api.leases().inNamespace("kube-node-lease").withName(NODE).get() != null);

        dispatcher.failing = true;
        long failed = dispatcher.count("PUT /apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/" + NODE + " 500");
        await("renewals failing", () -> dispatcher.count("PUT /apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/" + NODE + " 500")
                + dispatcher.count("GET /apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/" + NODE + " 500") >= failed + 3);
        fake.statusAnswer = StatusResponse.newBuilder().setStatus(RuntimeStatus.newBuilder()
                .addConditions(RuntimeCondition.newBuilder().setType("RuntimeReady").setStatus(true))).build();
        await("status writes failing", () -> dispatcher.count("PATCH /api/v1/nodes/" + NODE + "/status 500") >= 3);
        dispatcher.failing = false;
        await("Ready False written once the API answers again", () -> "False".equals(condition("Ready").getStatus()));
        assertEquals("container runtime network not ready: <nil>", condition("Ready").getMessage());
        long renewed = dispatcher.count("PUT /apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/" + NODE + " 200");
        await("renewals again", () -> dispatcher.count("PUT /apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/" + NODE + " 200")
                >= renewed + 2);
    }

    @Test
    void theLeaseIsRenewedEveryTenSecondsAsTheKubeletDoes() {
        // a quarter of the lease's 40 s: 6 renewals a minute, not 7.5
        assertEquals(Duration.ofSeconds(10), NodeController.Timing.of(NodeSettings.defaults()).leaseRenew());
    }
}
