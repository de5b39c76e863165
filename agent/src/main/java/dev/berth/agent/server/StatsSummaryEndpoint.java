package dev.berth.agent.server;

import dev.berth.common.Json;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.io.OutputStream;

/**
 * {@code GET /stats/summary}: the {@link StatsSummary} as JSON; {@code ?only_cpu_and_memory=true}
 * gives the node's and each pod's and container's CPU and memory only (what metrics-server
 * asks for). A runtime that does not answer is a 500, as the kubelet's failed summary is.
 */
public final class StatsSummaryEndpoint implements Endpoint {
    private final StatsSummaryBuilder builder;

    public StatsSummaryEndpoint(StatsSummaryBuilder builder) {
        this.builder = builder;
    }

    @Override
    public void handle(EndpointRequest request, EndpointResponse response) throws IOException {
        if (!request.method().equals("GET") && !request.method().equals("POST")) {
            response.error(405, "Method Not Allowed");
            return;
        }
        boolean only = "true".equalsIgnoreCase(request.param("only_cpu_and_memory"));
        StatsSummary summary;
        try {
            summary = builder.build(only);
        } catch (StatusRuntimeException e) {
            response.error(500, "Internal Error: failed to get the summary: the container runtime: " + e.getStatus());
            return;
        }
        byte[] body = Json.mapper().writeValueAsBytes(summary);
        response.start(200, "application/json");
        try (OutputStream out = response.body()) {
            out.write(body);
        }
    }
}
