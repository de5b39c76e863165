package dev.berth.agent.server;

import dev.berth.common.Json;
import io.fabric8.kubernetes.api.model.ListMeta;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodList;
import io.fabric8.kubernetes.api.model.PodStatus;
import java.io.IOException;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * {@code GET /pods}: the pods the agent runs (bound to the node and static ones) as a v1
 * PodList, each with the newest status the agent built for it (the pod as its source gave it
 * when none was built yet), as the kubelet's {@code /pods} answers.
 */
public final class PodsEndpoint implements Endpoint {
    private final Supplier<List<Pod>> pods;
    private final Function<String, Optional<PodStatus>> statuses;

    public PodsEndpoint(Supplier<List<Pod>> pods, Function<String, Optional<PodStatus>> statuses) {
        this.pods = pods;
        this.statuses = statuses;
    }

    @Override
    public void handle(EndpointRequest request, EndpointResponse response) throws IOException {
        if (!request.method().equals("GET")) {
            response.error(405, "Method Not Allowed");
            return;
        }
        List<Pod> items = new ArrayList<>();
        for (Pod pod : pods.get()) {
            Optional<PodStatus> status = statuses.apply(pod.getMetadata().getUid());
            items.add(status.isEmpty() ? pod : new PodBuilder(pod).withStatus(status.get()).build());
        }
        items.sort(Comparator.comparing((Pod p) -> p.getMetadata().getNamespace()).thenComparing(p -> p.getMetadata().getName()));
        PodList list = new PodList("v1", items, "PodList", new ListMeta());
        byte[] body = Json.mapper().writeValueAsBytes(list);
        response.start(200, "application/json");
        try (OutputStream out = response.body()) {
            out.write(body);
        }
    }
}
