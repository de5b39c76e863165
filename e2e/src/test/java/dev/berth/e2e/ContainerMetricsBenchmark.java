package dev.berth.e2e;

import dev.berth.cri.v1.Container;
import dev.berth.cri.v1.ListContainerStatsRequest;
import dev.berth.cri.v1.ListContainersRequest;
import dev.berth.cri.v1.ListPodSandboxRequest;
import dev.berth.cri.v1.PodSandbox;
import dev.berth.cri.v1.RemoveContainerRequest;
import dev.berth.cri.v1.RemovePodSandboxRequest;
import dev.berth.cri.v1.StartContainerRequest;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code /metrics} and ListContainerStats with 100 running busybox containers (10 pods of 10),
 * through the real daemon, measured (never asserted): scrape time and size when the scrape
 * measures the pods and when it is answered from the last measurement, the daemon's CPU time
 * per measuring scrape, ListContainerStats p50/p95, and ListContainers p50/p95 with and without
 * a scraper hammering {@code /metrics}. Run with {@code -Dberth.benchmark=true}; the figures go
 * to stdout and {@code target/container-metrics-benchmark.txt}.
 */
@EnabledIfSystemProperty(named = "berth.benchmark", matches = "true")
@Tag("root")
class ContainerMetricsBenchmark {
    private static final int PODS = Integer.getInteger("berth.benchmark.pods", 10);
    private static final int PER_POD = Integer.getInteger("berth.benchmark.containersPerPod", 10);
    private static final Duration INTERVAL = Duration.ofSeconds(2);
    /** A bridge and subnet of its own: other e2e runs on this machine use the fixture's. */
    private static final String BRIDGE = "berthmb0";

    @TempDir
    Path dir;

