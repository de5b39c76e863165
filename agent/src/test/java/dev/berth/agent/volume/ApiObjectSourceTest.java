package dev.berth.agent.volume;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.api.model.authentication.TokenRequestBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.http.RecordedRequest;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * {@link ApiObjectSource} against fabric8's mock API server: configMaps and secrets in CRUD
 * mode. The CRUD mock has no TokenRequest subresource, so the token path runs against the
 * mock's expectation mode: the request berth sends (path, audiences, lifetime, the pod it is
 * bound to) is checked and a canned answer is read; whether a real API server accepts it is
 * not tested here.
 */
class ApiObjectSourceTest {
    private static final Pod POD = new PodBuilder().withNewMetadata().withNamespace("shop").withName("web").withUid("u-1").endMetadata().build();

    private static KubernetesMockServer crud() {
        KubernetesMockServer server = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(),
                new KubernetesCrudDispatcher(List.of()), false);
        server.init();
        return server;
    }

    @Test
    void configMapsAndSecretsAreReadAndAMissingOneIsEmpty() {
        KubernetesMockServer server = crud();
        try (KubernetesClient api = server.createClient()) {
            api.configMaps().inNamespace("shop").resource(new ConfigMapBuilder().withNewMetadata().withName("cfg").endMetadata()
                    .addToData("a", "1").addToBinaryData("b", "AAE=").build()).create();
            api.secrets().inNamespace("shop").resource(new SecretBuilder().withNewMetadata().withName("s").endMetadata()
                    .addToData("p", "aHVudGVyMg==").build()).create();
            ApiObjectSource source = new ApiObjectSource(api);
            assertEquals("1", source.configMap("shop", "cfg").orElseThrow().getData().get("a"));
            assertEquals("hunter2", new String(PodVolumes.secretData(source.secret("shop", "s").orElseThrow()).get("p")));
            assertTrue(source.configMap("shop", "nope").isEmpty());
            assertTrue(source.secret("other", "s").isEmpty());
        } finally {
            server.destroy();
        }
    }

    @Test
    void objectsAboveTheApisSizeLimitAreRefused() {
        KubernetesMockServer server = crud();
        try (KubernetesClient api = server.createClient()) {
            String big = "x".repeat((int) ObjectSource.MAX_OBJECT_BYTES);
            api.configMaps().inNamespace("shop").resource(new ConfigMapBuilder().withNewMetadata().withName("big").endMetadata()
                    .addToData("a", big).build()).create();
            api.secrets().inNamespace("shop").resource(new SecretBuilder().withNewMetadata().withName("big").endMetadata()
                    .addToData("a", java.util.Base64.getEncoder().encodeToString(big.getBytes())).build()).create();
            ApiObjectSource source = new ApiObjectSource(api);
            VolumeException e = assertThrows(VolumeException.class, () -> source.configMap("shop", "big"));
            assertTrue(e.getMessage().contains("more than the API's limit"), e.getMessage());
            assertThrows(VolumeException.class, () -> source.secret("shop", "big"));
        } finally {
            server.destroy();
        }
    }

    @Test
    void aTokenIsRequestedThroughTheServiceAccountsTokenSubresourceBoundToThePod() throws Exception {
        KubernetesMockServer server = new KubernetesMockServer(false);
        server.init();
        try (KubernetesClient api = server.createClient()) {
            server.expect().post().withPath("/api/v1/namespaces/shop/serviceaccounts/robot/token")
                    .andReturn(201, new TokenRequestBuilder().withNewStatus().withToken("jwt").withExpirationTimestamp("2030-01-01T00:00:00Z")
                            .endStatus().build()).once();
            ObjectSource.ServiceAccountToken t = new ApiObjectSource(api).serviceAccountToken("shop", "robot", List.of("vault"), 3600, POD);
            assertEquals(new ObjectSource.ServiceAccountToken("jwt", Instant.parse("2030-01-01T00:00:00Z")), t);
            RecordedRequest sent = server.takeRequest(5, TimeUnit.SECONDS);
            assertEquals("/api/v1/namespaces/shop/serviceaccounts/robot/token", sent.getPath());
            Map<?, ?> body = new com.fasterxml.jackson.databind.ObjectMapper().readValue(sent.getUtf8Body(), Map.class);
            Map<?, ?> spec = (Map<?, ?>) body.get("spec");
            assertEquals(List.of("vault"), spec.get("audiences"));
            assertEquals(3600, spec.get("expirationSeconds"));
            assertEquals(Map.of("apiVersion", "v1", "kind", "Pod", "name", "web", "uid", "u-1"), spec.get("boundObjectRef"));

            server.expect().post().withPath("/api/v1/namespaces/shop/serviceaccounts/robot/token")
                    .andReturn(201, new TokenRequestBuilder().withNewStatus().endStatus().build()).once();
            VolumeException empty = assertThrows(VolumeException.class,
                    () -> new ApiObjectSource(api).serviceAccountToken("shop", "robot", List.of(), 3600, POD));
            assertTrue(empty.getMessage().contains("without a token"), empty.getMessage());
            server.expect().post().withPath("/api/v1/namespaces/shop/serviceaccounts/ghost/token").andReturn(404, "").once();
            VolumeException missing = assertThrows(VolumeException.class,
                    () -> new ApiObjectSource(api).serviceAccountToken("shop", "ghost", List.of(), 3600, POD));
            assertTrue(missing.getMessage().startsWith("cannot get a token of service account shop/ghost"), missing.getMessage());
        } finally {
            server.destroy();
        }
    }
}
