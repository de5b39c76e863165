package dev.berth.cli.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.podsandbox.stats.Usage;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The container_* family on /metrics: values, labels, the measurement interval, removed containers. */
class ContainerMetricsCollectorTest {
    private static Usage.Cgroup cgroup(long cpuNanos, long workingSet) {
        return new Usage.Cgroup(100, new Usage.Cpu(100, cpuNanos, null),
                new Usage.Memory(100, workingSet, null, workingSet + 10, 33, 7, 2), 5, 4, 2, Map.of());
    }

    private static Usage.Pod pod(String id, long cpuNanos, String... containerIds) {
        List<Usage.Container> cs = java.util.Arrays.stream(containerIds).map(c -> new Usage.Container(c, id, "app-" + c, 0,
                "sha256:abc", Map.of(), Map.of(), 100, cgroup(cpuNanos, 4096),
                new Usage.Filesystem(90, Path.of("/layers"), 8192, 12))).toList();
        return new Usage.Pod(id, "web-" + id, "uid", "prod", 0, Map.of(), Map.of(), 100, null, 120,
                List.of(new Usage.Interface("lo", 1, 1, 0, 0, 1, 1, 0, 0), new Usage.Interface("eth0", 1000, 10, 1, 2, 2000, 20, 3, 4)),
                cs);
    }

    private static String render(BerthMetrics metrics) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Exposition.TEXT.write(out, metrics.snapshot());
        return out.toString(StandardCharsets.UTF_8);
    }

    private static double value(String text, String series) {
        Matcher m = Pattern.compile("(?m)^" + Pattern.quote(series) + " (\\S+)$").matcher(text);
        return m.find() ? Double.parseDouble(m.group(1)) : -1;
    }

    @Test
    void containerAndPodSeriesCarryTheirLabelsAndExactValues() throws Exception {
        try (BerthMetrics metrics = BerthMetrics.bare()) {
            metrics.prometheusRegistry().register(new ContainerMetricsCollector(() -> List.of(pod("p1", 7_250_000_000L, "c1")),
                    () -> Set.of("p1", "c1"), id -> id.equals("sha256:abc") ? "docker.io/library/busybox:1" : "?", Duration.ofSeconds(10)));
            String text = render(metrics);
            String c1 = "{container=\"app-c1\",id=\"c1\",image=\"docker.io/library/busybox:1\",namespace=\"prod\",pod=\"web-p1\"}";
            assertEquals(7.25, value(text, "container_cpu_usage_seconds_total" + c1), text);
            assertEquals(4096, value(text, "container_memory_working_set_bytes" + c1), text);
            assertEquals(33, value(text, "container_memory_rss" + c1), text);
            assertEquals(4106, value(text, "container_memory_usage_bytes" + c1), text);
            assertEquals(2, value(text, "container_oom_events_total" + c1), text);
            assertEquals(4, value(text, "container_processes" + c1), text);
            assertEquals(8192, value(text, "container_fs_usage_bytes" + c1), text);
            String eth0 = "{container=\"\",id=\"p1\",image=\"\",interface=\"eth0\",namespace=\"prod\",pod=\"web-p1\"}";
            assertEquals(1000, value(text, "container_network_receive_bytes_total" + eth0), text);
            assertEquals(2000, value(text, "container_network_transmit_bytes_total" + eth0), text);
            assertFalse(text.contains("interface=\"lo\""), "loopback is left out");
            assertTrue(text.contains("# TYPE container_cpu_usage_seconds_total counter"), text);
            assertTrue(text.contains("# TYPE container_memory_working_set_bytes gauge"), text);
        }
    }

    @Test
    void scrapesWithinTheIntervalReuseOneMeasurement() throws Exception {
        AtomicLong clock = new AtomicLong(0);
        AtomicInteger measured = new AtomicInteger();
        AtomicLong cpu = new AtomicLong(1_000_000_000L);
        try (BerthMetrics metrics = BerthMetrics.bare()) {
            ContainerMetricsCollector c = new ContainerMetricsCollector(() -> {
                measured.incrementAndGet();
                return List.of(pod("p1", cpu.get(), "c1"));
            }, () -> Set.of("p1", "c1"), java.util.function.UnaryOperator.identity(), Duration.ofSeconds(10), clock::get);
            metrics.prometheusRegistry().register(c);
            String series = "container_cpu_usage_seconds_total{container=\"app-c1\",id=\"c1\","
                    + "image=\"sha256:abc\",namespace=\"prod\",pod=\"web-p1\"}";
            assertEquals(1, value(render(metrics), series));
            cpu.set(3_000_000_000L);
            clock.set(Duration.ofSeconds(9).toNanos());
            assertEquals(1, value(render(metrics), series), "within the interval: the first measurement");
            assertEquals(1, measured.get());
            clock.set(Duration.ofSeconds(10).toNanos());
            assertEquals(3, value(render(metrics), series), "after the interval: measured again");
            assertEquals(2, measured.get());
            assertEquals(2, c.measurements());
        }
    }

    @Test
    void aRemovedContainerOrPodDisappearsAtTheNextScrapeEvenWithinTheInterval() throws Exception {
        AtomicReference<Set<String>> live = new AtomicReference<>(Set.of("p1", "c1", "c2", "p2", "c3"));
        try (BerthMetrics metrics = BerthMetrics.bare()) {
            metrics.prometheusRegistry().register(new ContainerMetricsCollector(
                    () -> List.of(pod("p1", 1, "c1", "c2"), pod("p2", 1, "c3")), live::get, java.util.function.UnaryOperator.identity(), Duration.ofMinutes(5)));
            String before = render(metrics);
            for (String id : List.of("c1", "c2", "c3", "p2")) {
                assertTrue(before.contains("id=\"" + id + "\""), id);
            }
            live.set(Set.of("p1", "c1"));
            String after = render(metrics);
            assertTrue(after.contains("id=\"c1\""), after);
            assertTrue(after.contains("id=\"p1\""), after);
            for (String id : List.of("c2", "c3", "p2")) {
                assertFalse(after.contains("id=\"" + id + "\""), id + " is gone: " + after);
            }
            live.set(Set.of());
            assertFalse(render(metrics).contains("container_"), "no pods, no series");
        }
    }

    @Test
    void aFailedMeasurementKeepsThePreviousOneAndTheScrapeSucceeds() throws Exception {
        AtomicInteger calls = new AtomicInteger();
        try (BerthMetrics metrics = BerthMetrics.bare()) {
            metrics.prometheusRegistry().register(new ContainerMetricsCollector(() -> {
                if (calls.incrementAndGet() > 1) {
                    throw new IllegalStateException("cgroup vanished");
                }
                return List.of(pod("p1", 2_000_000_000L, "c1"));
            }, () -> Set.of("p1", "c1"), java.util.function.UnaryOperator.identity(), Duration.ZERO));
            assertTrue(render(metrics).contains("id=\"c1\""));
            assertTrue(render(metrics).contains("id=\"c1\""), "answered from the earlier measurement");
            assertEquals(2, calls.get());
        }
    }
}
