package dev.berth.cli.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.berth.criserver.runtime.Readiness;
import dev.berth.common.BerthException;
import dev.berth.common.Json;
import io.micrometer.core.instrument.Counter;
import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import java.util.zip.GZIPInputStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The /metrics and /healthz HTTP server on a loopback port. */
class MetricsServerTest {
    private static final String PROMETHEUS_ACCEPT = "application/openmetrics-text;version=1.0.0,"
            + "application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

    private final BerthMetrics metrics = BerthMetrics.bare();
    private final AtomicReference<Readiness> runtime = new AtomicReference<>(Readiness.ready(Readiness.RUNTIME_READY));
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    private MetricsServer server;

    @BeforeEach
    void start() {
        Counter.builder("berth.test.things").description("things seen by the test").register(metrics.registry()).increment(7);
        Health health = new Health(List.of(runtime::get,
                () -> Readiness.notReady(Readiness.NETWORK_READY, "NetworkPluginNotReady", "no CNI network yet")));
        server = MetricsServer.start("127.0.0.1", 0, metrics, health);
    }

    @AfterEach
    void stop() {
        server.close();
        metrics.close();
    }

    private URI uri(String path) {
        return URI.create("http://127.0.0.1:" + server.address().getPort() + path);
    }

    private HttpResponse<String> get(String path, String... headers) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(uri(path)).timeout(Duration.ofSeconds(10));
        if (headers.length > 0) {
            b.headers(headers);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void metricsAreServedInThePrometheusTextFormatByDefault() throws Exception {
        HttpResponse<String> r = get("/metrics");
        assertEquals(200, r.statusCode());
        assertEquals("text/plain; version=0.0.4; charset=utf-8", r.headers().firstValue("content-type").orElse(""));
        assertTrue(r.body().contains("# TYPE berth_test_things_total counter"), r.body());
        assertTrue(r.body().contains("berth_test_things_total 7.0"), r.body());
        assertFalse(r.body().contains("# EOF"), r.body());
    }

    @Test
    void metricsAreServedAsOpenMetricsWhenTheScraperAsksForIt() throws Exception {
        HttpResponse<String> r = get("/metrics", "Accept", PROMETHEUS_ACCEPT);
        assertEquals(200, r.statusCode());
        assertEquals("application/openmetrics-text; version=1.0.0; charset=utf-8", r.headers().firstValue("content-type").orElse(""));
        assertTrue(r.body().contains("# TYPE berth_test_things counter"), r.body());
        assertTrue(r.body().contains("berth_test_things_total 7.0"), r.body());
        assertTrue(r.body().endsWith("# EOF\n"), r.body());
    }

    @Test
    void aQueryStringDoesNotChangeThePath() throws Exception {
        assertEquals(200, get("/metrics?name[]=berth_test_things_total").statusCode());
    }

    @Test
    void metricsAreGzippedWhenTheClientAcceptsIt() throws Exception {
        // answers under 1 KiB go out as they are; make this one bigger
        for (int i = 0; i < 50; i++) {
            Counter.builder("berth.test.filler").tag("n", Integer.toString(i)).register(metrics.registry());
        }
        HttpResponse<byte[]> r = http.send(HttpRequest.newBuilder(uri("/metrics")).header("Accept-Encoding", "gzip").build(),
                HttpResponse.BodyHandlers.ofByteArray());
        assertEquals(200, r.statusCode());
        assertEquals("gzip", r.headers().firstValue("content-encoding").orElse(""));
        try (InputStream in = new GZIPInputStream(new ByteArrayInputStream(r.body()))) {
            String text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(text.contains("berth_test_things_total 7.0"), text);
            assertTrue(text.contains("berth_test_filler_total{n=\"49\"} 0.0"), text);
        }
        HttpResponse<String> small = get("/healthz", "Accept-Encoding", "gzip");
        assertTrue(small.headers().firstValue("content-encoding").isEmpty(), "a small answer is not compressed");
    }

    @Test
    void headAnswersTheHeadersOfGetWithoutABody() throws Exception {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(uri("/metrics")).method("HEAD", HttpRequest.BodyPublishers.noBody()).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode());
        assertTrue(r.headers().firstValueAsLong("content-length").orElse(0) > 0, r.headers().toString());
        assertEquals("", r.body());
    }

    @Test
    void otherPathsAre404AndOtherMethods405() throws Exception {
        assertEquals(404, get("/").statusCode());
        assertEquals(404, get("/metricsx").statusCode());
        assertEquals(404, get("/healthz/x").statusCode());
        for (String path : new String[] {"/metrics", "/healthz"}) {
            for (String method : new String[] {"POST", "PUT", "DELETE"}) {
                HttpResponse<String> r = http.send(HttpRequest.newBuilder(uri(path))
                        .method(method, HttpRequest.BodyPublishers.ofString("x")).build(), HttpResponse.BodyHandlers.ofString());
                assertEquals(405, r.statusCode(), method + " " + path);
                assertEquals("GET, HEAD", r.headers().firstValue("allow").orElse(""));
            }
        }
    }

