package dev.berth.images;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.berth.images.registry.Credentials;
import dev.berth.images.store.ImageRecord;
import dev.berth.images.testing.RegistryFixture;
import dev.berth.images.testing.TestImage;
import dev.berth.images.testing.TestLayer;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Not a test of correctness: where the time of a small pull goes, phase by phase, in process
 * (no gRPC). Pulls a fresh busybox image from a loopback registry (removing it after each
 * pull) and prints the wall time (min, p10, median), the process CPU, the median of each phase
 * (wall and CPU), and the HTTP requests and threads started per pull. Run with -Dberth.benchmark=true.
 */
@Tag("root")
class ImagePullBenchmarkTest {
    @TempDir
    Path dir;

    @Test
    void benchmarkBusyboxPullPhases() throws Exception {
        assumeTrue(Boolean.getBoolean("berth.benchmark"), "benchmark: run with -Dberth.benchmark=true");
        ThreadMXBean threads = ManagementFactory.getThreadMXBean();
        com.sun.management.OperatingSystemMXBean os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        try (RegistryFixture registry = RegistryFixture.start(dir.resolve("registry"));
             ImageService images = ImagePullTest.service(dir.resolve("store"), Duration.ofMinutes(5))) {
            TestImage.of(TestLayer.busybox().build(TestLayer.Compression.GZIP)).push(registry.pusher(), "bench/busybox", "1");
            String ref = registry.host() + "/bench/busybox:1";
            for (int i = 0; i < 30; i++) { // warm-up
                images.remove(images.pull(ref, Credentials.NONE, Map.of()).id().toString());
            }
            int runs = 101;
            long cpu0 = os.getProcessCpuTime();
            List<Double> wall = new ArrayList<>();
            Map<PullMetrics.Phase, List<Double>> phases = new EnumMap<>(PullMetrics.Phase.class);
            Map<PullMetrics.Phase, List<Double>> phaseCpu = new EnumMap<>(PullMetrics.Phase.class);
            List<Double> removal = new ArrayList<>();
            long requests0 = images.registryRequests();
            long threads0 = threads.getTotalStartedThreadCount();
            for (int i = 0; i < runs; i++) {
                Map<PullMetrics.Phase, Long> before = new EnumMap<>(PullMetrics.Phase.class);
                Map<PullMetrics.Phase, Long> beforeCpu = new EnumMap<>(PullMetrics.Phase.class);
                for (PullMetrics.Phase p : PullMetrics.Phase.values()) {
                    before.put(p, images.metrics().phaseNanos(p));
                    beforeCpu.put(p, images.metrics().phaseCpuNanos(p));
                }
                long t = System.nanoTime();
                ImageRecord r = images.pull(ref, Credentials.NONE, Map.of());
                wall.add((System.nanoTime() - t) / 1e6);
                for (PullMetrics.Phase p : PullMetrics.Phase.values()) {
                    phases.computeIfAbsent(p, k -> new ArrayList<>()).add((images.metrics().phaseNanos(p) - before.get(p)) / 1e6);
                    phaseCpu.computeIfAbsent(p, k -> new ArrayList<>()).add((images.metrics().phaseCpuNanos(p) - beforeCpu.get(p)) / 1e6);
                }
                t = System.nanoTime();
                images.remove(r.id().toString());
                removal.add((System.nanoTime() - t) / 1e6);
            }
            double cpuPerPull = (os.getProcessCpuTime() - cpu0) / 1e6 / runs;
            long requests = images.registryRequests() - requests0;
            long started = threads.getTotalStartedThreadCount() - threads0;
            List<Double> sorted = new ArrayList<>(wall);
            Collections.sort(sorted);
            StringBuilder out = new StringBuilder(String.format(
                    "busybox pull in process: wall min %.1f ms, p10 %.1f ms, median %.1f ms; process CPU %.1f ms per pull and removal (mean);"
                    + " per phase, median ms (CPU of its threads):", sorted.get(0), sorted.get(runs / 10), median(wall), cpuPerPull));
            for (PullMetrics.Phase p : PullMetrics.Phase.values()) {
                out.append(String.format(" %s %.2f (CPU %.2f)", p.name().toLowerCase(), median(phases.get(p)), median(phaseCpu.get(p))));
            }
            out.append(String.format("; remove %.1f ms; %.1f HTTP requests and %.1f threads started per pull (%d pulls); load %s",
                    median(removal), requests / (double) runs, started / (double) runs, runs,
                    java.nio.file.Files.readString(Path.of("/proc/loadavg")).strip()));
            System.out.println(out);
        }
    }

    static double median(List<Double> xs) {
        List<Double> s = new ArrayList<>(xs);
        Collections.sort(s);
        return s.get(s.size() / 2);
    }
}
