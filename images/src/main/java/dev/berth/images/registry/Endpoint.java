package dev.berth.images.registry;

import java.net.URI;
import java.net.http.HttpClient;
import java.util.Map;

/**
 * One place to fetch a registry's content from: the origin or a mirror. {@code base} is the
 * scheme and host (plus a path prefix when {@code overridePath} says the prefix replaces
 * {@code /v2}); {@code headers} are sent with every request; {@code resolve} says whether tags
 * may be resolved here (mirrors often only serve content by digest). {@code origin} says this is
 * the registry itself (its own address, or the {@code server} its hosts.toml names) rather than a
 * mirror: only the origin is given the credentials a pull brought for the registry.
 */
public record Endpoint(URI base, boolean overridePath, boolean resolve, Map<String, String> headers, HttpClient client,
                       boolean origin) {
    public Endpoint {
        headers = headers == null ? Map.of() : Map.copyOf(headers);
    }

    /** The URL of {@code /v2/<rest>} on this endpoint. */
    public URI api(String rest) {
        String b = base.toString();
        if (b.endsWith("/")) {
            b = b.substring(0, b.length() - 1);
        }
        return URI.create(overridePath ? b + "/" + rest : b + "/v2/" + rest);
    }

    public String host() {
        return base.getPort() < 0 ? base.getHost() : base.getHost() + ":" + base.getPort();
    }

    @Override
    public String toString() {
        return base.toString();
    }
}
