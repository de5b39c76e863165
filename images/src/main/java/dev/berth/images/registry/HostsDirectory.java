package dev.berth.images.registry;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.toml.TomlMapper;
import dev.berth.common.BerthException;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.SecureRandom;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedTrustManager;
import javax.net.ssl.X509TrustManager;

/**
 * Per-registry settings in the {@code hosts.toml} format operators know: a directory with one
 * sub-directory per registry host ({@code host[:port]}, or {@code _default} for all others)
 * holding {@code hosts.toml}:
 *
 * <pre>
 * server = "https://registry.example"          # the origin (default: the registry itself)
 * [host."https://mirror.example"]              # mirrors, tried in order before the origin
 *   capabilities = ["pull", "resolve"]         # without "resolve", only content by digest
 *   skip_verify = false                        # do not verify the TLS certificate
 *   ca = "/etc/berth/certs.d/mirror/ca.crt"    # CA certificate(s) (file or list) trusted in addition to the system's
 *   override_path = false                      # the URL path replaces /v2
 *   [host."https://mirror.example".header]
 *     x-example = "value"
 * </pre>
 *
 * Plain-HTTP registries are written as {@code http://} hosts. Files are read again when they change.
 * The credentials a pull brings for the registry go to its {@code server} (or the registry itself)
 * only; a mirror gets the credentials the credentials file holds for the mirror's own host, if any.
 */
public final class HostsDirectory extends RegistryHosts {
    private record Cached(long stamp, List<Endpoint> endpoints) {
    }

    private final Path dir;
    private final Map<String, Cached> cache = new ConcurrentHashMap<>();
    private final Map<String, HttpClient> clients = new ConcurrentHashMap<>();

    public HostsDirectory(Path dir, Duration connectTimeout) {
        super(connectTimeout);
        this.dir = dir;
    }

    @Override
    public List<Endpoint> endpoints(String registry, String apiHost) {
        Path file = dir.resolve(registry).resolve("hosts.toml");
        if (!Files.isRegularFile(file)) {
            Path colonless = dir.resolve(registry.replace(':', '_')).resolve("hosts.toml");
            file = Files.isRegularFile(colonless) ? colonless : dir.resolve("_default").resolve("hosts.toml");
        }
        if (!Files.isRegularFile(file)) {
            return List.of(origin(registry, apiHost));
        }
        long stamp;
        try {
            stamp = Files.getLastModifiedTime(file).toMillis() ^ Files.size(file);
        } catch (IOException e) {
            return List.of(origin(registry, apiHost));
        }
        String key = registry + " " + file;
        Cached c = cache.get(key);
        if (c == null || c.stamp != stamp) {
            c = new Cached(stamp, parse(file, registry, apiHost));
            cache.put(key, c);
        }
        return c.endpoints;
    }

    private List<Endpoint> parse(Path file, String registry, String apiHost) {
        JsonNode root;
        try {
            root = new TomlMapper().readTree(file.toFile());
        } catch (IOException e) {
            throw BerthException.failedPrecondition("registry %s: cannot read %s: %s", registry, file, e.getMessage());
        }
        List<Endpoint> out = new ArrayList<>();
        JsonNode hosts = root.path("host");
        for (Iterator<Map.Entry<String, JsonNode>> it = hosts.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> h = it.next();
            out.add(endpoint(file, registry, h.getKey(), h.getValue(), false));
        }
        String server = root.path("server").asText("");
        if (server.isEmpty()) {
            out.add(origin(registry, apiHost));
        } else {
            out.add(endpoint(file, registry, server, root, true));
        }
        return List.copyOf(out);
    }

