package dev.berth.agent.server;

import java.util.List;
import java.util.Map;

/**
 * A request to an {@link Endpoint}: its method, its decoded path (without the query), the
 * path's segments after the endpoint's prefix (e.g. {@code [ns, pod, container]} for
 * {@code /containerLogs/ns/pod/container}), its decoded query parameters and its headers
 * (names in lower case).
 */
public record EndpointRequest(String method, String path, List<String> segments, Map<String, List<String>> query,
                              Map<String, String> headers) {
    public EndpointRequest {
        segments = List.copyOf(segments);
        query = Map.copyOf(query);
        headers = Map.copyOf(headers);
    }

    /** The query parameter's first value, or null. */
    public String param(String name) {
        List<String> v = query.get(name);
        return v == null || v.isEmpty() ? null : v.get(0);
    }
}
