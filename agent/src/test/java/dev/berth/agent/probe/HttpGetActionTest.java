package dev.berth.agent.probe;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerBuilder;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.ProbeBuilder;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.KeyStore;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** httpGet probes against a local server: codes, redirects as the kubelet follows them, headers, named ports, timeouts, HTTPS, bodies. */
class HttpGetActionTest {
    HttpServer server;
    int port;
    /** What the last request to each path carried: its headers (lower-case names), joined. */
    final Map<String, Map<String, String>> seen = new ConcurrentHashMap<>();
    final Actions actions = new Actions(null);

    @BeforeEach
    void start() throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 50);
        server.createContext("/", this::handle);
        server.start();
        port = server.getAddress().getPort();
    }

    @AfterEach
    void stop() {
        server.stop(0);
    }

    private void handle(HttpExchange x) throws IOException {
        String path = x.getRequestURI().getPath();
        Map<String, String> headers = new ConcurrentHashMap<>();
        x.getRequestHeaders().forEach((k, v) -> headers.put(k.toLowerCase(), String.join(",", v)));
        headers.put(":query", x.getRequestURI().getRawQuery() == null ? "" : x.getRequestURI().getRawQuery());
        seen.put(path, headers);
        switch (path) {
            case "/ok" -> send(x, 200, "fine");
            case "/created" -> send(x, 201, "");
            case "/fail" -> send(x, 500, "secret body");
            case "/notfound" -> send(x, 404, "");
            case "/here" -> redirect(x, "/ok");
            case "/there" -> redirect(x, "http://localhost:" + port + "/ok");
            case "/loop" -> redirect(x, "/loop");
            case "/unmodified" -> send(x, 304, null);
            case "/slow" -> {
                try {
                    Thread.sleep(3000);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                send(x, 200, "late");
            }
            case "/big" -> {
                x.sendResponseHeaders(200, 0); // chunked, never ending within the test
                OutputStream out = x.getResponseBody();
                byte[] kib = new byte[1024];
                try {
                    for (int i = 0; i < 100_000; i++) {
                        out.write(kib);
                    }
                } catch (IOException e) {
                    // the prober stopped reading
                }
                x.close();
            }
            default -> send(x, 404, "");
        }
    }

    private static void send(HttpExchange x, int code, String body) throws IOException {
        byte[] b = body == null ? new byte[0] : body.getBytes(StandardCharsets.UTF_8);
        x.sendResponseHeaders(code, body == null ? -1 : b.length == 0 ? -1 : b.length);
        if (b.length > 0) {
            x.getResponseBody().write(b);
        }
        x.close();
    }

    private static void redirect(HttpExchange x, String location) throws IOException {
        x.getResponseHeaders().add("Location", location);
        x.sendResponseHeaders(302, -1);
        x.close();
    }

    private static Container container() {
        return new ContainerBuilder().withName("web").addNewPort().withName("http").withContainerPort(8080).endPort().build();
    }

    private ProbeResult get(String path) {
        return actions.probe(probe(path, new IntOrString(port), 2), container(), "c1", "127.0.0.1");
    }

    private static Probe probe(String path, IntOrString port, int timeout) {
        return new ProbeBuilder().withNewHttpGet().withPath(path).withPort(port).endHttpGet().withTimeoutSeconds(timeout).build();
    }

    @Test
    void twoHundredsPassAndOthersFailWithTheKubeletsMessage() {
        assertEquals(ProbeResult.success("fine"), get("/ok"));
        assertEquals(ProbeResult.Outcome.SUCCESS, get("/created").outcome());
        assertEquals(ProbeResult.failure("HTTP probe failed with statuscode: 500"), get("/fail"), "the body stays out of the message");
        assertEquals(ProbeResult.failure("HTTP probe failed with statuscode: 404"), get("/notfound"));
        assertEquals(ProbeResult.Outcome.WARNING, get("/unmodified").outcome(), "a 3xx that is no redirect passes with a warning");
    }

    @Test
    void theRequestCarriesTheKubeletsAgentThePathsQueryAndTheHeaders() {
        Probe p = new ProbeBuilder().withNewHttpGet().withPath("/ok?verbose=1").withPort(new IntOrString(port))
                .addNewHttpHeader().withName("Host").withValue("example.test").endHttpHeader()
                .addNewHttpHeader().withName("X-Custom").withValue("yes").endHttpHeader().endHttpGet().build();
        assertTrue(actions.probe(p, container(), "c1", "127.0.0.1").passed());
        Map<String, String> h = seen.get("/ok");
        assertEquals("kube-probe/1.36", h.get("user-agent"));
        assertEquals("example.test", h.get("host"), "the Host header names the virtual host");
        assertEquals("yes", h.get("x-custom"));
        assertEquals("*/*", h.get("accept"));
        assertEquals("verbose=1", h.get(":query"));

        Probe agent = new ProbeBuilder().withNewHttpGet().withPath("/ok").withPort(new IntOrString(port))
                .addNewHttpHeader().withName("User-Agent").withValue("mine").endHttpHeader().endHttpGet().build();
        actions.probe(agent, container(), "c1", "127.0.0.1");
        assertEquals("mine", seen.get("/ok").get("user-agent"), "a User-Agent header replaces the kubelet's");
        get("/created");
        assertEquals("127.0.0.1:" + port, seen.get("/created").get("host"), "without a Host header: the address probed");
    }

    @Test
    void redirectsAreFollowedOnTheSameHostOnly() {
        assertEquals(ProbeResult.success("fine"), get("/here"), "same host: followed");
        assertTrue(seen.containsKey("/ok"));
        seen.clear();
        ProbeResult other = get("/there");
        assertEquals(ProbeResult.Outcome.WARNING, other.outcome(), "another host (localhost is not 127.0.0.1): not followed, a warning");
        assertTrue(other.message().startsWith("Probe terminated redirects"), other.message());
        assertNull(seen.get("/ok"), "never asked");
        ProbeResult loop = get("/loop");
        assertEquals(ProbeResult.Outcome.FAILURE, loop.outcome());
        assertTrue(loop.message().endsWith("stopped after 10 redirects"), loop.message());
    }

    @Test
    void aNamedPortIsTheContainersPortOfThatName() {
        Container c = new ContainerBuilder().withName("web").addNewPort().withName("http").withContainerPort(port).endPort().build();
        assertEquals(ProbeResult.success("fine"), actions.probe(probe("/ok", new IntOrString("http"), 2), c, "c1", "127.0.0.1"));
        assertEquals(ProbeResult.success("fine"), actions.probe(probe("/ok", new IntOrString(String.valueOf(port)), 2), c, "c1",
                "127.0.0.1"), "a number written as a string");
        ProbeResult missing = actions.probe(probe("/ok", new IntOrString("metrics"), 2), c, "c1", "127.0.0.1");
        assertEquals(ProbeResult.unknown("couldn't find port: metrics in web"), missing, "an error: the result is thrown away");
        assertEquals(ProbeResult.Outcome.UNKNOWN, actions.probe(probe("/ok", new IntOrString(70000), 2), c, "c1", "127.0.0.1").outcome());
    }

    @Test
    void aSlowAnswerIsAFailedProbeAtTheTimeout() {
        ProbeResult r = actions.probe(probe("/slow", new IntOrString(port), 1), container(), "c1", "127.0.0.1");
        assertEquals(ProbeResult.Outcome.FAILURE, r.outcome());
        assertTrue(r.message().contains("Client.Timeout exceeded"), r.message());
    }

    @Test
    void aRefusedConnectionFails() throws IOException {
        int closed;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            closed = s.getLocalPort();
        }
        ProbeResult r = actions.probe(probe("/ok", new IntOrString(closed), 1), container(), "c1", "127.0.0.1");
        assertEquals(ProbeResult.Outcome.FAILURE, r.outcome());
        assertEquals("Get \"http://127.0.0.1:" + closed + "/ok\": dial tcp 127.0.0.1:" + closed + ": connect: connection refused",
                r.message());
    }

    @Test
    void anEndlessBodyIsReadOnlyToTenKibibytes() {
        ProbeResult r = get("/big");
        assertEquals(ProbeResult.Outcome.SUCCESS, r.outcome());
        assertTrue(r.message().length() <= HttpGetAction.MAX_BODY, "body kept: " + r.message().length());
    }

    @Test
    void httpsIsNotVerified(@TempDir Path dir) throws Exception {
        Path store = dir.resolve("server.p12");
        Process keytool = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "keytool").toString(), "-genkeypair",
                "-alias", "s", "-keyalg", "EC", "-dname", "CN=not-this-host", "-validity", "2", "-storetype", "PKCS12",
                "-keystore", store.toString(), "-storepass", "changeit", "-keypass", "changeit").redirectErrorStream(true).start();
        String out = new String(keytool.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, keytool.waitFor(), out);
        KeyStore ks = KeyStore.getInstance("PKCS12");
        try (InputStream in = new FileInputStream(store.toFile())) {
            ks.load(in, "changeit".toCharArray());
        }
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(ks, "changeit".toCharArray());
        SSLContext tls = SSLContext.getInstance("TLS");
        tls.init(kmf.getKeyManagers(), null, null);
        HttpsServer https = HttpsServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 10);
        https.setHttpsConfigurator(new HttpsConfigurator(tls));
        https.createContext("/", x -> send(x, 200, "secure"));
        https.start();
        try {
            Probe p = new ProbeBuilder().withNewHttpGet().withScheme("HTTPS").withPath("/").withPort(new IntOrString(https.getAddress()
                    .getPort())).endHttpGet().build();
            assertEquals(ProbeResult.success("secure"), actions.probe(p, container(), "c1", "127.0.0.1"),
                    "a self-signed certificate for another name is accepted, as the kubelet accepts it");
        } finally {
            https.stop(0);
        }
    }

    @Test
    void urlsAreFormedAsTheKubeletFormsThem() {
        assertEquals("http://10.0.0.1:80/healthz", Actions.url("http", "10.0.0.1", 80, "healthz").toString());
        assertEquals("http://10.0.0.1:80", Actions.url("http", "10.0.0.1", 80, "").toString());
        assertEquals("https://[fd00::1]:8443/a?b=c", Actions.url("https", "fd00::1", 8443, "/a?b=c").toString());
    }
}
