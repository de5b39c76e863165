package dev.berth.images.registry;

import com.fasterxml.jackson.databind.JsonNode;
import dev.berth.common.BerthException;
import dev.berth.common.Json;
import dev.berth.images.content.Descriptor;
import dev.berth.images.reference.Digest;
import dev.berth.images.reference.Reference;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongSupplier;
import java.util.function.UnaryOperator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A client of the OCI distribution API (v2): resolves references to manifests (choosing the
 * platform's entry of an index), and opens blobs. It owns authentication (anonymous, Basic,
 * Bearer tokens from the {@code WWW-Authenticate} challenge, cached until they expire),
 * redirects, retries with backoff on transient failures, and mirrors (tried in order, then the
 * origin). Failures are {@link BerthException}s naming the registry, the reference and the
 * HTTP status.
 */
public final class RegistryClient {
    private static final Logger LOG = LoggerFactory.getLogger(RegistryClient.class);
    private static final int MAX_MANIFEST = 4 * 1024 * 1024;
    private static final int MAX_REDIRECTS = 5;
    private static final Pattern PARAM = Pattern.compile("([a-zA-Z_]+)=(?:\"((?:[^\"\\\\]|\\\\.)*)\"|([^,\\s]*))");

    /** How hard to try. */
    public record Settings(Duration requestTimeout, int attempts, Duration backoff, Platform platform) {
        public static Settings defaults() {
            return new Settings(Duration.ofSeconds(30), 3, Duration.ofMillis(200), Platform.host());
        }
    }

    /** A manifest or index as fetched: its digest (verified), media type and bytes. */
    public record Fetched(Digest digest, String mediaType, byte[] bytes, JsonNode json) {
        public Descriptor descriptor() {
            return Descriptor.of(mediaType, digest, bytes.length);
        }
    }

    /** The result of resolving a reference: the image manifest chosen, and the index it came from, if any. */
    public record Resolved(Reference reference, Fetched manifest, Optional<Fetched> index) {
        /** The digest the reference resolved to (the index's when there is one): what repo digests record. */
        public Digest topDigest() {
            return index.map(Fetched::digest).orElse(manifest.digest());
        }
    }

    private record Token(String header, long expiresAtNanos) {
    }

    private final RegistryHosts hosts;
    private final Settings settings;
    private final Map<String, Token> tokens = new ConcurrentHashMap<>();
    private final LongSupplier clock;
    private final java.util.concurrent.atomic.LongAdder requests = new java.util.concurrent.atomic.LongAdder();

    public RegistryClient(RegistryHosts hosts, Settings settings) {
        this(hosts, settings, System::nanoTime);
    }

    /** With the clock token lifetimes are measured by (nanoseconds, as {@link System#nanoTime()}). */
    RegistryClient(RegistryHosts hosts, Settings settings, LongSupplier clock) {
        this.hosts = hosts;
        this.settings = settings;
        this.clock = clock;
    }

    public Settings settings() {
        return settings;
    }

    /** HTTP requests sent so far (registries, token endpoints, redirects each count). */
    public long requests() {
        return requests.sum();
    }

    /** Resolves {@code ref} to the image manifest for this platform, verifying every digest. */
    public Resolved resolve(Reference ref, Credentials creds) {
        return resolve(ref, creds, UnaryOperator.identity());
    }

    /**
     * Resolves {@code ref} as {@link #resolve(Reference, Credentials)} does; {@code bodies} sees
     * each manifest body before it is read (to track progress, and to close it when stalled).
     */
    public Resolved resolve(Reference ref, Credentials creds, UnaryOperator<InputStream> bodies) {
        Fetched top = fetchManifest(ref, ref.manifestReference(), creds, true, bodies);
        if (ref.digest() != null && !top.digest().equals(ref.digest())) {
            throw BerthException.failedPrecondition("registry %s: manifest of %s has digest %s, not the one asked for",
                    ref.registry(), ref, top.digest());
        }
        if (MediaTypes.isManifest(top.mediaType())) {
            return new Resolved(ref, top, Optional.empty());
        }
        Descriptor chosen = choosePlatform(ref, top);
        Fetched manifest = fetchManifest(ref, chosen.digest().toString(), creds, false, bodies);
        if (!manifest.digest().equals(chosen.digest())) {
            throw BerthException.failedPrecondition("registry %s: manifest %s of %s does not match its digest",
                    ref.registry(), chosen.digest(), ref);
        }
        if (!MediaTypes.isManifest(manifest.mediaType())) {
            throw BerthException.failedPrecondition("registry %s: index of %s points to %s, which is not an image manifest",
                    ref.registry(), ref, manifest.mediaType());
        }
        return new Resolved(ref, manifest, Optional.of(top));
    }

