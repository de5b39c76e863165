package dev.berth.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.berth.cri.v1.CheckpointContainerRequest;
import dev.berth.cri.v1.StatusRequest;
import dev.berth.cri.v1.VersionRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * berth's Prometheus endpoint as a scraper sees it: the real daemon, promtool, and a real
 * Prometheus server scraping it over loopback.
 */
@Tag("root")
class MetricsEndpointTest {
    private static final Path PROMTOOL = Path.of("/usr/bin/promtool");
    private static final String LABELS_VERSION_OK = "code=\"OK\",method=\"Version\",service=\"runtime.v1.RuntimeService\"";
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    private static int freeLoopbackPort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    /** A config file with {@code toml} and the fixture's isolated network settings. */
    private Path config(String toml) throws IOException {
        Path file = dir.resolve("config.toml");
        Files.writeString(file, toml + BerthProcess.isolatedNetworkToml(dir));
        return file;
    }

    private HttpResponse<String> get(String url, String... headers) throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10));
        if (headers.length > 0) {
            b.headers(headers);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    /** berth serves metrics right after the CRI socket; waits (bounded) until the endpoint answers. */
    private HttpResponse<String> awaitEndpoint(String url, BerthProcess berth) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        IOException last = null;
        while (System.nanoTime() < deadline) {
            try {
                return get(url);
            } catch (IOException e) {
                last = e;
                Thread.sleep(50);
            }
        }
        throw new AssertionError("the metrics endpoint did not answer within 30 s: " + last + "\n" + berth.logText());
    }

    private static double sample(String exposition, String series) {
        Matcher m = Pattern.compile("(?m)^" + Pattern.quote(series) + " (\\S+)$").matcher(exposition);
        return m.find() ? Double.parseDouble(m.group(1)) : 0;
    }

    @Test
    void criCallsAreExposedCheckedByPromtoolAndScrapedByPrometheus() throws Exception {
        int port = freeLoopbackPort();
        String base = "http://127.0.0.1:" + port;
        Path cfg = config("[metrics]\naddress = \"127.0.0.1:" + port + "\"\n");
        try (BerthProcess berth = BerthProcess.start(dir.resolve("berth"), "--config", cfg.toString())) {
            String before = awaitEndpoint(base + "/metrics", berth).body();
            assertEquals(Set.of(port, streamingPort(berth)), listeningTcpPorts(berth.pid()),
                    "berth listens on the metrics port and the streaming server's, no other");
            double versionsBefore = sample(before, "berth_cri_requests_total{" + LABELS_VERSION_OK + "}");

            int versions = 5;
            for (int i = 0; i < versions; i++) {
                assertEquals("berth", berth.runtime().version(VersionRequest.getDefaultInstance()).getRuntimeName());
            }
            berth.runtime().status(StatusRequest.getDefaultInstance());
            berth.runtime().status(StatusRequest.newBuilder().setVerbose(true).build());
            StatusRuntimeException unimplemented = assertThrows(StatusRuntimeException.class, () -> berth.runtime()
                    .checkpointContainer(CheckpointContainerRequest.newBuilder().setContainerId("x").build()));
            assertEquals(Status.Code.UNIMPLEMENTED, unimplemented.getStatus().getCode());

            HttpResponse<String> scrape = get(base + "/metrics");
            assertEquals(200, scrape.statusCode());
            assertEquals("text/plain; version=0.0.4; charset=utf-8", scrape.headers().firstValue("content-type").orElse(""));
            String text = scrape.body();
            assertEquals(versionsBefore + versions, sample(text, "berth_cri_requests_total{" + LABELS_VERSION_OK + "}"), text);
            assertEquals(versionsBefore + versions,
                    sample(text, "berth_cri_request_duration_seconds_count{" + LABELS_VERSION_OK + "}"), text);
            assertEquals(2, sample(text,
                    "berth_cri_requests_total{code=\"OK\",method=\"Status\",service=\"runtime.v1.RuntimeService\"}"), text);
            String checkpoint = "code=\"UNIMPLEMENTED\",method=\"CheckpointContainer\",service=\"runtime.v1.RuntimeService\"";
            assertEquals(1, sample(text, "berth_cri_requests_total{" + checkpoint + "}"), text);
            assertEquals(1, sample(text, "berth_cri_errors_total{" + checkpoint + "}"), text);
            assertEquals(1, sample(text, "berth_cri_request_duration_seconds_bucket{" + checkpoint + ",le=\"+Inf\"}"), text);
            assertFalse(text.contains("berth_cri_errors_total{code=\"OK\""), "OK calls are not errors");
            for (String family : new String[] {"jvm_memory_used_bytes{", "process_cpu_seconds_total ", "process_resident_memory_bytes ",
                    "process_files_open_files ", "berth_build_info{"}) {
                assertTrue(text.contains(family), family);
            }

            promtoolAccepts(text);

            HttpResponse<String> openMetrics = get(base + "/metrics", "Accept", "application/openmetrics-text;version=1.0.0");
            assertTrue(openMetrics.headers().firstValue("content-type").orElse("").startsWith("application/openmetrics-text"));
            assertTrue(openMetrics.body().endsWith("# EOF\n"));

            HttpResponse<String> health = get(base + "/healthz");
            assertEquals(200, health.statusCode(), health.body());
            JsonNode conditions = JSON.readTree(health.body()).path("conditions");
            assertEquals("RuntimeReady", conditions.get(0).path("type").asText(), health.body());
            assertTrue(conditions.get(0).path("status").asBoolean(), health.body());
            JsonNode network = conditions.get(1);
            assertEquals("NetworkReady", network.path("type").asText(), health.body());
            assertTrue(network.path("status").asBoolean() || !network.path("reason").asText().isEmpty(),
                    "a network that is not ready says why: " + health.body());

            prometheusScrapes(port, versionsBefore + versions);

            assertEquals(0, berth.stop(), berth.logText());
            try (ServerSocket again = new ServerSocket()) {
                again.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
            }
        }
    }

    private void promtoolAccepts(String exposition) throws Exception {
        Process p = new ProcessBuilder(PROMTOOL.toString(), "check", "metrics").redirectErrorStream(true).start();
        try {
            p.getOutputStream().write(exposition.getBytes(StandardCharsets.UTF_8));
            p.getOutputStream().close();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), "promtool did not finish");
            assertEquals(0, p.exitValue(), "promtool check metrics: " + out);
        } finally {
            p.destroyForcibly();
        }
    }

    /** A real Prometheus on loopback scrapes berth every second; its PromQL sees the Version calls. */
    private void prometheusScrapes(int berthPort, double expectedVersions) throws Exception {
        try (PrometheusServer prometheus = PrometheusServer.start(dir.resolve("prometheus"), berthPort)) {
            String query = "sum(berth_cri_requests_total{job=\"berth\",method=\"Version\",code=\"OK\"})";
            long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            double value = -1;
            while (System.nanoTime() < deadline && value < expectedVersions) {
                assertTrue(prometheus.alive(), "prometheus exited:\n" + prometheus.log());
                value = prometheus.query(query).orElse(-1);
                if (value < expectedVersions) {
                    Thread.sleep(500);
                }
            }
            assertTrue(value >= expectedVersions, "PromQL " + query + " gave " + value + " (want >= " + expectedVersions
                    + "); last answer: " + prometheus.queryRaw(query) + "\nprometheus log:\n" + prometheus.log());
            String up = prometheus.queryRaw("up{job=\"berth\"}");
            assertTrue(up.contains("\"1\"]"), "the berth target is up: " + up);
        }
        assertFalse(Files.exists(dir.resolve("prometheus")), "prometheus stopped and its directory is removed");
    }

    @Test
    void aMetricsAddressInUseStopsTheDaemonWithOneLineAndRemovesTheSocket() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            Path cfg = config("[metrics]\naddress = \"127.0.0.1:" + taken.getLocalPort() + "\"\n");
            Path socket = dir.resolve("run/berth.sock");
            Process p = new ProcessBuilder(BerthProcess.launcher().toString(), "daemon", "--config", cfg.toString(),
                    "--root", dir.resolve("root").toString(), "--run-root", dir.resolve("run").toString(),
                    "--socket", socket.toString())
                    .redirectErrorStream(true).start();
            try {
                assertTrue(p.waitFor(60, TimeUnit.SECONDS), "berth did not exit");
                String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                assertEquals(1, p.exitValue(), out);
                List<String> errors = out.lines().filter(l -> l.startsWith("berth: ")).toList();
                assertEquals(1, errors.size(), out);
                assertTrue(errors.get(0).contains("cannot serve metrics on 127.0.0.1:" + taken.getLocalPort()), out);
                assertTrue(errors.get(0).contains("metrics.address"), out);
                assertTrue(out.lines().noneMatch(l -> l.startsWith("\tat ")), "no stack trace: " + out);
                assertFalse(Files.exists(socket), "the CRI socket is removed when start-up fails");
            } finally {
                p.destroyForcibly();
            }
        }
    }

    @Test
    void theMetricsAddressFlagChoosesWhereBerthServes() throws Exception {
        try (BerthProcess berth = BerthProcess.start(dir.resolve("berth"))) {
            assertTrue(berth.metricsPort() > 0, "the fixture chose a port");
            HttpResponse<String> health = awaitEndpoint("http://127.0.0.1:" + berth.metricsPort() + "/healthz", berth);
            assertEquals(200, health.statusCode(), health.body());
            assertEquals(Set.of(berth.metricsPort(), streamingPort(berth)), listeningTcpPorts(berth.pid()));
        }
    }

    @Test
    void anEmptyAddressServesNoMetricsAtAll() throws Exception {
        Path cfg = config("[metrics]\naddress = \"\"\n");
        try (BerthProcess berth = BerthProcess.start(dir.resolve("berth"), "--config", cfg.toString())) {
            berth.runtime().version(VersionRequest.getDefaultInstance());
            assertEquals(Set.of(streamingPort(berth)), listeningTcpPorts(berth.pid()),
                    "berth listens on no TCP port but the streaming server's");
            assertFalse(berth.logText().contains("serving metrics"), berth.logText());
        }
    }

    /** TCP ports on which the process holds a listening socket, read from /proc. */
    /** The port of the streaming server (Exec/PortForward URLs), from the daemon's start-up log. */
    private static int streamingPort(BerthProcess berth) {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("streaming server listening on \\S*:(\\d+)").matcher(berth.logText());
        assertTrue(m.find(), berth.logText());
        return Integer.parseInt(m.group(1));
    }

    private static Set<Integer> listeningTcpPorts(long pid) throws IOException {
        Set<String> inodes = new HashSet<>();
        try (Stream<Path> fds = Files.list(Path.of("/proc", Long.toString(pid), "fd"))) {
            for (Path fd : fds.toList()) {
                try {
                    String target = Files.readSymbolicLink(fd).toString();
                    if (target.startsWith("socket:[")) {
                        inodes.add(target.substring(8, target.length() - 1));
                    }
                } catch (IOException gone) {
                    // closed while listing
                }
            }
        }
        Set<Integer> ports = new HashSet<>();
        List<String> lines = new ArrayList<>();
        for (String table : new String[] {"tcp", "tcp6"}) {
            Path file = Path.of("/proc", Long.toString(pid), "net", table);
            if (Files.exists(file)) {
                lines.addAll(Files.readAllLines(file));
            }
        }
        for (String line : lines) {
            String[] f = line.trim().split("\\s+");
            // sl local_address rem_address st ... inode (field 9); st 0A is LISTEN
            if (f.length > 9 && f[3].equals("0A") && inodes.contains(f[9])) {
                ports.add(Integer.parseInt(f[1].substring(f[1].indexOf(':') + 1), 16));
            }
        }
        return ports;
    }
}