    private Endpoint endpoint(Path file, String registry, String url, JsonNode h, boolean origin) {
        URI uri;
        try {
            uri = URI.create(url.contains("://") ? url : "https://" + url);
        } catch (IllegalArgumentException e) {
            throw BerthException.failedPrecondition("registry %s: %s names an invalid host URL \"%s\"", registry, file, url);
        }
        if (!"http".equals(uri.getScheme()) && !"https".equals(uri.getScheme()) || uri.getHost() == null) {
            throw BerthException.failedPrecondition("registry %s: %s: host URL \"%s\" must be http:// or https://", registry, file, url);
        }
        boolean resolve = true;
        if (h.has("capabilities")) {
            resolve = false;
            for (JsonNode c : h.path("capabilities")) {
                resolve |= c.asText().equals("resolve");
            }
        }
        Map<String, String> headers = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = h.path("header").fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            headers.put(e.getKey(), e.getValue().isArray() && e.getValue().size() > 0 ? e.getValue().get(0).asText() : e.getValue().asText());
        }
        List<String> cas = new ArrayList<>();
        if (h.path("ca").isArray()) {
            h.path("ca").forEach(n -> cas.add(n.asText()));
        } else if (h.path("ca").isTextual()) {
            cas.add(h.path("ca").asText());
        }
        boolean skipVerify = h.path("skip_verify").asBoolean(false);
        HttpClient client = "https".equals(uri.getScheme()) && (skipVerify || !cas.isEmpty())
                ? clients.computeIfAbsent(skipVerify + " " + cas, k -> tlsClient(file, registry, skipVerify, cas))
                : defaultClient;
        return new Endpoint(uri, h.path("override_path").asBoolean(false), resolve, headers, client, origin);
    }

    private HttpClient tlsClient(Path file, String registry, boolean skipVerify, List<String> cas) {
        try {
            TrustManager tm;
            if (skipVerify) {
                tm = new TrustAll();
            } else {
                List<Path> paths = new ArrayList<>();
                for (String ca : cas) {
                    paths.add(Path.of(ca).isAbsolute() ? Path.of(ca) : file.getParent().resolve(ca));
                }
                tm = trustingAlso(paths);
            }
            SSLContext ssl = SSLContext.getInstance("TLS");
            ssl.init(null, new TrustManager[] {tm}, new SecureRandom());
            return HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).followRedirects(HttpClient.Redirect.NEVER)
                    .connectTimeout(connectTimeout).sslContext(ssl).build();
        } catch (IOException | java.security.GeneralSecurityException e) {
            throw BerthException.failedPrecondition("registry %s: TLS settings of %s: %s", registry, file, e.getMessage());
        }
    }

    /**
     * A trust manager that trusts what the JVM trusts by default (its trust store, or the one
     * {@code javax.net.ssl.trustStore} names) and, in addition, the CA certificates in
     * {@code caFiles}: a {@code ca} setting adds to the system's trust, it does not replace it.
     */
    static X509TrustManager trustingAlso(List<Path> caFiles) throws IOException, java.security.GeneralSecurityException {
        KeyStore ks = KeyStore.getInstance(KeyStore.getDefaultType());
        ks.load(null, null);
        int i = 0;
        TrustManagerFactory system = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        system.init((KeyStore) null);
        for (TrustManager t : system.getTrustManagers()) {
            if (t instanceof X509TrustManager x) {
                for (X509Certificate cert : x.getAcceptedIssuers()) {
                    ks.setCertificateEntry("system-" + i++, cert);
                }
            }
        }
        CertificateFactory cf = CertificateFactory.getInstance("X.509");
        for (Path p : caFiles) {
            try (InputStream in = Files.newInputStream(p)) {
                java.util.Collection<? extends Certificate> certs = cf.generateCertificates(in);
                if (certs.isEmpty()) {
                    throw new java.security.cert.CertificateException(p + " holds no certificate");
                }
                for (Certificate cert : certs) {
                    ks.setCertificateEntry("ca-" + i++, cert);
                }
            } catch (java.nio.file.NoSuchFileException e) {
                throw new IOException("CA file " + p + " does not exist", e);
            } catch (java.security.cert.CertificateException e) {
                throw new java.security.cert.CertificateException("CA file " + p + ": " + e.getMessage(), e);
            }
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(ks);
        for (TrustManager t : tmf.getTrustManagers()) {
            if (t instanceof X509TrustManager x) {
                return x;
            }
        }
        throw new java.security.KeyStoreException("no X.509 trust manager available");
    }

    /** skip_verify: accepts any certificate for any name. */
    private static final class TrustAll extends X509ExtendedTrustManager {
        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, java.net.Socket socket) {
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, java.net.Socket socket) {
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine) {
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine) {
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType) {
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType) {
        }

        @Override
        public X509Certificate[] getAcceptedIssuers() {
            return new X509Certificate[0];
        }
    }
}
