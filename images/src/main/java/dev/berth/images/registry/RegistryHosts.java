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
    protected final Duration connectTimeout;
    private volatile HttpClient defaultClient;

    public RegistryHosts(Duration connectTimeout) {
        this.connectTimeout = connectTimeout;
    }

    /**
     * The client of registries without TLS settings of their own, built at its first use: building
     * one loads the JDK's trust store and starts a selector thread, which a daemon that pulls
     * nothing yet (e.g. while starting) need not pay for.
     */
    protected HttpClient defaultClient() {
        HttpClient client = defaultClient;
        if (client == null) {
            synchronized (this) {
                client = defaultClient;
                if (client == null) {
                    client = HttpClient.newBuilder()
                            .version(HttpClient.Version.HTTP_1_1)
                            .followRedirects(HttpClient.Redirect.NEVER)
                            .connectTimeout(connectTimeout)
                            .build();
                    defaultClient = client;
                }
            }
        }
        return client;
    }

    /** Whether the default client was built (for tests: start-up builds none). */
    boolean defaultClientBuilt() {
        return defaultClient != null;
    }

    /** The endpoints to try for {@code registry} (as written in references), in order. */
    public List<Endpoint> endpoints(String registry, String apiHost) {
        return List.of(origin(registry, apiHost));
    }

    protected Endpoint origin(String registry, String apiHost) {
        String scheme = isLoopback(apiHost) ? "http" : "https";
        return new Endpoint(URI.create(scheme + "://" + apiHost), false, true, Map.of(), defaultClient(), true);
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
