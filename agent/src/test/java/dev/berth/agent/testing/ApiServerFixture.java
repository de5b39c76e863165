package dev.berth.agent.testing;

import io.fabric8.kubernetes.api.model.DeleteOptions;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.crud.Attribute;
import io.fabric8.mockwebserver.crud.AttributeSet;
import io.fabric8.mockwebserver.dsl.HttpMethod;
import io.fabric8.mockwebserver.http.MockResponse;
import io.fabric8.mockwebserver.http.RecordedRequest;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * fabric8's mock API server in CRUD mode, taught what the agent needs of a real one: pods are
 * stored with their {@code spec.nodeName}, so lists and watches with the field selector
 * {@code spec.nodeName=X} return exactly the pods bound to X (the stock mock returns nothing);
 * deleting a pod bound to a node with a grace period only marks it (deletionTimestamp,
 * deletionGracePeriodSeconds), as the API server does, until a delete with grace 0 removes it;
 * a delete with a uid precondition that does not hold is refused with 409; a pod marked so stays
 * through updates and patches of it or its status (the stock mock removes it at the first). With
 * {@link #ignoreFieldSelectors} it ignores every field selector and returns every pod, as a
 * careless API server could: the agent must check {@code spec.nodeName} itself. Every request
 * is recorded ({@link #requests()}), to count what the agent asks of the API server.
 */
public final class ApiServerFixture implements AutoCloseable {
    private static final Pattern POD_PATH = Pattern.compile("/api/v1/namespaces/([^/]+)/pods/([^/?]+)(\\?.*)?");
    private static final Pattern POD_OR_STATUS_PATH = Pattern.compile("/api/v1/namespaces/([^/]+)/pods/([^/?]+)(/status)?(\\?.*)?");
    /** The finalizer that keeps the stock mock from removing a marked pod while it is updated; never stored or sent. */
    private static final String HOLD = "berth.dev/test-hold";

    private final NodeAwareDispatcher dispatcher = new NodeAwareDispatcher();
    private final KubernetesMockServer server;
    private final List<String> requests = new CopyOnWriteArrayList<>();
    private volatile boolean ignoreFieldSelectors;

    public ApiServerFixture() {
        server = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(), dispatcher, false);
        server.init();
    }

    /** A new client of this server (the caller closes it). */
    public KubernetesClient client() {
        return server.createClient();
    }

    /** The server's base URL, e.g. {@code http://localhost:PORT/}. */
    public String url() {
        return server.url("/");
    }

    /** From now on field selectors are ignored (true) or applied (false, the default). */
    public void ignoreFieldSelectors(boolean ignore) {
        this.ignoreFieldSelectors = ignore;
    }

    /** Every request so far, as {@code METHOD path?query}. */
    public List<String> requests() {
        return List.copyOf(requests);
    }

    /** Forgets the requests recorded so far. */
    public void clearRequests() {
        requests.clear();
    }

    /**
     * Writes a kubeconfig whose current context reaches this server without credentials, for
     * a client in another process ({@code berth agent --kubeconfig}).
     */
    public Path writeKubeconfig(Path file) throws IOException {
        String server = url().replaceAll("/$", "");
        String text = """
                apiVersion: v1
                kind: Config
                clusters:
                - name: mock
                  cluster:
                    server: %s
                users:
                - name: agent
                  user: {}
                contexts:
                - name: mock
                  context: {cluster: mock, user: agent, namespace: default}
                current-context: mock
                """.formatted(server);
        Files.createDirectories(file.toAbsolutePath().getParent());
        Files.writeString(file, text, StandardCharsets.UTF_8);
        return file;
    }

    /**
     * Stops the mock. Its web server waits a fixed few seconds for its event loop to stop, which a
     * loaded machine can exceed; that is the mock's own shutdown, not the code under test, so it
     * is reported and not failed on.
     */
    @Override
    public void close() {
        try {
            server.destroy();
        } catch (IllegalStateException e) {
            System.err.println("ApiServerFixture: the mock API server's shutdown timed out: " + e);
        }
    }

    /** The CRUD dispatcher with the additions above. */
    private final class NodeAwareDispatcher extends KubernetesCrudDispatcher {
        NodeAwareDispatcher() {
            super(List.of());
        }

        @Override
        public MockResponse dispatch(RecordedRequest request) {
            requests.add(request.getMethod() + " " + request.getPath());
            if (request.method() == HttpMethod.DELETE) {
                Matcher m = POD_PATH.matcher(request.getPath());
                if (m.matches()) {
                    synchronized (this) {
                        return deletePod(request, "/api/v1/namespaces/" + m.group(1) + "/pods/" + m.group(2));
                    }
                }
            }
            if (request.method() == HttpMethod.PATCH || request.method() == HttpMethod.PUT) {
                Matcher m = POD_OR_STATUS_PATH.matcher(request.getPath());
                if (m.matches()) {
                    synchronized (this) {
                        return updatePod(request, "/api/v1/namespaces/" + m.group(1) + "/pods/" + m.group(2));
                    }
                }
            }
            return super.dispatch(request);
        }

        private boolean holding;

        /**
         * A pod's PATCH or PUT (of it or its status). The stock mock removes an object marked for
         * deletion without finalizers at its next update; a pod marked by {@link #deletePod} must
         * stay until its delete with grace 0, as on a real API server. So a marked pod gets a
         * finalizer for the update, taken away again before the result is stored and sent to watches.
         */
        private MockResponse updatePod(RecordedRequest request, String path) {
            AttributeSet key = getKey(path);
            Map.Entry<AttributeSet, String> current = findResource(key);
            if (current == null) {
                return super.dispatch(request);
            }
            GenericKubernetesResource stored = Serialization.unmarshal(current.getValue(), GenericKubernetesResource.class);
            if (stored.getMetadata().getDeletionTimestamp() == null || !stored.getMetadata().getFinalizers().isEmpty()) {
                return super.dispatch(request);
            }
            stored.getMetadata().setFinalizers(new ArrayList<>(List.of(HOLD)));
            map.put(current.getKey(), Serialization.asJson(stored));
            holding = true;
            try {
                return super.dispatch(request);
            } finally {
                holding = false;
                Map.Entry<AttributeSet, String> after = findResource(key);
                if (after != null && after.getValue().contains(HOLD)) { // the update failed: the stored pod as it was
                    GenericKubernetesResource r = Serialization.unmarshal(after.getValue(), GenericKubernetesResource.class);
                    r.getMetadata().getFinalizers().remove(HOLD);
                    map.put(after.getKey(), Serialization.asJson(r));
                }
            }
        }

        /** A pod's DELETE: its uid precondition checked, a bound pod with a grace period marked, not removed. */
        private MockResponse deletePod(RecordedRequest request, String path) {
            Map.Entry<AttributeSet, String> current = findResource(getKey(path));
            if (current == null) {
                return super.dispatch(request);
            }
            Pod pod = Serialization.unmarshal(current.getValue(), Pod.class);
            String body = request.getBody() == null ? "" : request.getBody().readUtf8();
            DeleteOptions options = body.isBlank() ? new DeleteOptions() : Serialization.unmarshal(body, DeleteOptions.class);
            if (options.getPreconditions() != null && options.getPreconditions().getUid() != null
                    && !options.getPreconditions().getUid().equals(pod.getMetadata().getUid())) {
                return new MockResponse().setResponseCode(409).setBody("{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\","
                        + "\"reason\":\"Conflict\",\"code\":409,\"message\":\"Precondition failed: UID in precondition: "
                        + options.getPreconditions().getUid() + ", UID in object meta: " + pod.getMetadata().getUid() + "\"}");
            }
            Long grace = options.getGracePeriodSeconds();
            if (grace == null) {
                grace = pod.getSpec().getTerminationGracePeriodSeconds() != null ? pod.getSpec().getTerminationGracePeriodSeconds() : 30L;
            }
            if (grace == 0 || pod.getSpec().getNodeName() == null || pod.getSpec().getNodeName().isEmpty()) {
                return handleDelete(path);
            }
            if (pod.getMetadata().getDeletionTimestamp() == null) {
                // stored as it is, not through an update: the stock mock removes an update marked for deletion
                pod.getMetadata().setDeletionTimestamp(Instant.now().plusSeconds(grace).truncatedTo(ChronoUnit.SECONDS).toString());
                pod.getMetadata().setDeletionGracePeriodSeconds(grace);
                pod.getMetadata().setResourceVersion(String.valueOf(requestResourceVersion()));
                processEvent(path, getKey(path), current.getKey(), null, Serialization.asJson(pod));
            }
            return handleGet(path);
        }

        /** Stores a pod with its {@code spec.nodeName}, as the field selector of a real API server sees it. */
        @Override
        public void processEvent(String path, AttributeSet pathAttributes, AttributeSet oldAttributes, GenericKubernetesResource resource,
                String newState) {
            AttributeSet attributes = pathAttributes;
            if (holding && newState != null && newState.contains(HOLD)) {
                resource = Serialization.unmarshal(newState, GenericKubernetesResource.class);
                resource.getMetadata().getFinalizers().remove(HOLD);
                newState = Serialization.asJson(resource);
            }
            if (newState != null) {
                GenericKubernetesResource r = resource != null ? resource : Serialization.unmarshal(newState, GenericKubernetesResource.class);
                if ("Pod".equals(r.getKind()) && r.getAdditionalProperties().get("spec") instanceof Map<?, ?> spec
                        && spec.get("nodeName") instanceof String node && !node.isEmpty()) {
                    attributes = attributes.add(new Attribute("spec.nodeName", node));
                }
            }
            super.processEvent(path, attributes, oldAttributes, resource, newState);
        }

        @Override
        public MockResponse handleGet(String path) {
            return super.handleGet(withoutIgnoredSelectors(path));
        }

        @Override
        public MockResponse handleWatch(String path) {
            return super.handleWatch(withoutIgnoredSelectors(path));
        }

        private String withoutIgnoredSelectors(String path) {
            int q = path.indexOf('?');
            if (!ignoreFieldSelectors || q < 0) {
                return path;
            }
            List<String> kept = new ArrayList<>();
            for (String p : path.substring(q + 1).split("&")) {
                if (!p.startsWith("fieldSelector=")) {
                    kept.add(p);
                }
            }
            return path.substring(0, q) + (kept.isEmpty() ? "" : "?" + String.join("&", kept));
        }
    }
}