    @Test
    void healthIs200WithEveryConditionWhenTheRuntimeIsReady() throws Exception {
        HttpResponse<String> r = get("/healthz");
        assertEquals(200, r.statusCode());
        assertEquals("application/json", r.headers().firstValue("content-type").orElse(""));
        JsonNode body = Json.mapper().readTree(r.body());
        assertEquals("ok", body.path("status").asText());
        JsonNode conditions = body.path("conditions");
        assertEquals(2, conditions.size(), r.body());
        assertEquals("RuntimeReady", conditions.get(0).path("type").asText());
        assertTrue(conditions.get(0).path("status").asBoolean());
        assertEquals("NetworkReady", conditions.get(1).path("type").asText());
        assertFalse(conditions.get(1).path("status").asBoolean());
        assertEquals("NetworkPluginNotReady", conditions.get(1).path("reason").asText());
        assertEquals("no CNI network yet", conditions.get(1).path("message").asText());
    }

    @Test
    void healthIs503WithTheReasonWhenTheRuntimeIsNotReady() throws Exception {
        runtime.set(Readiness.notReady(Readiness.RUNTIME_READY, "OCIRuntimeNotFound", "runc is not on PATH"));
        HttpResponse<String> r = get("/healthz");
        assertEquals(503, r.statusCode());
        JsonNode body = Json.mapper().readTree(r.body());
        assertEquals("unhealthy", body.path("status").asText());
        assertEquals("OCIRuntimeNotFound", body.path("conditions").get(0).path("reason").asText());
        assertEquals("runc is not on PATH", body.path("conditions").get(0).path("message").asText());

        runtime.set(Readiness.ready(Readiness.RUNTIME_READY));
        assertEquals(200, get("/healthz").statusCode(), "health follows the checks at every request");
    }

    @Test
    void aCheckThatThrowsMakesTheNodeUnhealthyRatherThanFailingTheRequest() throws Exception {
        server.close();
        server = MetricsServer.start("127.0.0.1", 0, metrics, new Health(List.of(() -> {
            throw new IllegalStateException("state directory vanished");
        })));
        HttpResponse<String> r = get("/healthz");
        assertEquals(503, r.statusCode());
        assertTrue(r.body().contains("CheckFailed") && r.body().contains("state directory vanished"), r.body());
    }

    @Test
    void keepAliveConnectionsServeSeveralRequestsInOrder() throws Exception {
        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), server.address().getPort())) {
            s.setSoTimeout(10_000);
            OutputStream out = s.getOutputStream();
            // three pipelined requests; the answers must come back in the same order
            out.write(("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                    + "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
                    + "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.flush();
            String all = new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            int ok1 = all.indexOf("HTTP/1.1 200 OK");
            int notFound = all.indexOf("HTTP/1.1 404 Not Found");
            int ok2 = all.indexOf("HTTP/1.1 200 OK", notFound);
            assertTrue(ok1 >= 0 && notFound > ok1 && ok2 > notFound, all);
            assertTrue(all.contains("berth_test_things_total 7.0"), all);
        }
    }

    @Test
    void aGarbledRequestIsAnswered400() throws Exception {
        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), server.address().getPort())) {
            s.setSoTimeout(10_000);
            s.getOutputStream().write("GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            String answer = new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(answer.startsWith("HTTP/1.1 400"), answer);
        }
    }

    @Test
    void anAddressInUseIsAClearErrorNamingIt() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            BerthException e = assertThrows(BerthException.class,
                    () -> MetricsServer.start("127.0.0.1", taken.getLocalPort(), metrics, new Health(List.of())));
            assertEquals(BerthException.Kind.UNAVAILABLE, e.kind());
            assertTrue(e.getMessage().contains("cannot serve metrics on 127.0.0.1:" + taken.getLocalPort()), e.getMessage());
            assertTrue(e.getMessage().contains("metrics.address"), e.getMessage());
        }
    }

    @Test
    void closingReleasesThePortAndTheThreads() throws Exception {
        int port = server.address().getPort();
        assertTrue(metricsThreads() > 0, "the server runs on metrics-* threads: " + Thread.getAllStackTraces().keySet());
        server.close();
        try (ServerSocket again = new ServerSocket()) {
            again.setReuseAddress(true);
            again.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
        }
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (metricsThreads() > 0 && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertEquals(0, metricsThreads(), "metrics-* threads left: " + Thread.getAllStackTraces().keySet());
        server = MetricsServer.start("127.0.0.1", 0, metrics, new Health(List.of()));
    }

    private static long metricsThreads() {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.isAlive() && (t.getName().startsWith("metrics-io") || t.getName().startsWith("metrics-http")))
                .count();
    }
}
