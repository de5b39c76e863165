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
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A client of the OCI distribution API (v2): resolves references to manifests (choosing the
 * platform's entry of an index), and opens blobs. It owns authentication (anonymous, Basic,
 * Bearer tokens from the {@code WWW-Authenticate} challenge, cached until they expire),
 * redirects, retries with backoff on transient failures, and mirrors (tried in order, then the
 * origin). Failures are {@link BerthException}s naming the registry, the reference and the
 * HTTP status.
 *
 * <p>Credentials stay with the caller and the host they belong to:
 * <ul>
 * <li>a Bearer token is cached under the host, the scope and who asked ({@link Credentials#identity()}),
 *     for its {@code expires_in} (60 s when not given, at most an hour), and at most
 *     {@value #MAX_TOKENS} tokens are kept; a Basic header is never kept, only the fact that a
 *     host asks for Basic, so that a later caller's own password is sent at once;</li>
 * <li>the credentials a pull brings go to the registry's origin only; a mirror gets the
 *     credentials the credentials file holds for the mirror's host (none without a file);</li>
 * <li>a token realm gets credentials over https, or over plain http only when the registry
 *     itself is plain http (loopback, or an {@code http://} host in hosts.toml) and the realm is
 *     on the same host name: never a downgrade from https, never plain http to another host;</li>
 * <li>after a redirect to another origin (blob storage) no Authorization and no hosts.toml
 *     header is sent, and a challenge from there is not answered.</li>
 * </ul>
 * What a registry sends is read within bounds: manifests up to 4 MiB, token replies up to 1 MiB,
 * error bodies up to 4 KiB, {@code WWW-Authenticate} challenges up to 16 KiB.
 */
public final class RegistryClient {
    private static final Logger LOG = LoggerFactory.getLogger(RegistryClient.class);
    private static final int MAX_MANIFEST = 4 * 1024 * 1024;
    private static final int MAX_REDIRECTS = 5;
    static final int MAX_TOKEN_REPLY = 1024 * 1024;
    static final int MAX_CHALLENGE = 16 * 1024;
    static final int MAX_TOKENS = 512;
    private static final int MAX_BASIC_HOSTS = 256;
    private static final long DEFAULT_TOKEN_SECONDS = 60;
    private static final long MAX_TOKEN_SECONDS = 3600;

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
    /** Tokens by host, scope and identity, least recently used first; guarded by itself. */
    private final LinkedHashMap<String, Token> tokens = new LinkedHashMap<>(16, 0.75f, true);
    /** Origins that challenged with Basic: a caller with a password sends it there at once. */
    private final java.util.Set<String> basicOrigins = ConcurrentHashMap.newKeySet();
    private final CredentialStore store;
    private final LongSupplier clock;
    private final int maxTokens;
    private final java.util.concurrent.atomic.LongAdder requests = new java.util.concurrent.atomic.LongAdder();

    public RegistryClient(RegistryHosts hosts, Settings settings) {
        this(hosts, settings, CredentialStore.none());
    }

    /** With {@code store} naming the credentials of mirrors (by their own host). */
    public RegistryClient(RegistryHosts hosts, Settings settings, CredentialStore store) {
        this(hosts, settings, store, System::nanoTime);
    }

    /** With the clock token lifetimes are measured by (nanoseconds, as {@link System#nanoTime()}). */
    RegistryClient(RegistryHosts hosts, Settings settings, LongSupplier clock) {
        this(hosts, settings, CredentialStore.none(), clock);
    }

    RegistryClient(RegistryHosts hosts, Settings settings, CredentialStore store, LongSupplier clock) {
        this(hosts, settings, store, clock, MAX_TOKENS);
    }

    /** Keeping at most {@code maxTokens} tokens. */
    RegistryClient(RegistryHosts hosts, Settings settings, CredentialStore store, LongSupplier clock, int maxTokens) {
        this.hosts = hosts;
        this.settings = settings;
        this.store = store;
        this.clock = clock;
        this.maxTokens = maxTokens;
    }

    /** Tokens cached now (for tests of the bound). */
    int cachedTokens() {
        synchronized (tokens) {
            return tokens.size();
        }
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
                return getFrom(ep, ref, path, accept, credentialsFor(ep, ref, creds), what);
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

    /**
     * The credentials {@code ep} is given: the pull's own at the registry's origin (or an
     * endpoint on the registry's own host); at a mirror, what the credentials file holds for the
     * mirror's host, never the registry's.
     */
    private Credentials credentialsFor(Endpoint ep, Reference ref, Credentials creds) {
        String host = ep.host();
        if (ep.origin() || host.equalsIgnoreCase(ref.registry()) || host.equalsIgnoreCase(ref.apiHost())) {
            return creds;
        }
        return store.lookup(host);
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
            if (status == 401 && !sameOrigin(resp.uri(), uri)) {
                throw new BerthException(BerthException.Kind.UNAUTHENTICATED, String.format(
                        "registry %s: %s of %s: redirected to %s, which answered HTTP 401; credentials are not sent to another host",
                        ref.registry(), what, ref, origin(resp.uri())));
            }
            throw switch (status) {
                case 401 -> new BerthException(BerthException.Kind.UNAUTHENTICATED, msg + (creds.isEmpty()
                        ? (ep.origin() ? " (no credentials given)" : " (no credentials for mirror " + ep.host() + ")")
                        : " (credentials refused)"));
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
        String key = origin(ep.base()) + " " + scope + " " + creds.identity();
        String auth = cachedToken(key);
        if (auth == null && creds.hasPassword() && basicOrigins.contains(origin(ep.base()))) {
            auth = creds.basicHeader();
        }
        HttpResponse<InputStream> resp = send(ep, uri, accept, auth);
        // a challenge from where a redirect led (blob storage) is not the registry's to answer
        if (resp.statusCode() == 401 && sameOrigin(resp.uri(), uri)) {
            Optional<String> challenge = resp.headers().firstValue("WWW-Authenticate");
            resp.body().close();
            if (challenge.isPresent()) {
                String header = authenticate(ep, challenge.get(), creds, scope, ref, key);
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
        boolean atOrigin = true;
        for (int hop = 0; ; hop++) {
            HttpRequest.Builder b = HttpRequest.newBuilder(target).GET().timeout(settings.requestTimeout())
                    .header("Accept", accept).header("User-Agent", "berth");
            // once redirected elsewhere (storage signs its own URLs), nothing meant for the registry follows
            if (atOrigin) {
                ep.headers().forEach(b::header);
                if (auth != null) {
                    b.header("Authorization", auth);
                }
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
                URI next = redirectTarget(target, resp.headers().firstValue("Location").get());
                atOrigin &= sameOrigin(next, uri);
                target = next;
                continue;
            }
            return resp;
        }
    }

    private static URI redirectTarget(URI from, String location) {
        URI next;
        try {
            next = from.resolve(location);
        } catch (IllegalArgumentException e) {
            throw BerthException.failedPrecondition("registry host %s redirected to an invalid location", origin(from));
        }
        if (!"http".equalsIgnoreCase(next.getScheme()) && !"https".equalsIgnoreCase(next.getScheme()) || next.getHost() == null) {
            throw BerthException.failedPrecondition("registry host %s redirected to %s, which is not an http or https URL",
                    origin(from), next.getScheme() + ":");
        }
        return next;
    }

    private static boolean sameOrigin(URI a, URI b) {
        return a.getScheme().equalsIgnoreCase(b.getScheme()) && a.getHost().equalsIgnoreCase(b.getHost()) && port(a) == port(b);
    }

    private static int port(URI u) {
        return u.getPort() >= 0 ? u.getPort() : "https".equalsIgnoreCase(u.getScheme()) ? 443 : 80;
    }

    /** scheme://host:port of {@code u}: what credentials and tokens are bound to. */
    private static String origin(URI u) {
        return u.getScheme().toLowerCase(Locale.ROOT) + "://" + u.getHost().toLowerCase(Locale.ROOT) + ":" + port(u);
    }

    /**
     * Whether credentials may go to {@code realm} for a registry at {@code registry}: over https
     * always; over plain http only when the registry itself is plain http (on loopback or
     * configured so) and the realm is on the same host name. An https registry's credentials are
     * never sent in the clear, nor in the clear to another host.
     */
    static boolean realmMayReceiveCredentials(URI registry, URI realm) {
        if ("https".equalsIgnoreCase(realm.getScheme())) {
            return true;
        }
        return "http".equalsIgnoreCase(realm.getScheme()) && "http".equalsIgnoreCase(registry.getScheme())
                && registry.getHost().equalsIgnoreCase(realm.getHost());
    }

    private String cachedToken(String key) {
        synchronized (tokens) {
            Token t = tokens.get(key);
            if (t == null) {
                return null;
            }
            if (t.expiresAtNanos - clock.getAsLong() <= 0) {
                tokens.remove(key);
                return null;
            }
            return t.header;
        }
    }

    private void cacheToken(String key, Token t) {
        synchronized (tokens) {
            tokens.put(key, t);
            if (tokens.size() > maxTokens) {
                long now = clock.getAsLong();
                tokens.values().removeIf(x -> x.expiresAtNanos - now <= 0);
            }
            for (var it = tokens.keySet().iterator(); tokens.size() > maxTokens && it.hasNext(); ) {
                it.next();
                it.remove(); // least recently used first
            }
        }
    }

    /** Answers a challenge: the Authorization header to retry with, or null when there is nothing to offer. */
    private String authenticate(Endpoint ep, String challenge, Credentials creds, String scope, Reference ref, String key)
            throws IOException {
        if (challenge.length() > MAX_CHALLENGE) {
            throw BerthException.failedPrecondition("registry %s: the WWW-Authenticate challenge from %s is longer than %d bytes",
                    ref.registry(), ep.host(), MAX_CHALLENGE);
        }
        String c = challenge.strip();
        int space = 0;
        while (space < c.length() && !Character.isWhitespace(c.charAt(space))) {
            space++;
        }
        String schemeName = c.substring(0, space).toLowerCase(Locale.ROOT);
        if (schemeName.equals("basic")) {
            if (!creds.hasPassword()) {
                return null;
            }
            basicOrigins.add(origin(ep.base()));
            if (basicOrigins.size() > MAX_BASIC_HOSTS) {
                basicOrigins.clear(); // only saves a round trip: forgetting is harmless
            }
            return creds.basicHeader();
        }
        if (!schemeName.equals("bearer")) {
            throw BerthException.failedPrecondition("registry %s: unsupported authentication scheme \"%s\" in the challenge from %s",
                    ref.registry(), printable(schemeName, 40), ep.host());
        }
        if (!creds.registryToken().isEmpty()) {
            return "Bearer " + creds.registryToken();
        }
        Map<String, String> params = challengeParameters(c.substring(space));
        String realmText = params.get("realm");
        if (realmText == null || realmText.isEmpty()) {
            throw BerthException.failedPrecondition("registry %s: Bearer challenge from %s without a realm", ref.registry(), ep.host());
        }
        URI realm;
        try {
            realm = new URI(realmText);
        } catch (java.net.URISyntaxException e) {
            realm = null;
        }
        if (realm == null || realm.getHost() == null
                || !"http".equalsIgnoreCase(realm.getScheme()) && !"https".equalsIgnoreCase(realm.getScheme())) {
            throw BerthException.failedPrecondition("registry %s: the Bearer realm \"%s\" from %s is not an http or https URL",
                    ref.registry(), printable(realmText, 200), ep.host());
        }
        if (!creds.isEmpty() && !realmMayReceiveCredentials(ep.base(), realm)) {
            throw BerthException.failedPrecondition("registry %s: refused to send credentials to the token realm %s over plain http"
                            + " (the registry %s is %s; credentials go to a plain-http realm only on the registry's own plain-http host)",
                    ref.registry(), origin(realm), ep.host(), ep.base().getScheme());
        }
        String wantScope = params.getOrDefault("scope", scope);
        if (!wantScope.contains(scope)) {
            wantScope = scope;
        }
        Token t = fetchToken(ref, realm, params.get("service"), wantScope, creds);
        cacheToken(key, t);
        return t.header;
    }

    /**
     * The {@code name=value} and {@code name="quoted value"} parameters of a challenge, by lower-case
     * name (the first of each name). Linear in the length of the (bounded) challenge.
     */
    static Map<String, String> challengeParameters(String s) {
        Map<String, String> params = new LinkedHashMap<>();
        int i = 0;
        int n = s.length();
        while (i < n) {
            while (i < n && (s.charAt(i) == ',' || Character.isWhitespace(s.charAt(i)))) {
                i++;
            }
            int nameStart = i;
            while (i < n && (Character.isLetterOrDigit(s.charAt(i)) || s.charAt(i) == '_' || s.charAt(i) == '-')) {
                i++;
            }
            String name = s.substring(nameStart, i).toLowerCase(Locale.ROOT);
            while (i < n && Character.isWhitespace(s.charAt(i))) {
                i++;
            }
            if (name.isEmpty() || i >= n || s.charAt(i) != '=') {
                break; // not a parameter (e.g. a second challenge): what came before stands
            }
            i++;
            while (i < n && Character.isWhitespace(s.charAt(i))) {
                i++;
            }
            StringBuilder value = new StringBuilder();
            if (i < n && s.charAt(i) == '"') {
                i++;
                while (i < n && s.charAt(i) != '"') {
                    if (s.charAt(i) == '\\' && i + 1 < n) {
                        i++;
                    }
                    value.append(s.charAt(i++));
                }
                i++; // the closing quote
            } else {
                while (i < n && s.charAt(i) != ',' && !Character.isWhitespace(s.charAt(i))) {
                    value.append(s.charAt(i++));
                }
            }
            params.putIfAbsent(name, value.toString());
        }
        return params;
    }

    /** {@code s} cut to {@code max} characters, with control characters shown as '?', for messages. */
    private static String printable(String s, int max) {
        String cut = s.length() > max ? s.substring(0, max) + "…" : s;
        return cut.replaceAll("\\p{Cntrl}", "?");
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
        HttpResponse<InputStream> resp;
        requests.increment();
        try {
            resp = hosts.defaultClient.send(b.build(), HttpResponse.BodyHandlers.ofInputStream());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new java.io.InterruptedIOException("interrupted");
        }
        byte[] body;
        try (InputStream in = resp.body()) {
            int s = resp.statusCode();
            if (s == 401 || s == 403) {
                throw new BerthException(s == 401 ? BerthException.Kind.UNAUTHENTICATED : BerthException.Kind.PERMISSION_DENIED,
                        String.format("registry %s: token endpoint %s refused %s for %s: HTTP %d", ref.registry(),
                                realm.getHost(), creds.isEmpty() ? "anonymous access" : "the credentials", ref, s));
            }
            if (s != 200) {
                throw BerthException.unavailable("registry %s: token endpoint %s answered HTTP %d for %s", ref.registry(), realm.getHost(), s, ref);
            }
            if (resp.headers().firstValueAsLong("Content-Length").orElse(0) > MAX_TOKEN_REPLY) {
                throw tooLarge(ref, realm);
            }
            body = in.readNBytes(MAX_TOKEN_REPLY + 1);
        }
        if (body.length > MAX_TOKEN_REPLY) {
            throw tooLarge(ref, realm);
        }
        JsonNode json;
        try {
            json = Json.mapper().readTree(body);
        } catch (IOException e) {
            throw BerthException.failedPrecondition("registry %s: the reply of token endpoint %s is not JSON", ref.registry(), realm.getHost());
        }
        String token = json.path("token").asText(json.path("access_token").asText(""));
        if (token.isEmpty()) {
            throw BerthException.unavailable("registry %s: token endpoint %s gave no token", ref.registry(), realm.getHost());
        }
        if (!token.chars().allMatch(ch -> ch > 0x20 && ch < 0x7f)) {
            throw BerthException.failedPrecondition("registry %s: token endpoint %s gave a token with characters a header cannot carry",
                    ref.registry(), realm.getHost());
        }
        JsonNode given = json.path("expires_in");
        long expiresIn = given.isMissingNode() || given.isNull() ? DEFAULT_TOKEN_SECONDS : given.asLong(DEFAULT_TOKEN_SECONDS);
        expiresIn = Math.min(Math.max(expiresIn, 1), MAX_TOKEN_SECONDS);
        // renew a little early so that a token does not lapse between check and use
        long lifetime = Duration.ofSeconds(expiresIn).toNanos() * 9 / 10;
        return new Token("Bearer " + token, clock.getAsLong() + lifetime);
    }

    private static BerthException tooLarge(Reference ref, URI realm) {
        return BerthException.failedPrecondition("registry %s: the reply of token endpoint %s is larger than %d bytes",
                ref.registry(), realm.getHost(), MAX_TOKEN_REPLY);
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
