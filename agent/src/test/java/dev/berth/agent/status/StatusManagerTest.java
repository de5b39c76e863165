package dev.berth.agent.status;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.cri.v1.ContainerMetadata;
import dev.berth.cri.v1.ContainerState;
import dev.berth.cri.v1.ContainerStatus;
import dev.berth.cri.v1.PodSandboxNetworkStatus;
import dev.berth.cri.v1.PodSandboxState;
import dev.berth.cri.v1.PodSandboxStatus;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.http.RecordedRequest;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The status upward against the mock API server (CRUD mode): what is written, when, and where. */
class StatusManagerTest {
    KubernetesMockServer server;
    KubernetesClient api;
    StatusManager manager;

    static final PodSandboxStatus SANDBOX = PodSandboxStatus.newBuilder().setId("sb").setState(PodSandboxState.SANDBOX_READY)
            .setNetwork(PodSandboxNetworkStatus.newBuilder().setIp("10.1.2.3")).build();

    @BeforeEach
    void start() {
        server = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(), new KubernetesCrudDispatcher(List.of()), false);
        server.init();
        api = server.createClient();
        manager = new StatusManager(api, new PodStatusBuilder(() -> "berth", () -> List.of("192.168.1.5"), Clock.systemUTC()),
                PodStatusBuilder.Messages.NONE);
    }

    @AfterEach
    void stop() {
        manager.close();
        api.close();
        server.destroy();
    }

    static Pod pod(String name, String uid, Map<String, String> annotations) {
        return new PodBuilder().withNewMetadata().withName(name).withNamespace("ns").withUid(uid).withAnnotations(annotations)
                .withLabels(Map.of("app", name)).endMetadata()
                .withNewSpec().withNodeName("n1").addNewContainer().withName("app").withImage("img:1").endContainer().endSpec().build();
    }

    static PodSnapshot snapshot(ContainerState state, int exitCode) {
        ContainerStatus c = ContainerStatus.newBuilder().setId("c1").setMetadata(ContainerMetadata.newBuilder().setName("app"))
                .setState(state).setStartedAt(5_000_000_000L).setExitCode(exitCode)
                .setFinishedAt(state == ContainerState.CONTAINER_EXITED ? 9_000_000_000L : 0).build();
        return new PodSnapshot(SANDBOX, Map.of("app", List.of(c)), Map.of());
    }

    /** The requests the server saw since the last call, as "METHOD path". */
    List<String> newRequests() throws InterruptedException {
        List<String> out = new ArrayList<>();
        while (server.getRequestCount() > taken) {
            RecordedRequest r = server.takeRequest();
            taken++;
            out.add(r.getMethod() + " " + r.getPath());
        }
        return out;
    }

    static void await(String what, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + 20_000_000_000L;
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting until " + what);
            }
            Thread.sleep(20);
        }
    }

    @Test
    void aStatusIsWrittenOnceThroughTheStatusSubresourceAndAgainOnlyWhenItChanges() throws Exception {
        Pod pod = api.pods().inNamespace("ns").resource(pod("web", "uid-1", Map.of())).create();
        drain();
        manager.synced(pod, snapshot(ContainerState.CONTAINER_RUNNING, 0));
        manager.flush();
        List<String> writes = newRequests();
        assertEquals(List.of("PATCH /api/v1/namespaces/ns/pods/web/status"), writes, "one write, of the status subresource");
        Pod stored = api.pods().inNamespace("ns").withName("web").get();
        assertEquals("Running", stored.getStatus().getPhase());
        assertEquals("10.1.2.3", stored.getStatus().getPodIP());
        assertEquals("192.168.1.5", stored.getStatus().getHostIP());
        assertEquals("berth://c1", stored.getStatus().getContainerStatuses().get(0).getContainerID());
        assertEquals(Map.of("app", "web"), stored.getMetadata().getLabels(), "the rest of the pod is left alone");
        drain();
        for (int i = 0; i < 5; i++) {
            manager.synced(pod, snapshot(ContainerState.CONTAINER_RUNNING, 0));
        }
        manager.flush();
        assertEquals(List.of(), newRequests(), "a steady pod costs no request");

        manager.synced(pod, snapshot(ContainerState.CONTAINER_EXITED, 2));
        manager.flush();
        assertEquals(List.of("PATCH /api/v1/namespaces/ns/pods/web/status"), newRequests());

        var terminated = api.pods().inNamespace("ns").withName("web").get().getStatus().getContainerStatuses().get(0).getState().getTerminated();
        assertEquals(2, terminated.getExitCode());
        assertEquals("Error", terminated.getReason());
    }

    @Test
    void aPodWhoseApiStatusIsAlreadyCurrentIsNotWrittenAgain() throws Exception {
        Pod pod = api.pods().inNamespace("ns").resource(pod("web", "uid-1", Map.of())).create();
        manager.synced(pod, snapshot(ContainerState.CONTAINER_RUNNING, 0));
        manager.flush();
        Pod current = api.pods().inNamespace("ns").withName("web").get();
        assertTrue(StatusManager.same(manager.status(pod.getMetadata().getUid()).orElseThrow(), current.getStatus()),
                "the status read back is the one written");
        manager.close();
        // a new agent (a restart) sees the pod with the status the last one wrote
        manager = new StatusManager(api, new PodStatusBuilder(() -> "berth", () -> List.of("192.168.1.5"), Clock.systemUTC()),
                PodStatusBuilder.Messages.NONE);
        drain();
        manager.synced(current, snapshot(ContainerState.CONTAINER_RUNNING, 0));
        manager.flush();
        assertEquals(List.of(), newRequests());
    }

    @Test
    void aStaticPodsStatusGoesToItsMirrorPodOnceThereIsOne() throws Exception {
        Pod staticPod = pod("kube-web-n1", "static-uid", Map.of("kubernetes.io/config.source", "file"));
        manager.synced(staticPod, snapshot(ContainerState.CONTAINER_RUNNING, 0));
        manager.flush();
        assertNull(api.pods().inNamespace("ns").withName("kube-web-n1").get(), "no mirror: nothing is made");

        Pod mirror = pod("kube-web-n1", "mirror-uid", Map.of("kubernetes.io/config.source", "file", StatusManager.MIRROR, "hash"));
        String mirrorUid = api.pods().inNamespace("ns").resource(mirror).create().getMetadata().getUid();
        // the write waits for the mirror with back-off: it comes
        await("the mirror pod has the status", () -> {
            Pod m = api.pods().inNamespace("ns").withName("kube-web-n1").get();
            return m.getStatus() != null && "Running".equals(m.getStatus().getPhase());
        });
        assertEquals(mirrorUid, api.pods().inNamespace("ns").withName("kube-web-n1").get().getMetadata().getUid());
    }

    @Test
    void standaloneStatusesAreBuiltAndNeverWritten() throws Exception {
        manager.close();
        manager = new StatusManager(null, new PodStatusBuilder(() -> "berth", List::of, Clock.systemUTC()), PodStatusBuilder.Messages.NONE);
        drain();
        manager.synced(pod("web", "uid-1", Map.of()), snapshot(ContainerState.CONTAINER_RUNNING, 0));
        manager.flush();
        assertEquals("Running", manager.status("uid-1").orElseThrow().getPhase());
        assertEquals(List.of(), newRequests());
        manager.terminated("uid-1");
        assertTrue(manager.status("uid-1").isEmpty(), "a terminated pod is forgotten");
    }

    private void drain() throws InterruptedException {
        newRequests();
    }

    private int taken;
}