    private Descriptor choosePlatform(Reference ref, Fetched index) {
        Descriptor best = null;
        int bestScore = -1;
        List<String> offered = new ArrayList<>();
        for (JsonNode m : index.json().path("manifests")) {
            Platform p = Platform.fromJson(m.path("platform"));
            offered.add(p.toString());
            int score = settings.platform().score(p);
            if (score > bestScore && MediaTypes.isManifest(m.path("mediaType").asText(MediaTypes.OCI_MANIFEST))) {
                best = Descriptor.fromJson(m, "index of " + ref);
                bestScore = score;
            }
        }
        if (best == null) {
            throw BerthException.notFound("image %s has no manifest for platform %s (registry %s offers %s)",
                    ref, settings.platform(), ref.registry(), offered);
        }
        return best;
    }

    private Fetched fetchManifest(Reference ref, String tagOrDigest, Credentials creds, boolean byTagAllowed,
                                  UnaryOperator<InputStream> bodies) {
        boolean byDigest = Digest.isDigest(tagOrDigest);
        Response r = get(ref, "manifests/" + tagOrDigest, MediaTypes.MANIFEST_ACCEPT, creds, !byDigest && byTagAllowed,
                "manifest " + tagOrDigest);
        byte[] bytes;
        try (InputStream in = bodies.apply(r.body)) {
            bytes = in.readNBytes(MAX_MANIFEST + 1);
        } catch (java.io.InterruptedIOException e) {
            throw new BerthException(BerthException.Kind.CANCELLED,
                    String.format("registry %s: reading manifest of %s was cancelled", ref.registry(), ref), e);
        } catch (IOException e) {
            throw BerthException.unavailable("registry %s: reading manifest of %s failed: %s", ref.registry(), ref, e.getMessage());
        }
        if (bytes.length > MAX_MANIFEST) {
            throw BerthException.failedPrecondition("registry %s: manifest of %s is larger than %d bytes", ref.registry(), ref, MAX_MANIFEST);
        }
        Digest actual;
        if (byDigest) {
            Digest want = Digest.parse(tagOrDigest);
            MessageDigest h = want.newHasher();
            actual = want.withValue(h.digest(bytes));
            if (!actual.equals(want)) {
                throw BerthException.failedPrecondition("registry %s: manifest %s of %s does not match its digest (got %s)",
                        ref.registry(), want, ref, actual);
            }
        } else {
            actual = Digest.sha256(bytes);
        }
        JsonNode json;
        try {
            json = Json.mapper().readTree(bytes);
        } catch (IOException e) {
            throw BerthException.failedPrecondition("registry %s: manifest of %s is not valid JSON", ref.registry(), ref);
        }
        String mediaType = json.path("mediaType").asText("");
        if (mediaType.isEmpty()) {
            mediaType = r.contentType;
            if (mediaType.isEmpty() || mediaType.equals("application/json")) {
                mediaType = json.has("manifests") ? MediaTypes.OCI_INDEX : MediaTypes.OCI_MANIFEST;
            }
        }
        if (mediaType.equals(MediaTypes.DOCKER_SCHEMA1) || mediaType.equals(MediaTypes.DOCKER_SCHEMA1_SIGNED)
                || json.path("schemaVersion").asInt() == 1) {
            throw BerthException.failedPrecondition("registry %s: %s uses the Docker schema 1 manifest format, which berth does not support",
                    ref.registry(), ref);
        }
        if (!MediaTypes.isIndex(mediaType) && !MediaTypes.isManifest(mediaType)) {
            throw BerthException.failedPrecondition("registry %s: %s has unsupported manifest media type %s", ref.registry(), ref, mediaType);
        }
        return new Fetched(actual, mediaType, bytes, json);
    }

