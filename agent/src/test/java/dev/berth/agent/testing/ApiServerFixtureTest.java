package dev.berth.agent.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.agent.api.ApiClients;
import io.fabric8.kubernetes.api.model.DeleteOptionsBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.Watch;
import io.fabric8.kubernetes.client.Watcher;
import io.fabric8.kubernetes.client.WatcherException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The mock API server as the agent's tests rely on it: the node field selector, graceful deletion, preconditions. */
class ApiServerFixtureTest {
    private final ApiServerFixture server = new ApiServerFixture();
    private final KubernetesClient client = server.client();

    @AfterEach
    void close() {
        client.close();
        server.close();
    }

    static Pod pod(String namespace, String name, String node) {
        return new PodBuilder().withNewMetadata().withNamespace(namespace).withName(name).endMetadata()
                .withNewSpec().withNodeName(node).addNewContainer().withName("c").withImage("i").endContainer().endSpec().build();
    }

    private List<String> namesOn(String node) {
        return client.pods().inAnyNamespace().withField("spec.nodeName", node).list().getItems().stream()
                .map(p -> p.getMetadata().getName()).sorted().toList();
    }

    @Test
    void listsAndWatchesFilterPodsByTheirNode() throws Exception {
        client.resource(pod("a", "mine", "n1")).create();
        client.resource(pod("b", "theirs", "n2")).create();
        client.resource(pod("a", "unbound", null)).create();
        assertEquals(List.of("mine"), namesOn("n1"));
        assertEquals(List.of("theirs"), namesOn("n2"));
        assertEquals(3, client.pods().inAnyNamespace().list().getItems().size(), "without a selector: every pod");

        LinkedBlockingQueue<String> events = new LinkedBlockingQueue<>();
        try (Watch w = client.pods().inAnyNamespace().withField("spec.nodeName", "n1").watch(new Watcher<>() {
            @Override
            public void eventReceived(Action action, Pod p) {
                events.add(action + " " + p.getMetadata().getName());
            }

            @Override
            public void onClose(WatcherException e) {
            }
        })) {
            assertEquals("ADDED mine", events.poll(10, TimeUnit.SECONDS), "a watch from no resourceVersion starts with what exists");
            client.resource(pod("b", "later-theirs", "n2")).create();
            client.resource(pod("b", "later-mine", "n1")).create();
            assertEquals("ADDED later-mine", events.poll(10, TimeUnit.SECONDS));
            client.pods().inNamespace("b").withName("later-mine").edit(p -> {
                p.getMetadata().setLabels(java.util.Map.of("x", "y"));
                return p;
            });
            assertEquals("MODIFIED later-mine", events.poll(10, TimeUnit.SECONDS));
            client.pods().inNamespace("b").withName("later-mine").withGracePeriod(0).delete();
            assertEquals("DELETED later-mine", events.poll(10, TimeUnit.SECONDS));
            assertNull(events.poll(200, TimeUnit.MILLISECONDS), "nothing of n2's pods: " + events);
        }
    }

    @Test
    void ignoringFieldSelectorsReturnsEveryPod() {
        client.resource(pod("a", "mine", "n1")).create();
        client.resource(pod("b", "theirs", "n2")).create();
        server.ignoreFieldSelectors(true);
        assertEquals(List.of("mine", "theirs"), namesOn("n1"));
        server.ignoreFieldSelectors(false);
        assertEquals(List.of("mine"), namesOn("n1"));
    }

    @Test
    void deletingABoundPodMarksItUntilAGraceZeroDelete() {
        Pod p = pod("a", "mine", "n1");
        p.getSpec().setTerminationGracePeriodSeconds(7L);
        String uid = client.resource(p).create().getMetadata().getUid();
        client.pods().inNamespace("a").withName("mine").delete();
        Pod marked = client.pods().inNamespace("a").withName("mine").get();
        assertNotNull(marked.getMetadata().getDeletionTimestamp());
        assertEquals(7L, marked.getMetadata().getDeletionGracePeriodSeconds());
        assertEquals(uid, marked.getMetadata().getUid());

        KubernetesClientException refused = assertThrows(KubernetesClientException.class, () -> client.raw(
                "/api/v1/namespaces/a/pods/mine", "DELETE", new DeleteOptionsBuilder().withGracePeriodSeconds(0L)
                        .withNewPreconditions().withUid("another-uid").endPreconditions().build()));
        assertEquals(409, refused.getCode());
        assertNotNull(client.pods().inNamespace("a").withName("mine").get(), "a failed precondition deletes nothing");

        client.raw("/api/v1/namespaces/a/pods/mine", "DELETE", new DeleteOptionsBuilder().withGracePeriodSeconds(0L)
                .withNewPreconditions().withUid(uid).endPreconditions().build());
        assertNull(client.pods().inNamespace("a").withName("mine").get());
    }

    @Test
    void aMarkedPodStaysThroughPatchesOfItsStatusAndUpdates() {
        Pod p = pod("a", "mine", "n1");
        p.getSpec().setTerminationGracePeriodSeconds(7L);
        client.resource(p).create();
        client.pods().inNamespace("a").withName("mine").delete();
        // the agent writes the status of a pod it is stopping: a JSON patch of the status subresource
        String patch = "[{\"op\":\"add\",\"path\":\"/status\",\"value\":{\"phase\":\"Running\"}}]";
        client.pods().inNamespace("a").withName("mine").subresource("status")
                .patch(io.fabric8.kubernetes.client.dsl.base.PatchContext.of(io.fabric8.kubernetes.client.dsl.base.PatchType.JSON), patch);
        Pod after = client.pods().inNamespace("a").withName("mine").get();
        assertNotNull(after, "a marked pod stays until its delete with grace 0");
        assertNotNull(after.getMetadata().getDeletionTimestamp());
        assertEquals("Running", after.getStatus().getPhase());
        assertTrue(after.getMetadata().getFinalizers().isEmpty(), "no finalizer of the fixture shows: " + after.getMetadata());
        client.pods().inNamespace("a").withName("mine").edit(x -> new PodBuilder(x).editMetadata().addToLabels("k", "v").endMetadata().build());
        after = client.pods().inNamespace("a").withName("mine").get();
        assertNotNull(after, "and through an update");
        assertEquals("v", after.getMetadata().getLabels().get("k"));
        assertNotNull(after.getMetadata().getDeletionTimestamp());
        assertTrue(after.getMetadata().getFinalizers().isEmpty());
        client.pods().inNamespace("a").withName("mine").withGracePeriod(0).delete();
        assertNull(client.pods().inNamespace("a").withName("mine").get());
    }

    @Test
    void unboundPodsAreDeletedAtOnce() {
        client.resource(pod("a", "unbound", null)).create();
        client.pods().inNamespace("a").withName("unbound").delete();
        assertNull(client.pods().inNamespace("a").withName("unbound").get());
    }

    @Test
    void aKubeconfigReachesTheServerAndRequestsAreRecorded(@TempDir Path dir) throws Exception {
        client.resource(pod("a", "mine", "n1")).create();
        server.clearRequests();
        try (KubernetesClient other = ApiClients.fromKubeconfig(server.writeKubeconfig(dir.resolve("kubeconfig")))) {
            assertEquals("mine", other.pods().inNamespace("a").withName("mine").get().getMetadata().getName());
        }
        assertEquals(List.of("GET /api/v1/namespaces/a/pods/mine"), server.requests());
        assertTrue(server.url().startsWith("http://"));
    }
}