    final ContainerE2eTest containers = new ContainerE2eTest();
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    @AfterEach
    void cleanUp() throws Exception {
        BerthProcess berth = containers.berth;
        if (berth == null) {
            return;
        }
        try {
            if (berth.process().isAlive()) {
                for (Container c : berth.runtime().listContainers(ListContainersRequest.getDefaultInstance()).getContainersList()) {
                    berth.runtime().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(c.getId()).build());
                }
                for (PodSandbox p : berth.runtime().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsList()) {
                    berth.runtime().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(p.getId()).build());
                }
            }
        } finally {
            berth.close();
            // a safety net for a failed run: no container process, bridge or mount may stay
            for (long pid : ContainerE2eTest.processesMentioning(dir.toString())) {
                new ProcessBuilder("kill", "-KILL", Long.toString(pid)).start().waitFor();
            }
            if (Files.exists(Path.of("/sys/class/net/" + BRIDGE))) {
                new ProcessBuilder("ip", "link", "delete", BRIDGE).start().waitFor();
            }
            List<String> left = PodSandboxE2eTest.mountsUnder(dir);
            for (int i = left.size() - 1; i >= 0; i--) {
                new ProcessBuilder("umount", "--lazy", left.get(i)).start().waitFor();
            }
        }
    }

    @Test
    void scrapeAndListContainerStatsWithOneHundredContainers() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        String url = "http://127.0.0.1:" + port + "/metrics";
        Path cfg = dir.resolve("config.toml");
        Files.writeString(cfg, "[metrics]\naddress = \"127.0.0.1:" + port + "\"\ncontainer_interval = \"" + INTERVAL.toSeconds()
                + "s\"\n[network]\ncni_config_dir = \"" + dir.resolve("net.d") + "\"\ndefault_bridge = \"" + BRIDGE
                + "\"\ndefault_subnet = \"10.199.160.0/20\"\n");
        containers.dir = dir;
        containers.berth = BerthProcess.start(dir.resolve("berth"), "--config", cfg.toString());
        BerthProcess berth = containers.berth;
        containers.importBusybox();
        StringBuilder report = new StringBuilder();

        long t0 = System.nanoTime();
        for (int p = 0; p < PODS; p++) {
            String pod = berth.runtime().runPodSandbox(ContainerE2eTest.pod("bench" + p, dir.resolve("logs"))).getPodSandboxId();
            for (int c = 0; c < PER_POD; c++) {
                String id = containers.create(pod, "sleep" + c, "sleep" + c + "/0.log");
                berth.runtime().startContainer(StartContainerRequest.newBuilder().setContainerId(id).build());
            }
        }
        int running = berth.runtime().listContainers(ListContainersRequest.getDefaultInstance()).getContainersCount();
        report.append(String.format("%d pods x %d containers (%d running) started in %.1f s%n", PODS, PER_POD, running,
                (System.nanoTime() - t0) / 1e9));

        for (int i = 0; i < 5; i++) { // warm-up: JIT, first layer walks
            scrape(url, false);
            berth.runtime().listContainerStats(ListContainerStatsRequest.getDefaultInstance());
        }

        List<Long> fresh = new ArrayList<>();
        List<Long> cached = new ArrayList<>();
        long size = 0;
        long freshTicks = 0;
        long cachedTicks = 0;
        int rounds = 20;
        for (int i = 0; i < rounds; i++) {
            Thread.sleep(INTERVAL.toMillis() + 100);
            long c0 = cpuTicks(berth.pid());
            long s0 = System.nanoTime();
            size = scrape(url, false).length;
            fresh.add(System.nanoTime() - s0);
            long c1 = cpuTicks(berth.pid());
            long s1 = System.nanoTime();
            scrape(url, false);
            cached.add(System.nanoTime() - s1);
            long c2 = cpuTicks(berth.pid());
            freshTicks += c1 - c0;
            cachedTicks += c2 - c1;
        }
        long gzip = scrape(url, true).length;
        report.append(String.format("/metrics, scrape that measures: p50 %.1f ms, p95 %.1f ms; answered from the last measurement: "
                + "p50 %.1f ms, p95 %.1f ms (%d each)%n", pct(fresh, 50), pct(fresh, 95), pct(cached, 50), pct(cached, 95), rounds));
        report.append(String.format("/metrics size: %d bytes (%d gzipped)%n", size, gzip));
        report.append(String.format("daemon CPU per scrape (utime+stime, 10 ms ticks summed over %d): %.0f ms measuring, %.0f ms cached%n",
                rounds, freshTicks * 10.0 / rounds, cachedTicks * 10.0 / rounds));

        List<Long> stats = new ArrayList<>();
        for (int i = 0; i < 30; i++) {
            long s0 = System.nanoTime();
            int n = berth.runtime().listContainerStats(ListContainerStatsRequest.getDefaultInstance()).getStatsCount();
            stats.add(System.nanoTime() - s0);
            if (n != running) {
                report.append("ListContainerStats answered " + n + " containers\n");
            }
        }
        report.append(String.format("ListContainerStats, %d containers: p50 %.1f ms, p95 %.1f ms (30 calls)%n", running,
                pct(stats, 50), pct(stats, 95)));

        List<Long> quiet = listContainers(berth, 50);
        AtomicBoolean stop = new AtomicBoolean();
        AtomicInteger scrapes = new AtomicInteger();
        Thread scraper = new Thread(() -> {
            while (!stop.get()) {
                try {
                    scrape(url, false);
                    scrapes.incrementAndGet();
                } catch (Exception e) {
                    return;
                }
            }
        }, "scraper");
        scraper.start();
        long w0 = System.nanoTime();
        List<Long> busy;
        try {
            busy = listContainers(berth, 50);
        } finally {
            stop.set(true);
            scraper.join(30_000);
        }
        double seconds = (System.nanoTime() - w0) / 1e9;
        report.append(String.format("ListContainers: p50 %.2f ms, p95 %.2f ms without scrapes; p50 %.2f ms, p95 %.2f ms while "
                + "a scraper ran back to back (%d scrapes in %.1f s)%n", pct(quiet, 50), pct(quiet, 95), pct(busy, 50), pct(busy, 95),
                scrapes.get(), seconds));
        report.append("load average: ").append(Files.readString(Path.of("/proc/loadavg")).trim()).append('\n');

        System.out.print(report);
        Path out = Path.of("target/container-metrics-benchmark.txt");
        Files.createDirectories(out.getParent());
        Files.writeString(out, report.toString());
    }

    private static List<Long> listContainers(BerthProcess berth, int n) {
        List<Long> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            long s0 = System.nanoTime();
            berth.runtime().listContainers(ListContainersRequest.getDefaultInstance());
            out.add(System.nanoTime() - s0);
        }
        return out;
    }

    private byte[] scrape(String url, boolean gzip) throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(60));
        if (gzip) {
            b.header("Accept-Encoding", "gzip");
        }
        HttpResponse<byte[]> r = http.send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
        if (r.statusCode() != 200) {
            throw new IOException("/metrics answered " + r.statusCode());
        }
        return r.body();
    }

    /** utime + stime of a process, in clock ticks (1/100 s). */
    private static long cpuTicks(long pid) throws IOException {
        String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return Long.parseLong(f[11]) + Long.parseLong(f[12]);
    }

    private static double pct(List<Long> nanos, int p) {
        List<Long> sorted = new ArrayList<>(nanos);
        Collections.sort(sorted);
        int i = (int) Math.ceil(p / 100.0 * sorted.size()) - 1;
        return sorted.get(Math.max(0, i)) / 1e6;
    }
}
