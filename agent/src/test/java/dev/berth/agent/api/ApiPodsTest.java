package dev.berth.agent.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.berth.agent.cri.CriClient;
import dev.berth.agent.pod.KubeletKeys;
import dev.berth.agent.pod.NodeFacts;
import dev.berth.agent.pod.PodSync;
import dev.berth.agent.pod.PodTranslation;
import dev.berth.agent.pod.PodWorkers;
import dev.berth.agent.staticpod.ManifestParser;
import dev.berth.agent.staticpod.StaticPods;
import dev.berth.agent.testing.ApiServerFixture;
import dev.berth.agent.testing.FakeCri;
import dev.berth.cri.v1.ContainerState;
import dev.berth.cri.v1.PodSandbox;
import dev.berth.cri.v1.PodSandboxConfig;
import dev.berth.cri.v1.PodSandboxMetadata;
import dev.berth.cri.v1.PodSandboxState;
import dev.berth.cri.v1.RunPodSandboxRequest;
import dev.berth.cri.v1.RuntimeServiceGrpc;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Pods bound to the node through the mock API server, against an in-memory CRI runtime. */
class ApiPodsTest {
    private static final String NODE = "n1";

    @TempDir
    Path dir;

    private final ApiServerFixture server = new ApiServerFixture();
    private final KubernetesClient client = server.client();
    private KubernetesClient agentClient;
    private FakeCri cri;
    private PodWorkers workers;
    private ApiPods pods;
    private StaticPods staticPods;

    @BeforeEach
    void setUp() throws Exception {
        cri = new FakeCri();
        cri.images.add("local/app:1");
    }

    /** The agent's pieces as Agent.start wires them, with a short resync. */
    private void startAgent(boolean withStaticPods) throws Exception {
        CriClient c = new CriClient(cri.channel(), Duration.ofSeconds(30), Duration.ofSeconds(30));
        workers = new PodWorkers(new PodSync(c, new PodTranslation(new NodeFacts(1L << 30, List.of(), List.of(), List.of()),
                dir.resolve("logs"))));
        agentClient = server.client();
        pods = new ApiPods(agentClient, NODE, workers, c, Duration.ofMillis(500));
        if (withStaticPods) {
            staticPods = new StaticPods(Files.createDirectories(dir.resolve("manifests")), new ManifestParser(NODE), workers, c,
                    Duration.ofMillis(500));
            staticPods.onReconcile(pods.mirrorPods()::update);
            staticPods.start();
        }
        pods.start();
    }

    @AfterEach
    void tearDown() {
        if (pods != null) {
            pods.close();
        }
        if (staticPods != null) {
            staticPods.close();
        }
        if (workers != null) {
            workers.close();
        }
        if (agentClient != null) {
            agentClient.close();
        }
        client.close();
        server.close();
        cri.close();
    }

