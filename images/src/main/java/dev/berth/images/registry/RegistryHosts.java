package dev.berth.images.registry;

import java.net.InetAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.net.http.HttpClient;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * Where to reach each registry. Without further configuration the origin itself over HTTPS
 * (TLS verified), except loopback registries which are plain HTTP. {@link HostsDirectory}
 * adds per-registry mirrors and TLS settings.
 */
public class RegistryHosts {
    protected final HttpClient defaultClient;
    protected final Duration connectTimeout;

    public RegistryHosts(Duration connectTimeout) {
        this.connectTimeout = connectTimeout;
        this.defaultClient = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .followRedirects(HttpClient.Redirect.NEVER)
                .connectTimeout(connectTimeout)
                .build();
    }

    /** The endpoints to try for {@code registry} (as written in references), in order. */
    public List<Endpoint> endpoints(String registry, String apiHost) {
        return List.of(origin(registry, apiHost));
    }

    protected Endpoint origin(String registry, String apiHost) {
        String scheme = isLoopback(apiHost) ? "http" : "https";
        return new Endpoint(URI.create(scheme + "://" + apiHost), false, true, Map.of(), defaultClient, true);
    }

    static boolean isLoopback(String hostPort) {
        String host = hostPort;
        if (host.startsWith("[")) {
            host = host.substring(1, host.indexOf(']'));
        } else if (host.indexOf(':') >= 0) {
            host = host.substring(0, host.indexOf(':'));
        }
        if (host.equals("localhost")) {
            return true;
        }
        if (!host.matches("[0-9.]+") && !host.contains(":")) {
            return false; // never resolve names here: only literal loopback addresses count
        }
        try {
            return InetAddress.getByName(host).isLoopbackAddress();
        } catch (UnknownHostException e) {
            return false;
        }
    }
}
