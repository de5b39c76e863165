package dev.berth.agent.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fabric8.kubernetes.api.model.authentication.TokenReview;
import io.fabric8.kubernetes.api.model.authentication.TokenReviewBuilder;
import io.fabric8.kubernetes.api.model.authorization.v1.SubjectAccessReview;
import io.fabric8.kubernetes.api.model.authorization.v1.SubjectAccessReviewBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The HTTP API's server: requests without credentials are refused (401), client certificates
 * and TokenReview-checked tokens authenticate, SubjectAccessReview denies (403 with the
 * kubelet's text) or allows with the kubelet's attributes and answers are cached; endpoints
 * are routed by prefix, stream chunked and see the client go; the read-only listener serves
 * only the read-only paths.
 */
class KubeletServerTest {
    @TempDir
    Path dir;

    private KubeletServer server;
    private KubernetesMockServer mock;
    private KubernetesClient api;

    @AfterEach
    void close() {
        if (server != null) {
            server.close();
        }
        if (api != null) {
            api.close();
        }
        if (mock != null) {
            mock.destroy();
        }
    }

    private ServerSettings settings(Path ca, boolean anonymous) {
        return new ServerSettings("127.0.0.1", 0, 0, null, null, ca, true, ServerSettings.AuthorizationMode.WEBHOOK, anonymous,
                null, null, null, null);
    }

    private KubeletServer start(ServerSettings s, KubernetesClient client, PrometheusMeterRegistry probes) {
        var clock = java.time.Clock.systemUTC();
        var ssl = ServerTls.context(s, dir, "node-a", List.of(), clock);
        List<KubeletServer.Listener> listeners = List.of(new KubeletServer.Listener("127.0.0.1", 0, ssl, false),
                new KubeletServer.Listener("127.0.0.1", 0, null, true));
        server = KubeletServer.start("node-a", new Authenticator(client, s.anonymousAuth(), s.authnSuccessTtl(), s.authnFailureTtl(), clock),
                new Authorizer(client, s.authzAllowTtl(), s.authzDenyTtl(), clock), null, null, listeners);
        server.route("/healthz", (req, resp) -> resp.error(200, "ok"));
        server.metrics("/metrics", KubeletServer.agentRegistry());
        if (probes != null) {
            server.metrics("/metrics/probes", probes);
        }
        return server;
    }

    private X509Certificate serverCert() throws Exception {
        return ServerTls.readCertificate(Files.readAllBytes(dir.resolve("pki/agent.crt")));
    }

    private HttpResponse<String> get(SSLContext tls, String path, String token) throws Exception {
        HttpClient c = HttpClient.newBuilder().sslContext(tls).version(HttpClient.Version.HTTP_1_1).build();
        HttpRequest.Builder r = HttpRequest.newBuilder(URI.create("https://127.0.0.1:" + server.address(0).getPort() + path))
                .timeout(Duration.ofSeconds(20));
        if (token != null) {
            r.header("Authorization", "Bearer " + token);
        }
        return c.send(r.build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void clientCertificatesAuthenticateAndRequestsWithoutCredentialsAreRefused() throws Exception {
        TestPki pki = new TestPki("test-ca");
        start(settings(pki.writeCa(dir.resolve("ca.crt")), false), null, null);
        SSLContext none = TestPki.context(serverCert(), null);
        HttpResponse<String> refused = get(none, "/healthz", null);
        assertEquals(401, refused.statusCode());
        assertEquals("Unauthorized\n", refused.body());
        assertEquals(401, get(none, "/healthz", "some-token").statusCode(), "no TokenReview standalone: a token alone is no one");

        SSLContext alice = TestPki.context(serverCert(), pki.client("CN=alice,O=admins"));
        HttpResponse<String> ok = get(alice, "/healthz", null);
        assertEquals(200, ok.statusCode());
        assertEquals("ok\n", ok.body());
        HttpResponse<String> metrics = get(alice, "/metrics", null);
        assertEquals(200, metrics.statusCode());
        assertTrue(metrics.body().contains("jvm_memory_used_bytes"), metrics.body());
        assertTrue(metrics.headers().firstValue("content-type").orElse("").startsWith("text/plain; version=0.0.4"));
        assertEquals(404, get(alice, "/nothing-here", null).statusCode());
        assertEquals(404, get(alice, "/exec/ns/pod/c", null).statusCode(), "no streaming proxy configured");

        // a certificate of another CA fails the handshake
        TestPki other = new TestPki("other-ca");
        SSLContext mallory = TestPki.context(serverCert(), other.client("CN=mallory"));
        boolean refusedHandshake;
        try {
            refusedHandshake = get(mallory, "/healthz", null).statusCode() != 200;
        } catch (java.io.IOException e) {
            refusedHandshake = true;
        }
        assertTrue(refusedHandshake);
    }

    @Test
    void anonymousAccessWhenAllowed() throws Exception {
        start(settings(null, true), null, null);
        assertEquals(200, get(TestPki.context(serverCert(), null), "/healthz", null).statusCode());
    }

    @Test
    void tokensAreReviewedAndRequestsAuthorizedThroughTheApiServerWithCaching() throws Exception {
        mock = new KubernetesMockServer(false);
        mock.init();
        api = mock.createClient();
        AtomicInteger tokenReviews = new AtomicInteger();
        List<SubjectAccessReview> asked = new java.util.concurrent.CopyOnWriteArrayList<>();
        mock.expect().post().withPath("/apis/authentication.k8s.io/v1/tokenreviews").andReply(201, req -> {
            tokenReviews.incrementAndGet();
            TokenReview in = Serialization.unmarshal(req.getBody().readUtf8(), TokenReview.class);
            String token = in.getSpec().getToken();
            String user = token.equals("alice-token") ? "alice" : token.equals("bob-token") ? "bob" : null;
            return new TokenReviewBuilder(in).withNewStatus().withAuthenticated(user != null)
                    .withNewUser().withUsername(user).withGroups(user == null ? null : List.of("system:authenticated")).endUser()
                    .endStatus().build();
        }).always();
        mock.expect().post().withPath("/apis/authorization.k8s.io/v1/subjectaccessreviews").andReply(201, req -> {
            SubjectAccessReview in = Serialization.unmarshal(req.getBody().readUtf8(), SubjectAccessReview.class);
            asked.add(in);
            return new SubjectAccessReviewBuilder(in).withNewStatus().withAllowed(in.getSpec().getUser().equals("alice")).endStatus()
                    .build();
        }).always();
        start(settings(null, false), api, null);
        SSLContext tls = TestPki.context(serverCert(), null);

        assertEquals(401, get(tls, "/healthz", "wrong-token").statusCode());
        HttpResponse<String> alice = get(tls, "/metrics", "alice-token");
        assertEquals(200, alice.statusCode(), alice.body());
        SubjectAccessReview sar = asked.get(0);
        assertEquals("alice", sar.getSpec().getUser());
        assertEquals(List.of("system:authenticated"), sar.getSpec().getGroups());
        var attrs = sar.getSpec().getResourceAttributes();
        assertEquals(List.of("get", "nodes", "metrics", "node-a", "v1"), List.of(attrs.getVerb(), attrs.getResource(), attrs.getSubresource(),
                attrs.getName(), attrs.getVersion()));

        HttpResponse<String> bob = get(tls, "/healthz", "bob-token");
        assertEquals(403, bob.statusCode());
        assertEquals("Forbidden (user=bob, verb=get, resource=nodes, subresource=proxy)\n", bob.body());

        // answers are cached: the same requests again ask the API server nothing more
        int reviews = tokenReviews.get();
        int accessReviews = asked.size();
        assertEquals(200, get(tls, "/metrics", "alice-token").statusCode());
        assertEquals(403, get(tls, "/healthz", "bob-token").statusCode());
        assertEquals(401, get(tls, "/healthz", "wrong-token").statusCode());
        assertEquals(reviews, tokenReviews.get());
        assertEquals(accessReviews, asked.size());
    }

    @Test
    void endpointsStreamChunkedAndSeeTheClientGo() throws Exception {
        TestPki pki = new TestPki("test-ca");
        PrometheusMeterRegistry probes = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        probes.counter("prober_probe_total", "probe_type", "Liveness").increment();
        start(settings(pki.writeCa(dir.resolve("ca.crt")), false), null, probes);
        CountDownLatch gone = new CountDownLatch(1);
        List<List<String>> seen = new java.util.concurrent.CopyOnWriteArrayList<>();
        server.route("/containerLogs/", (req, resp) -> {
            seen.add(req.segments());
            resp.start(200, "text/plain");
            OutputStream out = resp.body();
            for (int i = 0; i < 3; i++) {
                out.write(("line " + i + "\n").getBytes(StandardCharsets.UTF_8));
                out.flush();
            }
            if ("true".equals(req.param("follow"))) {
                while (!resp.clientGone()) {
                    try {
                        out.write("more\n".getBytes(StandardCharsets.UTF_8));
                        out.flush();
                        Thread.sleep(20);
                    } catch (java.io.IOException | InterruptedException e) {
                        break;
                    }
                }
                gone.countDown();
            }
            out.close();
        });
        SSLContext tls = TestPki.context(serverCert(), pki.client("CN=apiserver"));
        HttpResponse<String> logs = get(tls, "/containerLogs/ns/pod/c", null);
        assertEquals(200, logs.statusCode());
        assertEquals("line 0\nline 1\nline 2\n", logs.body());
        assertEquals("chunked", logs.headers().firstValue("transfer-encoding").orElse(""));
        assertEquals(List.of("ns", "pod", "c"), seen.get(0));
        HttpResponse<String> probeMetrics = get(tls, "/metrics/probes", null);
        assertTrue(probeMetrics.body().contains("prober_probe_total{probe_type=\"Liveness\"} 1.0"), probeMetrics.body());

        // a follower: the client reads a little and goes; the endpoint notices
        try (SSLSocket s = (SSLSocket) tls.getSocketFactory().createSocket("127.0.0.1", server.address(0).getPort())) {
            s.getOutputStream().write("GET /containerLogs/ns/pod/c?follow=true HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            s.getOutputStream().flush();
            InputStream in = s.getInputStream();
            String head = new String(in.readNBytes(15), StandardCharsets.US_ASCII);
            assertEquals("HTTP/1.1 200 OK", head);
        }
        assertTrue(gone.await(30, TimeUnit.SECONDS), "the endpoint saw the client go");
    }

    @Test
    void theReadOnlyListenerServesOnlyReadOnlyPathsToGet() throws Exception {
        start(settings(null, false), null, null);
        server.route("/containerLogs/", (req, resp) -> resp.error(200, "logs"));
        HttpClient c = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        InetSocketAddress ro = server.address(1);
        URI base = URI.create("http://127.0.0.1:" + ro.getPort());
        assertEquals(200, c.send(HttpRequest.newBuilder(base.resolve("/healthz")).build(), HttpResponse.BodyHandlers.ofString()).statusCode());
        assertEquals(200, c.send(HttpRequest.newBuilder(base.resolve("/metrics")).build(), HttpResponse.BodyHandlers.ofString()).statusCode());
        assertEquals(404, c.send(HttpRequest.newBuilder(base.resolve("/containerLogs/ns/p/c")).build(),
                HttpResponse.BodyHandlers.ofString()).statusCode());
        assertEquals(404, c.send(HttpRequest.newBuilder(base.resolve("/exec/ns/p/c?command=sh")).build(),
                HttpResponse.BodyHandlers.ofString()).statusCode());
        assertEquals(405, c.send(HttpRequest.newBuilder(base.resolve("/healthz")).POST(HttpRequest.BodyPublishers.noBody()).build(),
                HttpResponse.BodyHandlers.ofString()).statusCode());
    }

    @Test
    void oversizedHeadersAreRefused() throws Exception {
        start(settings(null, true), null, null);
        try (java.net.Socket s = new java.net.Socket("127.0.0.1", server.address(1).getPort())) {
            String big = "x".repeat(KubeletServer.MAX_HEADERS + 1);
            s.getOutputStream().write(("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + big + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            String head = new String(s.getInputStream().readNBytes(12), StandardCharsets.US_ASCII);
            assertEquals("HTTP/1.1 431", head);
        }
    }

    @Test
    void theKubeletsAttributes() {
        assertEquals(new Authorizer.Attributes("create", "nodes", "proxy", "n", "/exec/a/b/c"), Authorizer.attributes("POST", "/exec/a/b/c", "n"));
        assertEquals("stats", Authorizer.attributes("GET", "/stats/summary", "n").subresource());
        assertEquals("metrics", Authorizer.attributes("GET", "/metrics", "n").subresource());
        assertEquals("log", Authorizer.attributes("GET", "/logs/syslog", "n").subresource());
        assertEquals("proxy", Authorizer.attributes("GET", "/statsx", "n").subresource());
        assertEquals("proxy", Authorizer.attributes("GET", "/containerLogs/a/b/c", "n").subresource());
        assertFalse(KubeletServer.readOnlyPath("/exec/a/b/c"));
        assertTrue(KubeletServer.readOnlyPath("/stats/summary"));
    }
}
