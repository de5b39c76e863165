package dev.berth.cli.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.distribution.CountAtBucket;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The registry every part of berth records into. */
class BerthMetricsTest {
    private static String exposition(BerthMetrics metrics) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrometheusTextFormatWriter.create().write(out, metrics.snapshot());
        return out.toString(StandardCharsets.UTF_8);
    }

    @Test
    void berthTimersGetTheSharedLatencyBucketsAndOthersKeepTheirOwn() {
        try (BerthMetrics metrics = BerthMetrics.bare()) {
            Timer pull = Timer.builder("berth.image.pull.duration").register(metrics.registry());
            pull.record(Duration.ofSeconds(3));
            CountAtBucket[] buckets = pull.takeSnapshot().histogramCounts();
            assertEquals(BerthMetrics.LATENCY_BUCKETS.size(), buckets.length);
            assertEquals(0.0, Arrays.stream(buckets).filter(b -> b.bucket(java.util.concurrent.TimeUnit.SECONDS) == 2.5).findFirst().orElseThrow().count());
            assertEquals(1.0, Arrays.stream(buckets).filter(b -> b.bucket(java.util.concurrent.TimeUnit.SECONDS) == 5.0).findFirst().orElseThrow().count());

            Timer own = Timer.builder("berth.cni.add.duration").serviceLevelObjectives(Duration.ofSeconds(1)).register(metrics.registry());
            assertEquals(1, own.takeSnapshot().histogramCounts().length, "a timer with buckets of its own keeps them");
            Timer foreign = Timer.builder("other.thing").register(metrics.registry());
            assertEquals(0, foreign.takeSnapshot().histogramCounts().length, "only berth.* timers get berth's buckets");
        }
    }

    @Test
    void createBindsJvmAndProcessMetricsUnderConventionalNames() throws Exception {
        try (BerthMetrics metrics = BerthMetrics.create()) {
            String text = exposition(metrics);
            for (String family : new String[] {"jvm_memory_used_bytes", "jvm_gc_", "jvm_threads_live_threads",
                    "jvm_classes_loaded_classes", "process_cpu_usage", "process_cpu_seconds_total", "process_uptime_seconds",
                    "process_start_time_seconds", "process_files_open_files", "process_resident_memory_bytes", "system_cpus ",
                    "berth_build_info{version="}) {
                assertTrue(text.contains(family), family + " in:\n" + text);
            }
            assertFalse(text.contains("process_cpu_time_ns"), "no nanosecond counter");
            assertFalse(text.contains("system_cpu_count"), "no gauge ending in _count");
        }
    }

    @Test
    void residentMemoryIsReadFromProcStatus(@TempDir Path dir) throws Exception {
        Path status = dir.resolve("status");
        Files.writeString(status, "Name:\tjava\nVmPeak:\t  999 kB\nVmRSS:\t   12345 kB\nThreads:\t9\n");
        assertEquals(12345 * 1024.0, BerthMetrics.residentBytes(status));
        Files.writeString(status, "Name:\tjava\n");
        assertTrue(Double.isNaN(BerthMetrics.residentBytes(status)));
        assertTrue(BerthMetrics.residentBytes(Path.of("/proc/self/status")) > 1024 * 1024, "this JVM uses more than 1 MiB");
    }
}