    private static void await(String what, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                fail("never happened: " + what);
            }
            Thread.sleep(10);
        }
    }

    private static <T> T awaitValue(String what, Supplier<T> probe) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (true) {
            T v = probe.get();
            if (v != null) {
                return v;
            }
            if (System.nanoTime() > deadline) {
                fail("never happened: " + what);
            }
            Thread.sleep(10);
        }
    }

    static Pod pod(String name, String node) {
        return new PodBuilder().withNewMetadata().withNamespace("apps").withName(name).endMetadata()
                .withNewSpec().withNodeName(node).withTerminationGracePeriodSeconds(5L)
                .addNewContainer().withName("app").withImage("local/app:1").withArgs("serve").endContainer().endSpec().build();
    }

    private List<PodSandbox> sandboxesOf(String uid) {
        return cri.sandboxes.values().stream().filter(s -> uid.equals(s.getLabelsMap().get(KubeletKeys.POD_UID))).toList();
    }

    private boolean running(String uid) {
        List<PodSandbox> s = sandboxesOf(uid);
        return s.size() == 1 && s.get(0).getState() == PodSandboxState.SANDBOX_READY
                && cri.containerStates(s.get(0).getId()).get("app") == ContainerState.CONTAINER_RUNNING;
    }

    private String create(Pod pod) {
        return client.resource(pod).create().getMetadata().getUid();
    }

    @Test
    void aBoundPodRunsAndAnotherNodesPodDoesNot() throws Exception {
        String theirs = create(pod("theirs", "n2"));
        String mine = create(pod("mine", NODE));
        startAgent(false);
        await("the bound pod runs", () -> running(mine));
        PodSandbox s = sandboxesOf(mine).get(0);
        assertEquals(KubeletKeys.SOURCE_API, s.getLabelsOrThrow(KubeletKeys.POD_SOURCE));
        assertEquals("apps", s.getMetadata().getNamespace());
        assertEquals("mine", s.getMetadata().getName());
        assertTrue(sandboxesOf(theirs).isEmpty());
        assertFalse(workers.uids().contains(theirs));
        assertTrue(server.requests().stream().anyMatch(r -> r.startsWith("GET /api/v1/pods?") && r.contains("fieldSelector=spec.nodeName%3Dn1")),
                "the agent asks for its node's pods: " + server.requests());
    }

    @Test
    void anotherNodesPodIsIgnoredAlsoWhenTheApiServerIgnoresTheFieldSelector() throws Exception {
        server.ignoreFieldSelectors(true);
        String theirs = create(pod("theirs", "n2"));
        String unbound = create(pod("unbound", null));
        startAgent(false);
        String mine = create(pod("mine", NODE));
        await("the bound pod runs", () -> running(mine));
        String later = create(pod("later-theirs", "n2"));
        String mine2 = create(pod("mine2", NODE));
        await("the second bound pod runs", () -> running(mine2));
        for (String uid : List.of(theirs, unbound, later)) {
            assertTrue(sandboxesOf(uid).isEmpty(), uid);
            assertFalse(workers.uids().contains(uid), uid);
        }
        assertEquals(2, cri.sandboxes.size());
    }

    @Test
    void aPodMarkedForDeletionIsStoppedAndItsObjectDeleted() throws Exception {
        startAgent(false);
        String uid = create(pod("web", NODE));
        await("the pod runs", () -> running(uid));
        client.pods().inNamespace("apps").withName("web").delete();
        await("the object is deleted", () -> client.pods().inNamespace("apps").withName("web").get() == null);
        assertTrue(sandboxesOf(uid).isEmpty(), "the sandbox is removed before the object goes");
        assertTrue(cri.containers.isEmpty());
        assertEquals(1, cri.calls("StopContainer"));
        assertTrue(server.requests().stream().anyMatch(r -> r.startsWith("DELETE /api/v1/namespaces/apps/pods/web")));
        await("the worker is gone", () -> workers.uids().isEmpty());
    }

    @Test
    void theDeletionOfAStoppedPodNeverDeletesANewPodOfTheSameName() throws Exception {
        Pod old = client.resource(pod("web", NODE)).create();
        client.pods().inNamespace("apps").withName("web").withGracePeriod(0).delete();
        String second = create(pod("web", NODE));
        startAgent(false);
        await("the new pod runs", () -> running(second));
        pods.deleteObject(old); // the old pod's stop ends only now
        Pod still = client.pods().inNamespace("apps").withName("web").get();
        assertNotNull(still, "the new pod's object stays");
        assertEquals(second, still.getMetadata().getUid());
        pods.deleteObject(still);
        assertEquals(null, client.pods().inNamespace("apps").withName("web").get(), "its own pod's object is deleted");
    }

    @Test
    void aPodDeletedFromTheApiIsStopped() throws Exception {
        startAgent(false);
        String uid = create(pod("web", NODE));
        await("the pod runs", () -> running(uid));
        client.pods().inNamespace("apps").withName("web").withGracePeriod(0).delete();
        await("the pod is stopped and removed", () -> sandboxesOf(uid).isEmpty());
        assertEquals(1, cri.calls("StopContainer"));
    }

    @Test
    void anApiPodClaimingToBeStaticIsStillTheApis() throws Exception {
        Pod p = pod("claims-file", NODE);
        p.getMetadata().setAnnotations(Map.of(KubeletKeys.CONFIG_SOURCE, KubeletKeys.SOURCE_FILE));
        startAgent(true);
        String uid = create(p);
        await("the pod runs", () -> running(uid));
        assertEquals(KubeletKeys.SOURCE_API, sandboxesOf(uid).get(0).getLabelsOrThrow(KubeletKeys.POD_SOURCE));
        Thread.sleep(1200); // two reconciles of the static pods, which stop every file pod not in the directory
        assertTrue(running(uid));
        assertEquals(1, cri.calls("RunPodSandbox"));
    }

    @Test
    void aPodInATerminalPhaseIsNotStarted() throws Exception {
        Pod done = pod("done", NODE);
        done.setStatus(new io.fabric8.kubernetes.api.model.PodStatusBuilder().withPhase("Succeeded").build());
        String doneUid = create(done);
        startAgent(false);
        String uid = create(pod("web", NODE));
        await("the other pod runs", () -> running(uid));
        assertTrue(sandboxesOf(doneUid).isEmpty());
    }

    private String sandbox(String uid, String name, Map<String, String> labels) {
        return RuntimeServiceGrpc.newBlockingStub(cri.channel()).runPodSandbox(RunPodSandboxRequest.newBuilder()
                .setConfig(PodSandboxConfig.newBuilder().setMetadata(PodSandboxMetadata.newBuilder().setName(name).setNamespace("apps")
                        .setUid(uid)).putAllLabels(labels)).build()).getPodSandboxId();
    }

    @Test
    void orphanApiSandboxesAreRemovedOthersAreLeftAlone() throws Exception {
        String kept = create(pod("kept", NODE));
        String orphan = sandbox("orphan-uid", "orphan", Map.of(KubeletKeys.POD_UID, "orphan-uid", KubeletKeys.POD_SOURCE, "api"));
        String file = sandbox("file-uid", "static", Map.of(KubeletKeys.POD_UID, "file-uid", KubeletKeys.POD_SOURCE, "file"));
        String crictl = sandbox("crictl-uid", "mine", Map.of(KubeletKeys.POD_UID, "crictl-uid"));
        String adopted = sandbox(kept, "kept", Map.of(KubeletKeys.POD_UID, kept, KubeletKeys.POD_SOURCE, "api",
                KubeletKeys.POD_NAME, "kept", KubeletKeys.POD_NAMESPACE, "apps"));
        startAgent(false);
        // nothing is known to be an orphan before the first list has synced
        ApiPods early = new ApiPods(agentClient, NODE, workers, new CriClient(cri.channel(), Duration.ofSeconds(5), Duration.ofSeconds(5)));
        early.sweepOrphans();
        early.close();
        await("the orphan is removed", () -> !cri.sandboxes.containsKey(orphan));
        await("the kept pod runs in the sandbox it had", () -> running(kept));
        Thread.sleep(1200); // two more sweeps
        assertTrue(cri.sandboxes.containsKey(file), "a static pod's sandbox stays");
        assertTrue(cri.sandboxes.containsKey(crictl), "a sandbox the agent did not make stays");
        assertTrue(cri.sandboxes.containsKey(adopted), "the pod's own sandbox is adopted");
        assertEquals(4, cri.calls("RunPodSandbox"), "the test's four sandboxes, nothing recreated");
    }

    private static final String STATIC = """
            apiVersion: v1
            kind: Pod
            metadata: {name: web, namespace: kube-system, labels: {tier: node}}
            spec:
              containers:
              - {name: app, image: "local/app:1", args: ["%s"]}
            """;

    private Pod mirror() {
        return client.pods().inNamespace("kube-system").withName("web-" + NODE).get();
    }

    @Test
    void staticPodsHaveMirrorPodsKeptInSync() throws Exception {
        String nodeUid = client.resource(new NodeBuilder().withNewMetadata().withName(NODE).endMetadata().build()).create()
                .getMetadata().getUid();
        startAgent(true);
        Files.writeString(dir.resolve("manifests/web.yaml"), STATIC.formatted("one"));
        Pod m = awaitValue("the mirror pod", this::mirror);
        String hash = m.getMetadata().getAnnotations().get(MirrorPods.CONFIG_MIRROR);
        assertEquals(hash, m.getMetadata().getAnnotations().get(KubeletKeys.CONFIG_HASH));
        assertEquals(NODE, m.getSpec().getNodeName());
        assertEquals("node", m.getMetadata().getLabels().get("tier"));
        assertEquals("Node", m.getMetadata().getOwnerReferences().get(0).getKind());
        assertEquals(nodeUid, m.getMetadata().getOwnerReferences().get(0).getUid());
        await("the static pod runs", () -> running(hash));
        assertEquals(KubeletKeys.SOURCE_FILE, sandboxesOf(hash).get(0).getLabelsOrThrow(KubeletKeys.POD_SOURCE));
        // in steady state, resyncs of the pods and the mirror pods ask nothing of the API server
        server.clearRequests();
        Thread.sleep(1600);
        assertEquals(List.of(), server.requests());

        // deleted by someone: made again
        client.pods().inNamespace("kube-system").withName("web-" + NODE).withGracePeriod(0).delete();
        Pod again = awaitValue("the mirror pod again", () -> {
            Pod p = mirror();
            return p != null && !p.getMetadata().getUid().equals(m.getMetadata().getUid()) ? p : null;
        });
        assertEquals(hash, again.getMetadata().getAnnotations().get(MirrorPods.CONFIG_MIRROR));

        // the static pod changes: the mirror pod is replaced
        Files.writeString(dir.resolve("manifests/web.yaml"), STATIC.formatted("two"));
        Pod replaced = awaitValue("a new mirror pod", () -> {
            Pod p = mirror();
            return p != null && !hash.equals(p.getMetadata().getAnnotations().get(MirrorPods.CONFIG_MIRROR)) ? p : null;
        });
        String newHash = replaced.getMetadata().getAnnotations().get(MirrorPods.CONFIG_MIRROR);
        await("the new static pod runs", () -> running(newHash));
        assertEquals(List.of("two"), replaced.getSpec().getContainers().get(0).getArgs());

        // the static pod goes: so does its mirror
        Files.delete(dir.resolve("manifests/web.yaml"));
        await("the mirror pod is deleted", () -> mirror() == null);
        await("the static pod is removed", () -> cri.sandboxes.isEmpty());
        assertEquals(2, cri.calls("RunPodSandbox"), "a mirror pod never runs as an API pod: one sandbox per static pod");
    }

    @Test
    void aMirrorPodWithoutItsStaticPodNeverRunsAndIsDeleted() throws Exception {
        Pod stray = pod("stray-" + NODE, NODE);
        stray.getMetadata().setAnnotations(Map.of(MirrorPods.CONFIG_MIRROR, "0123", KubeletKeys.CONFIG_SOURCE, "file"));
        String strayUid = create(stray);
        startAgent(true);
        String uid = create(pod("web", NODE));
        await("a bound pod runs", () -> running(uid));
        await("the stray mirror pod is deleted", () -> client.pods().inNamespace("apps").withName("stray-" + NODE).get() == null);
        assertTrue(sandboxesOf(strayUid).isEmpty());
        assertEquals(1, cri.calls("RunPodSandbox"));
    }

    @Test
    void withoutStaticPodsAMirrorPodOnlyNeverRuns() throws Exception {
        Pod stray = pod("stray-" + NODE, NODE);
        stray.getMetadata().setAnnotations(Map.of(MirrorPods.CONFIG_MIRROR, "0123"));
        String strayUid = create(stray);
        startAgent(false);
        String uid = create(pod("web", NODE));
        await("a bound pod runs", () -> running(uid));
        assertTrue(sandboxesOf(strayUid).isEmpty());
        assertEquals(1, cri.sandboxes.size());
    }
}