    /** Opens a blob; the caller reads, verifies and closes it. */
    public InputStream openBlob(Reference ref, Descriptor blob, Credentials creds) {
        return get(ref, "blobs/" + blob.digest(), "*/*", creds, false, "blob " + blob.digest()).body;
    }

    private record Response(InputStream body, String contentType) {
    }

    private Response get(Reference ref, String path, String accept, Credentials creds, boolean needsResolve, String what) {
        List<Endpoint> endpoints = hosts.endpoints(ref.registry(), ref.apiHost());
        BerthException last = null;
        for (Endpoint ep : endpoints) {
            if (needsResolve && !ep.resolve()) {
                continue;
            }
            try {
                return getFrom(ep, ref, path, accept, creds, what);
            } catch (BerthException e) {
                if (e.kind() == BerthException.Kind.CANCELLED) {
                    throw e;
                }
                last = e;
                if (endpoints.size() > 1) {
                    LOG.info("registry endpoint {} failed for {} of {}: {}", ep, what, ref, e.getMessage());
                }
            }
        }
        if (last == null) {
            throw BerthException.failedPrecondition("registry %s: no endpoint may resolve %s", ref.registry(), ref);
        }
        throw last;
    }

    private Response getFrom(Endpoint ep, Reference ref, String path, String accept, Credentials creds, String what) {
        URI uri = ep.api(ref.repository() + "/" + path);
        String scope = "repository:" + ref.repository() + ":pull";
        Duration delay = settings.backoff();
        for (int attempt = 1; ; attempt++) {
            HttpResponse<InputStream> resp;
            try {
                resp = exchange(ep, uri, accept, creds, scope, ref);
            } catch (IOException e) {
                if (e instanceof java.io.InterruptedIOException && !(e instanceof java.net.SocketTimeoutException)) {
                    Thread.currentThread().interrupt(); // cancelled, not a transient failure: no retry
                    throw new BerthException(BerthException.Kind.CANCELLED,
                            String.format("registry %s (%s): %s of %s was cancelled", ref.registry(), ep, what, ref), e);
                }
                java.security.cert.CertificateException tls = tlsFailure(e);
                if (tls != null) {
                    // a certificate that is not trusted now will not be trusted on the next attempt
                    throw BerthException.unavailable("registry %s (%s): TLS verification failed for %s of %s: %s"
                            + " (add the registry's CA with `ca` in its hosts.toml under registry.config_path, or set skip_verify)",
                            ref.registry(), ep, what, ref, tls.getMessage());
                }
                if (attempt >= settings.attempts()) {
                    throw BerthException.unavailable("registry %s (%s): %s of %s failed after %d attempts: %s", ref.registry(), ep,
                            what, ref, attempt, describe(e));
                }
                sleep(delay);
                delay = delay.multipliedBy(2);
                continue;
            }
            int status = resp.statusCode();
            if (status == 200) {
                return new Response(resp.body(), resp.headers().firstValue("Content-Type").orElse("").split(";")[0].strip());
            }
            String detail = errorDetail(resp);
            if ((status == 429 || status >= 500) && attempt < settings.attempts()) {
                LOG.debug("registry {}: {} of {}: HTTP {}, retrying", ref.registry(), what, ref, status);
                sleep(delay);
                delay = delay.multipliedBy(2);
                continue;
            }
            String msg = String.format("registry %s: %s of %s: HTTP %d%s", ref.registry(), what, ref, status, detail);
            throw switch (status) {
                case 401 -> new BerthException(BerthException.Kind.UNAUTHENTICATED, msg + (creds.isEmpty() ? " (no credentials given)" : " (credentials refused)"));
                case 403 -> new BerthException(BerthException.Kind.PERMISSION_DENIED, msg);
                case 404 -> new BerthException(BerthException.Kind.NOT_FOUND, msg);
                case 429 -> new BerthException(BerthException.Kind.RESOURCE_EXHAUSTED, msg);
                default -> new BerthException(status >= 500 ? BerthException.Kind.UNAVAILABLE : BerthException.Kind.FAILED_PRECONDITION, msg);
            };
        }
    }

