package dev.berth.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.cri.v1.CreateContainerRequest;
import dev.berth.cri.v1.RemoveContainerRequest;
import dev.berth.cri.v1.RemovePodSandboxRequest;
import dev.berth.cri.v1.StartContainerRequest;
import dev.berth.cri.v1.StopContainerRequest;
import dev.berth.cri.v1.StopPodSandboxRequest;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.OptionalDouble;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The runtime's own series on {@code /metrics} through the real daemon: the per-container
 * {@code container_*} family of a busybox container that burns CPU (checked by promtool and
 * queried through a real Prometheus server), the counts of pod sandboxes and containers by state
 * as they are created, started, stopped and removed, and the CNI operation histogram.
 */
@Tag("root")
class ContainerMetricsE2eTest {
    private static final Path PROMTOOL = Path.of("/usr/bin/promtool");

    @TempDir
    Path dir;

    final ContainerE2eTest containers = new ContainerE2eTest();
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private String base;

    @AfterEach
    void cleanUp() throws Exception {
        containers.cleanUp();
    }

    @Test
    void aBurningContainerIsScrapedByPrometheusAndCountsFollowTheLifecycle() throws Exception {
        int port = freeLoopbackPort();
        base = "http://127.0.0.1:" + port;
        Path cfg = dir.resolve("config.toml");
        Files.writeString(cfg, "[metrics]\naddress = \"127.0.0.1:" + port + "\"\ncontainer_interval = \"1s\"\n"
                + BerthProcess.isolatedNetworkToml(dir));
        containers.dir = dir;
        containers.berth = BerthProcess.start(dir.resolve("berth"), "--config", cfg.toString());
        BerthProcess berth = containers.berth;
        containers.importBusybox();

        String idle = scrape();
        assertEquals(0, value(idle, "berth_pod_sandboxes{state=\"ready\"}"), idle);
        assertEquals(0, value(idle, "berth_containers{state=\"running\"}"), idle);
        assertFalse(idle.contains("container_cpu_usage_seconds_total{"), "no containers, no container series");

        String pod = berth.runtime().runPodSandbox(ContainerE2eTest.pod("metrics", dir.resolve("logs"))).getPodSandboxId();
        String withPod = scrape();
        assertEquals(1, value(withPod, "berth_pod_sandboxes{state=\"ready\"}"), withPod);
        assertEquals(0, value(withPod, "berth_pod_sandboxes{state=\"notready\"}"), withPod);
        String addOk = "{network=\"berth\",operation=\"ADD\",outcome=\"success\"}";
        assertTrue(value(withPod, "berth_cni_operation_duration_seconds_count" + addOk) >= 1, withPod);
        assertTrue(value(withPod, "berth_cni_operation_duration_seconds_sum" + addOk) > 0, withPod);

        CreateContainerRequest burnRequest = ContainerE2eTest.request(pod, "burn", "burn/0.log");
        burnRequest = burnRequest.toBuilder().setConfig(burnRequest.getConfig().toBuilder().clearArgs().addArgs("-c")
                .addArgs("while :; do :; done")).build();
        String burn = berth.runtime().createContainer(burnRequest).getContainerId();
        berth.runtime().startContainer(StartContainerRequest.newBuilder().setContainerId(burn).build());
        String sleeper = containers.create(pod, "sleeper", "sleeper/0.log");
        String counts = scrape();
        assertEquals(1, value(counts, "berth_containers{state=\"running\"}"), counts);
        assertEquals(1, value(counts, "berth_containers{state=\"created\"}"), counts);

        String burning = awaitScrape(t -> series(t, "container_cpu_usage_seconds_total", "container=\"burn\"") > 0,
                "the burning container's CPU time on /metrics");
        String burnLine = line(burning, "container_cpu_usage_seconds_total", "container=\"burn\"");
        for (String label : List.of("id=\"" + burn + "\"", "pod=\"metrics\"", "namespace=\"e2e\"",
                "image=\"" + ContainerE2eTest.IMAGE + "\"")) {
            assertTrue(burnLine.contains(label), label + " in " + burnLine);
        }
        assertTrue(series(burning, "container_memory_working_set_bytes", "container=\"burn\"") > 0, burning);
        assertTrue(series(burning, "container_processes", "container=\"burn\"") >= 1, burning);
        assertTrue(series(burning, "container_fs_usage_bytes", "container=\"burn\"") >= 0, burning);
        assertTrue(series(burning, "container_network_receive_bytes_total", "interface=\"eth0\"") >= 0,
                "the pod's eth0 is reported: " + burning);
        assertEquals(-1, series(burning, "container_cpu_usage_seconds_total", "container=\"sleeper\""),
                "a container that has not started has no cgroup series");
        promtoolAccepts(burning);

        try (PrometheusServer prometheus = PrometheusServer.start(dir.resolve("prometheus"), port)) {
            String promql = "rate(container_cpu_usage_seconds_total{job=\"berth\",container=\"burn\",pod=\"metrics\"}[10s])";
            long deadline = System.nanoTime() + Duration.ofSeconds(90).toNanos();
            OptionalDouble rate = OptionalDouble.empty();
            while (System.nanoTime() < deadline && (rate.isEmpty() || rate.getAsDouble() <= 0)) {
                assertTrue(prometheus.alive(), "prometheus exited:\n" + prometheus.log());
                Thread.sleep(500);
                rate = prometheus.query(promql);
            }
            assertTrue(rate.isPresent() && rate.getAsDouble() > 0, "PromQL " + promql + " gave " + rate + "; last answer: "
                    + prometheus.queryRaw(promql) + "\nprometheus log:\n" + prometheus.log());
            OptionalDouble running = prometheus.query("berth_containers{job=\"berth\",state=\"running\"}");
            assertEquals(1.0, running.orElse(-1), prometheus.queryRaw("berth_containers{job=\"berth\",state=\"running\"}"));
        }
        assertTrue(Files.notExists(dir.resolve("prometheus")), "the Prometheus directory is removed");

        berth.runtime().startContainer(StartContainerRequest.newBuilder().setContainerId(sleeper).build());
        String two = scrape();
        assertEquals(2, value(two, "berth_containers{state=\"running\"}"), two);
        assertEquals(0, value(two, "berth_containers{state=\"created\"}"), two);

        berth.runtime().stopContainer(StopContainerRequest.newBuilder().setContainerId(burn).setTimeout(0).build());
        String stopped = scrape();
        assertEquals(1, value(stopped, "berth_containers{state=\"running\"}"), stopped);
        assertEquals(1, value(stopped, "berth_containers{state=\"exited\"}"), stopped);

        berth.runtime().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(burn).build());
        String removed = scrape();
        assertFalse(removed.contains(burn), "no series names the removed container: " + removed);
        assertEquals(0, value(removed, "berth_containers{state=\"exited\"}"), removed);
        assertEquals(1, value(removed, "berth_containers{state=\"running\"}"), removed);

