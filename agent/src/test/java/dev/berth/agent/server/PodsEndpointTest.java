package dev.berth.agent.server;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import dev.berth.agent.testing.RecordingResponse;
import dev.berth.common.Json;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodStatusBuilder;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class PodsEndpointTest {
    private static Pod pod(String ns, String name, String uid) {
        return new PodBuilder().withNewMetadata().withNamespace(ns).withName(name).withUid(uid).endMetadata()
                .withNewSpec().addNewContainer().withName("c").withImage("busybox").endContainer().endSpec()
                .withNewStatus().withPhase("Pending").endStatus().build();
    }

    @Test
    void theAgentsPodsAsAPodListWithTheNewestStatusBuilt() throws Exception {
        Pod a = pod("kube-system", "static-node1", "uid-a");
        Pod b = pod("default", "web", "uid-b");
        PodsEndpoint endpoint = new PodsEndpoint(() -> List.of(a, b), uid -> uid.equals("uid-b")
                ? Optional.of(new PodStatusBuilder().withPhase("Running").withPodIP("10.9.9.9").build()) : Optional.empty());
        RecordingResponse r = new RecordingResponse();
        endpoint.handle(new EndpointRequest("GET", "/pods", List.of(), Map.of(), Map.of()), r);
        assertEquals(200, r.status());
        assertEquals("application/json", r.contentType());
        JsonNode list = Json.mapper().readTree(r.text());
        assertEquals("PodList", list.get("kind").asText());
        assertEquals("v1", list.get("apiVersion").asText());
        JsonNode items = list.get("items");
        assertEquals(2, items.size());
        assertEquals("web", items.get(0).at("/metadata/name").asText());
        assertEquals("Running", items.get(0).at("/status/phase").asText(), "the status the agent built");
        assertEquals("10.9.9.9", items.get(0).at("/status/podIP").asText());
        assertEquals("busybox", items.get(0).at("/spec/containers/0/image").asText());
        assertEquals("Pending", items.get(1).at("/status/phase").asText(), "no status built yet: the pod's own");
        assertEquals("Pending", a.getStatus().getPhase(), "the agent's pod objects are not changed");
    }

    @Test
    void onlyGet() throws Exception {
        RecordingResponse r = new RecordingResponse();
        new PodsEndpoint(List::of, uid -> Optional.empty()).handle(new EndpointRequest("POST", "/pods", List.of(), Map.of(), Map.of()), r);
        assertEquals(405, r.status());
    }
}