    /** The certificate check that failed in a TLS handshake, if that is what {@code e} is (not a transient failure). */
    private static java.security.cert.CertificateException tlsFailure(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof java.security.cert.CertificateException c) {
                return c;
            }
        }
        return null;
    }

    private static String describe(IOException e) {
        String m = e.getMessage();
        return e.getClass().getSimpleName() + (m == null ? "" : ": " + m);
    }

    private static String errorDetail(HttpResponse<InputStream> resp) {
        try (InputStream in = resp.body()) {
            byte[] b = in.readNBytes(4096);
            JsonNode errors = Json.mapper().readTree(b).path("errors");
            if (errors.isArray() && errors.size() > 0) {
                JsonNode e = errors.get(0);
                return " (" + e.path("code").asText("") + ": " + e.path("message").asText("") + ")";
            }
        } catch (IOException | RuntimeException e) {
            // the body is only a hint
        }
        return "";
    }

    /** One request with authentication and redirects; may answer 401 still, when credentials are missing or refused. */
    private HttpResponse<InputStream> exchange(Endpoint ep, URI uri, String accept, Credentials creds, String scope, Reference ref)
            throws IOException {
        String key = ep.host() + " " + scope;
        Token cached = tokens.get(key);
        String auth = cached != null && (cached.expiresAtNanos == Long.MAX_VALUE || cached.expiresAtNanos - clock.getAsLong() > 0) ? cached.header : null;
        HttpResponse<InputStream> resp = send(ep, uri, accept, auth);
        if (resp.statusCode() == 401) {
            Optional<String> challenge = resp.headers().firstValue("WWW-Authenticate");
            resp.body().close();
            if (challenge.isPresent()) {
                String header = authenticate(ep, challenge.get(), creds, scope, ref);
                if (header != null) {
                    resp = send(ep, uri, accept, header);
                }
            } else {
                resp = send(ep, uri, accept, auth);
            }
        }
        return resp;
    }

    private HttpResponse<InputStream> send(Endpoint ep, URI uri, String accept, String auth) throws IOException {
        URI target = uri;
        String authHeader = auth;
        for (int hop = 0; ; hop++) {
            HttpRequest.Builder b = HttpRequest.newBuilder(target).GET().timeout(settings.requestTimeout())
                    .header("Accept", accept).header("User-Agent", "berth");
            ep.headers().forEach(b::header);
            if (authHeader != null) {
                b.header("Authorization", authHeader);
            }
            HttpResponse<InputStream> resp;
            requests.increment();
            try {
                resp = ep.client().send(b.build(), HttpResponse.BodyHandlers.ofInputStream());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new java.io.InterruptedIOException("interrupted");
            }
            int s = resp.statusCode();
            if ((s == 301 || s == 302 || s == 303 || s == 307 || s == 308) && resp.headers().firstValue("Location").isPresent()) {
                resp.body().close();
                if (hop >= MAX_REDIRECTS) {
                    throw new IOException("too many redirects from " + uri);
                }
                URI next = target.resolve(resp.headers().firstValue("Location").get());
                if (!sameOrigin(next, target)) {
                    authHeader = null; // blob storage redirects carry their own signature
                }
                target = next;
                continue;
            }
            return resp;
        }
    }

    private static boolean sameOrigin(URI a, URI b) {
        return a.getScheme().equalsIgnoreCase(b.getScheme()) && a.getHost().equalsIgnoreCase(b.getHost()) && a.getPort() == b.getPort();
    }

    /** Answers a challenge: the Authorization header to retry with, or null when there is nothing to offer. */
    private String authenticate(Endpoint ep, String challenge, Credentials creds, String scope, Reference ref) throws IOException {
        String c = challenge.strip();
        String schemeName = c.split("\\s+", 2)[0].toLowerCase(Locale.ROOT);
        String key = ep.host() + " " + scope;
        if (schemeName.equals("basic")) {
            if (!creds.hasPassword()) {
                return null;
            }
            String header = creds.basicHeader();
            tokens.put(key, new Token(header, Long.MAX_VALUE));
            return header;
        }
        if (!schemeName.equals("bearer")) {
            throw BerthException.failedPrecondition("registry %s: unsupported authentication scheme in challenge \"%s\"", ref.registry(), c);
        }
        if (!creds.registryToken().isEmpty()) {
            return "Bearer " + creds.registryToken();
        }
        Map<String, String> params = new LinkedHashMap<>();
        Matcher m = PARAM.matcher(c.substring(schemeName.length()));
        while (m.find()) {
            params.put(m.group(1).toLowerCase(Locale.ROOT), m.group(2) != null ? m.group(2).replace("\\\"", "\"") : m.group(3));
        }
        String realm = params.get("realm");
        if (realm == null || realm.isEmpty()) {
            throw BerthException.failedPrecondition("registry %s: Bearer challenge without a realm", ref.registry());
        }
        String wantScope = params.getOrDefault("scope", scope);
        if (!wantScope.contains(scope)) {
            wantScope = scope;
        }
        Token t = fetchToken(ref, URI.create(realm), params.get("service"), wantScope, creds);
        tokens.put(key, t);
        return t.header;
    }

    private Token fetchToken(Reference ref, URI realm, String service, String scope, Credentials creds) throws IOException {
        StringBuilder q = new StringBuilder();
        if (service != null) {
            q.append("service=").append(enc(service)).append('&');
        }
        q.append("scope=").append(enc(scope));
        HttpRequest.Builder b;
        if (!creds.identityToken().isEmpty()) {
            String form = q + "&grant_type=refresh_token&client_id=berth&refresh_token=" + enc(creds.identityToken());
            b = HttpRequest.newBuilder(realm).POST(HttpRequest.BodyPublishers.ofString(form))
                    .header("Content-Type", "application/x-www-form-urlencoded");
        } else {
            String sep = realm.getRawQuery() == null ? "?" : "&";
            b = HttpRequest.newBuilder(URI.create(realm + sep + q)).GET();
            if (creds.hasPassword()) {
                b.header("Authorization", creds.basicHeader());
            }
        }
        b.timeout(settings.requestTimeout()).header("User-Agent", "berth");
        HttpResponse<byte[]> resp;
        requests.increment();
        try {
            resp = hosts.defaultClient.send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new java.io.InterruptedIOException("interrupted");
        }
        int s = resp.statusCode();
        if (s == 401 || s == 403) {
            throw new BerthException(s == 401 ? BerthException.Kind.UNAUTHENTICATED : BerthException.Kind.PERMISSION_DENIED,
                    String.format("registry %s: token endpoint %s refused %s for %s: HTTP %d", ref.registry(),
                            realm.getHost(), creds.isEmpty() ? "anonymous access" : "the credentials", ref, s));
        }
        if (s != 200) {
            throw BerthException.unavailable("registry %s: token endpoint %s answered HTTP %d for %s", ref.registry(), realm.getHost(), s, ref);
        }
        JsonNode json = Json.mapper().readTree(resp.body());
        String token = json.path("token").asText(json.path("access_token").asText(""));
        if (token.isEmpty()) {
            throw BerthException.unavailable("registry %s: token endpoint %s gave no token", ref.registry(), realm.getHost());
        }
        long expiresIn = Math.max(json.path("expires_in").asLong(60), 1);
        // renew a little early so that a token does not lapse between check and use
        long lifetime = Duration.ofSeconds(expiresIn).toNanos() * 9 / 10;
        return new Token("Bearer " + token, clock.getAsLong() + lifetime);
    }

    private static String enc(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8);
    }

    private static void sleep(Duration d) {
        try {
            Thread.sleep(d.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new BerthException(BerthException.Kind.CANCELLED, "pull interrupted");
        }
    }
}
