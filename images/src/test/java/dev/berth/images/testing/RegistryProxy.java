package dev.berth.images.testing;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A test front for a real registry on loopback: forwards {@code /v2/} GETs, counts requests
 * per path, can require Bearer tokens from its own token endpoint ({@code /token}, guarded by
 * HTTP Basic), and can cut blob downloads off half-way or stall any response right after its
 * headers (until released).
 */
public final class RegistryProxy implements AutoCloseable {
    private final String upstream;
    private final HttpServer server;
    private final ExecutorService executor = Executors.newCachedThreadPool();
    private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    private final Map<String, AtomicInteger> hits = new ConcurrentHashMap<>();
    public final AtomicInteger tokenRequests = new AtomicInteger();
    /** The query string of each token request, in order. */
    public final List<String> tokenQueries = new java.util.concurrent.CopyOnWriteArrayList<>();
    /** The Authorization header of each token request ("" for none), in order. */
    public final List<String> tokenAuthorizations = new java.util.concurrent.CopyOnWriteArrayList<>();
    /** Tokens handed out, each with the scope it grants. */
    private final Map<String, String> tokenScopes = new ConcurrentHashMap<>();
    private volatile boolean anonymousTokens;
    private volatile String tokenField = "token";
    private volatile Long expiresIn = 300L;
    private volatile int tokenStatus;

    private volatile String bearerUser;
    private volatile String bearerPassword;
    private volatile long stallBlobsLargerThan = -1;
    private volatile String stallAfterHeaders;
    private final AtomicInteger failuresLeft = new AtomicInteger();
    private volatile int failStatus;
    private volatile CountDownLatch stalled = new CountDownLatch(1);
    private volatile CountDownLatch release = new CountDownLatch(1);