        berth.runtime().stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(pod).build());
        String notReady = scrape();
        assertEquals(0, value(notReady, "berth_pod_sandboxes{state=\"ready\"}"), notReady);
        assertEquals(1, value(notReady, "berth_pod_sandboxes{state=\"notready\"}"), notReady);
        assertTrue(value(notReady, "berth_cni_operation_duration_seconds_count{network=\"berth\",operation=\"DEL\",outcome=\"success\"}") >= 1,
                notReady);
        berth.runtime().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(pod).build());
        String empty = scrape();
        assertEquals(0, value(empty, "berth_pod_sandboxes{state=\"notready\"}"), empty);
        assertEquals(0, value(empty, "berth_containers{state=\"running\"}"), empty);
        assertFalse(empty.contains("pod=\"metrics\""), "no series of the removed pod: " + empty);
        promtoolAccepts(empty);
    }

    // ---------------------------------------------------------------- helpers

    private static int freeLoopbackPort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    private String scrape() throws IOException, InterruptedException {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(base + "/metrics")).timeout(Duration.ofSeconds(30)).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), r.body());
        return r.body();
    }

    /** Scrapes until {@code done} holds (bounded: the container series are measured once a second here). */
    private String awaitScrape(Predicate<String> done, String what) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        String last = "";
        while (System.nanoTime() < deadline) {
            last = scrape();
            if (done.test(last)) {
                return last;
            }
            Thread.sleep(250);
        }
        throw new AssertionError(what + " did not appear within 60 s; last scrape:\n" + last
                + "\nberth log:\n" + containers.berth.logText());
    }

    /** The value of an exactly named series, or -1 when it is absent. */
    private static double value(String exposition, String series) {
        Matcher m = Pattern.compile("(?m)^" + Pattern.quote(series) + " (\\S+)$").matcher(exposition);
        return m.find() ? Double.parseDouble(m.group(1)) : -1;
    }

    /** The sample line of metric {@code name} whose labels contain {@code label}, or "" when there is none. */
    private static String line(String exposition, String name, String label) {
        for (String l : exposition.split("\n")) {
            if (l.startsWith(name + "{") && l.contains(label)) {
                return l;
            }
        }
        return "";
    }

    /** The value of the series of {@code name} whose labels contain {@code label}, or -1. */
    private static double series(String exposition, String name, String label) {
        String l = line(exposition, name, label);
        return l.isEmpty() ? -1 : Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1));
    }

    private static void promtoolAccepts(String exposition) throws Exception {
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
}