    public RegistryProxy(String upstream) throws IOException {
        this.upstream = upstream;
        this.server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 50);
        server.setExecutor(executor);
        server.createContext("/v2/", this::forward);
        server.createContext("/token", this::token);
        server.start();
    }

    public String host() {
        return "127.0.0.1:" + server.getAddress().getPort();
    }

    /**
     * Requires Bearer tokens, handed out by /token to this user (Basic) only; each grants pull
     * access to the one repository its scope names. Tokens handed out before are revoked.
     */
    public void requireBearer(String user, String password) {
        this.bearerUser = user;
        this.bearerPassword = password;
        tokenScopes.clear();
    }

    /** The token endpoint also hands out tokens to requests without credentials. */
    public void anonymousTokens(boolean allowed) {
        this.anonymousTokens = allowed;
    }

    /** The token endpoint answers with the token in this field ({@code token} or {@code access_token}). */
    public void tokenField(String field) {
        this.tokenField = field;
    }

    /** The token endpoint says tokens last this many seconds (null: it says nothing). */
    public void expiresIn(Long seconds) {
        this.expiresIn = seconds;
    }

    /** The token endpoint answers every request with this status (0: it works). */
    public void tokenStatus(int status) {
        this.tokenStatus = status;
    }

    /** Revokes every token handed out (the registry refuses them from now on). */
    public void revokeTokens() {
        tokenScopes.clear();
    }

    /** Blobs larger than {@code size} are sent half-way, then the response stalls until {@link #releaseStalled()}. */
    public void stallBlobsLargerThan(long size) {
        this.stalled = new CountDownLatch(1);
        this.release = new CountDownLatch(1);
        this.stallBlobsLargerThan = size;
    }

    /**
     * Responses to paths containing {@code pathPart} send their status and headers (with the
     * full Content-Length), then no byte of the body until {@link #releaseStalled()}.
     */
    public void stallAfterHeaders(String pathPart) {
        this.stalled = new CountDownLatch(1);
        this.release = new CountDownLatch(1);
        this.stallAfterHeaders = pathPart;
    }

    /** The next {@code n} registry requests fail with HTTP {@code status}. */
    public void failNext(int n, int status) {
        failStatus = status;
        failuresLeft.set(n);
    }

    public void passThrough() {
        stallBlobsLargerThan = -1;
        stallAfterHeaders = null;
        release.countDown();
    }

    public boolean awaitStalled(long seconds) throws InterruptedException {
        return stalled.await(seconds, TimeUnit.SECONDS);
    }

    /** Ends stalled responses by closing their connections (the client sees a truncated body). */
    public void releaseStalled() {
        release.countDown();
    }

    public int hits(String pathSuffix) {
        return hits.entrySet().stream().filter(e -> e.getKey().endsWith(pathSuffix)).mapToInt(e -> e.getValue().get()).sum();
    }

    private void token(HttpExchange ex) throws IOException {
        tokenRequests.incrementAndGet();
        String query = ex.getRequestURI().getRawQuery();
        String given = ex.getRequestHeaders().getFirst("Authorization");
        tokenQueries.add(query == null ? "" : query);
        tokenAuthorizations.add(given == null ? "" : given);
        String expected = "Basic " + Base64.getEncoder().encodeToString((bearerUser + ":" + bearerPassword).getBytes(StandardCharsets.UTF_8));
        String scope = null;
        for (String kv : query == null ? new String[0] : query.split("&")) {
            if (kv.startsWith("scope=")) {
                scope = java.net.URLDecoder.decode(kv.substring("scope=".length()), StandardCharsets.UTF_8);
            }
        }
        boolean allowed = given == null ? anonymousTokens : expected.equals(given);
        int status = tokenStatus != 0 ? tokenStatus : !allowed || scope == null || !scope.startsWith("repository:") ? 401 : 200;
        if (status != 200) {
            ex.sendResponseHeaders(status, -1);
            ex.close();
            return;
        }
        String token = "tok-" + tokenRequests.get() + "-" + System.nanoTime();
        tokenScopes.put(token, scope);
        Long ttl = expiresIn;
        byte[] body = ("{\"" + tokenField + "\":\"" + token + "\"" + (ttl == null ? "" : ",\"expires_in\":" + ttl) + "}")
                .getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", "application/json");
        ex.sendResponseHeaders(200, body.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(body);
        }
    }

    private void forward(HttpExchange ex) throws IOException {
        String path = ex.getRequestURI().getRawPath();
        try {
            String repo = path.substring("/v2/".length()).replaceAll("/(manifests|blobs)/.*$", "");
            String auth = ex.getRequestHeaders().getFirst("Authorization");
            String granted = auth != null && auth.startsWith("Bearer ") ? tokenScopes.get(auth.substring("Bearer ".length())) : null;
            if (bearerUser != null && !("repository:" + repo + ":pull").equals(granted)) {
                ex.getResponseHeaders().set("WWW-Authenticate", "Bearer realm=\"http://" + host() + "/token\",service=\"berth-test\",scope=\"repository:"
                        + repo + ":pull\"");
                ex.sendResponseHeaders(401, -1);
                return;
            }
            hits.computeIfAbsent(path, p -> new AtomicInteger()).incrementAndGet();
            if (failuresLeft.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
                ex.sendResponseHeaders(failStatus, -1);
                return;
            }
            HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(upstream + path)).GET();
            String accept = ex.getRequestHeaders().getFirst("Accept");
            if (accept != null) {
                b.header("Accept", accept);
            }
            HttpResponse<InputStream> r;
            try {
                r = http.send(b.build(), HttpResponse.BodyHandlers.ofInputStream());
            } catch (IOException e) {
                ex.sendResponseHeaders(502, -1);
                return;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                ex.sendResponseHeaders(503, -1);
                return;
            }
            for (String h : List.of("Content-Type", "Docker-Content-Digest")) {
                r.headers().firstValue(h).ifPresent(v -> ex.getResponseHeaders().set(h, v));
            }
            long length = r.headers().firstValueAsLong("Content-Length").orElse(0);
            try (InputStream in = r.body()) {
                if (r.statusCode() != 200) {
                    byte[] body = in.readAllBytes();
                    ex.sendResponseHeaders(r.statusCode(), body.length == 0 ? -1 : body.length);
                    if (body.length > 0) {
                        ex.getResponseBody().write(body);
                    }
                    return;
                }
                ex.sendResponseHeaders(200, length == 0 ? -1 : length);
                OutputStream out = ex.getResponseBody();
                String stallPart = stallAfterHeaders;
                if (stallPart != null && path.contains(stallPart)) {
                    out.flush();
                    stalled.countDown();
                    awaitRelease();
                    return;
                }
                long stallAt = stallBlobsLargerThan;
                if (stallAt >= 0 && path.contains("/blobs/") && length > stallAt) {
                    out.write(in.readNBytes((int) (length / 2)));
                    out.flush();
                    stalled.countDown();
                    awaitRelease();
                    return; // the connection closes short of Content-Length
                }
                in.transferTo(out);
                out.close();
            }
        } finally {
            ex.close();
        }
    }

    private void awaitRelease() {
        try {
            release.await(120, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() {
        release.countDown();
        server.stop(0);
        executor.shutdownNow();
    }
}
