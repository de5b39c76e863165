package dev.berth.agent.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.berth.agent.cri.CriClient;
import dev.berth.agent.pod.KubeletKeys;
import dev.berth.agent.testing.FakeCri;
import dev.berth.agent.testing.MutableClock;
import dev.berth.agent.testing.RecordingResponse;
import dev.berth.common.Json;
import dev.berth.cri.v1.ContainerConfig;
import dev.berth.cri.v1.ContainerMetadata;
import dev.berth.cri.v1.ImageSpec;
import dev.berth.cri.v1.PodSandboxConfig;
import dev.berth.cri.v1.PodSandboxMetadata;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class StatsSummaryBuilderTest {
    private static final long SECOND = 1_000_000_000L;
    private static final long T0 = Instant.parse("2026-01-02T03:04:00Z").getEpochSecond() * SECOND;

    @TempDir
    Path dir;

    private FakeCri fake;
    private CriClient cri;
    private Path proc;
    private Path logs;
    private Path podsDir;
    private final MutableClock clock = new MutableClock(Instant.parse("2026-01-02T03:04:00Z"));
    private StatsSummaryBuilder builder;
    private String sandbox;
    private String app;
    private String sidecar;
    private final Pod pod = new PodBuilder().withNewMetadata().withNamespace("ns").withName("web").withUid("uid-1").endMetadata()
            .withNewSpec().addNewVolume().withName("cache").withNewEmptyDir().endEmptyDir().endVolume()
            .addNewVolume().withName("shm").withNewEmptyDir().withMedium("Memory").endEmptyDir().endVolume().endSpec().build();

    @BeforeEach
    void setUp() throws Exception {
        fake = new FakeCri();
        cri = new CriClient(fake.channel(), Duration.ofSeconds(10), Duration.ofSeconds(10));
        proc = dir.resolve("root");
        logs = Files.createDirectories(dir.resolve("logs"));
        podsDir = Files.createDirectories(dir.resolve("state/pods"));
        Files.createDirectories(proc.resolve("sys/fs/cgroup/cpu,cpuacct"));
        Files.createDirectories(proc.resolve("sys/fs/cgroup/memory"));
        Files.createDirectories(proc.resolve("proc/net"));
        node(10 * SECOND, 3L << 30, 1L << 30);
        Files.writeString(proc.resolve("proc/stat"), "cpu  1 2 3 4 5 6 7 8\nbtime 1767000000\n");
        Files.writeString(proc.resolve("proc/net/dev"), """
                Inter-|   Receive                                                |  Transmit
                 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
                    lo:  500 5 0 0 0 0 0 0  500 5 0 0 0 0 0 0
                  eth0: 1000 10 1 0 0 0 0 0 2000 20 2 0 0 0 0 0
                vethabc: 7 1 0 0 0 0 0 0 7 1 0 0 0 0 0 0
                """);
        Files.writeString(proc.resolve("proc/net/route"), "Iface\tDestination\tGateway\neth0\t00000000\t0101A8C0\n");
        Files.createDirectories(proc.resolve("proc/sys/kernel"));
        Files.writeString(proc.resolve("proc/sys/kernel/pid_max"), "4194304\n");
        Files.writeString(proc.resolve("proc/loadavg"), "0.1 0.2 0.3 2/345 999\n");

        Path podLogs = Files.createDirectories(logs.resolve("ns_web_uid-1"));
        PodSandboxConfig config = PodSandboxConfig.newBuilder()
                .setMetadata(PodSandboxMetadata.newBuilder().setName("web").setNamespace("ns").setUid("uid-1"))
                .putLabels(KubeletKeys.POD_UID, "uid-1").putLabels(KubeletKeys.POD_NAME, "web").putLabels(KubeletKeys.POD_NAMESPACE, "ns")
                .setLogDirectory(podLogs.toString()).build();
        sandbox = cri.runPodSandbox(config, "");
        String gone = container(config, "app");
        fake.exit(gone, 1, null);
        app = container(config, "app");
        sidecar = container(config, "sidecar");
        Files.createDirectories(podLogs.resolve("app"));
        Files.write(podLogs.resolve("app/1.log"), new byte[300]);
        Path cache = Files.createDirectories(podsDir.resolve("uid-1/volumes/kubernetes.io~empty-dir/cache"));
        Files.write(cache.resolve("f"), new byte[5000]);
        Path shm = Files.createDirectories(podsDir.resolve("uid-1/volumes/kubernetes.io~empty-dir/shm"));
        Files.write(shm.resolve("f"), new byte[70]);

        builder = new StatsSummaryBuilder(cri, () -> List.of(pod), "node-1", dir, logs, podsDir, new NodeReadings(proc), 4L << 30, clock,
                new DirUsage(Duration.ofMinutes(1), clock));
    }

    private String container(PodSandboxConfig config, String name) {
        String id = cri.createContainer(sandbox, ContainerConfig.newBuilder().setMetadata(ContainerMetadata.newBuilder().setName(name))
                .setImage(ImageSpec.newBuilder().setImage("i")).putLabels(KubeletKeys.POD_UID, "uid-1")
                .putLabels(KubeletKeys.CONTAINER_NAME, name).setLogPath(name + "/0.log").build(), config);
        cri.startContainer(id);
        return id;
    }

    private void node(long cpuNanos, long usage, long inactiveFile) throws Exception {
        Files.writeString(proc.resolve("sys/fs/cgroup/cpu,cpuacct/cpuacct.usage"), cpuNanos + "\n");
        Files.writeString(proc.resolve("sys/fs/cgroup/memory/memory.usage_in_bytes"), usage + "\n");
        Files.writeString(proc.resolve("sys/fs/cgroup/memory/memory.stat"), "cache 1\nrss 2\ntotal_cache 5\ntotal_rss " + (usage / 4)
                + "\ntotal_inactive_file " + inactiveFile + "\ntotal_pgfault 77\ntotal_pgmajfault 7\n");
    }

    @AfterEach
    void tearDown() {
        fake.close();
    }

    @Test
    void cpuRatesComeFromTwoSamplesOfEachContainerPodAndTheNode() throws Exception {
        fake.containerUsage(app, T0, 5 * SECOND, 100 << 20);
        fake.containerUsage(sidecar, T0, SECOND, 10 << 20);
        fake.podUsage(sandbox, T0, 7 * SECOND, 120 << 20, 4242);
        StatsSummary first = builder.build(false);
        StatsSummary.PodStats p = first.pods().get(0);
        assertEquals(new StatsSummary.PodReference("web", "ns", "uid-1"), p.podRef());
        assertEquals(List.of("app", "sidecar"), p.containers().stream().map(StatsSummary.ContainerStats::name).toList(),
                "the running runs, the exited one left out");
        assertNull(p.containers().get(0).cpu().usageNanoCores(), "one sample: no rate yet");
        assertEquals(5 * SECOND, p.containers().get(0).cpu().usageCoreNanoSeconds());
        assertNull(first.node().cpu().usageNanoCores());

        // two seconds later: the app used 1.5 s of CPU (0.75 cores), the pod 2 s, the node 3 s
        clock.advance(Duration.ofSeconds(2));
        fake.containerUsage(app, T0 + 2 * SECOND, 6_500_000_000L, 100 << 20);
        fake.containerUsage(sidecar, T0 + 2 * SECOND, SECOND, 10 << 20);
        fake.podUsage(sandbox, T0 + 2 * SECOND, 9 * SECOND, 120 << 20, 4242);
        node(13 * SECOND, 3L << 30, 1L << 30);
        StatsSummary second = builder.build(false);
        p = second.pods().get(0);
        assertEquals(750_000_000L, p.containers().get(0).cpu().usageNanoCores());
        assertEquals(0L, p.containers().get(1).cpu().usageNanoCores());
        assertEquals(1_000_000_000L, p.cpu().usageNanoCores());
        assertEquals(1_500_000_000L, second.node().cpu().usageNanoCores());
        assertEquals("2026-01-02T03:04:02Z", p.containers().get(0).cpu().time());

        // a runtime that computes the rate itself is believed
        fake.containerStats.put(app, fake.containerStats.get(app).toBuilder().setCpu(fake.containerStats.get(app).getCpu().toBuilder()
                .setUsageNanoCores(dev.berth.cri.v1.UInt64Value.newBuilder().setValue(123))).build());
        assertEquals(123L, builder.build(true).pods().get(0).containers().get(0).cpu().usageNanoCores());
    }

    @Test
    void memoryNetworkFilesystemsAndVolumes() throws Exception {
        fake.containerUsage(app, T0, 5 * SECOND, 100 << 20);
        fake.containerUsage(sidecar, T0, SECOND, 10 << 20);
        fake.podUsage(sandbox, T0, 7 * SECOND, 120 << 20, 4242);
        fake.imageFsMountpoint = dir.toString();
        fake.imageFsUsed = 12345;
        StatsSummary s = builder.build(false);

        StatsSummary.Node n = s.node();
        assertEquals("node-1", n.nodeName());
        assertEquals(2L << 30, n.memory().workingSetBytes(), "usage less inactive file pages");
        assertEquals(2L << 30, n.memory().availableBytes(), "capacity less the working set");
        assertEquals(3L << 30, n.memory().usageBytes());
        assertEquals(77L, n.memory().pageFaults());
        assertEquals("eth0", n.network().name());
        assertEquals(1000L, n.network().rxBytes());
        assertEquals(List.of("eth0"), n.network().interfaces().stream().map(StatsSummary.Interface::name).toList(),
                "loopback and pods' veths are not the node's");
        assertEquals(4194304L, n.rlimit().maxpid());
        assertEquals(345L, n.rlimit().curproc());
        assertEquals("2025-12-29T09:20:00Z", n.startTime(), "boot time");
        assertEquals(12345L, n.runtime().imageFs().usedBytes());
        assertTrue(n.runtime().imageFs().capacityBytes() > 0);
        assertTrue(n.fs().capacityBytes() > 0 && n.fs().availableBytes() <= n.fs().capacityBytes());

        StatsSummary.PodStats p = s.pods().get(0);
        assertEquals(120L << 20, p.memory().workingSetBytes());
        assertEquals(100L << 20, p.containers().get(0).memory().workingSetBytes());
        assertEquals("eth0", p.network().name());
        assertEquals(4242L, p.network().rxBytes());
        assertEquals(3L, p.processStats().processCount());
        assertEquals(300L, p.containers().get(0).logs().usedBytes());
        assertEquals(List.of("cache", "shm"), p.volume().stream().map(StatsSummary.Volume::name).toList());
        assertEquals(5000L, p.volume().get(0).usedBytes());
        assertEquals(5300L, p.ephemeralStorage().usedBytes(), "logs and the disk emptyDir; not the memory one");

        JsonNode json = Json.mapper().readTree(Json.write(s));
        assertEquals("uid-1", json.at("/pods/0/podRef/uid").asText());
        assertEquals(5300, json.at("/pods/0/ephemeral-storage/usedBytes").asLong());
        assertEquals(3, json.at("/pods/0/process_stats/process_count").asLong());
        assertTrue(json.at("/pods/0/containers/0/cpu").has("usageCoreNanoSeconds"));
        assertFalse(json.at("/pods/0/containers/0/cpu").has("usageNanoCores"), "absent figures are left out");
    }

    @Test
    void onlyCpuAndMemoryAndPodsSummedWithoutSandboxStats() throws Exception {
        fake.containerUsage(app, T0, 5 * SECOND, 100 << 20);
        fake.containerUsage(sidecar, T0, SECOND, 10 << 20);
        fake.podStatsUnimplemented = true;
        RecordingResponse r = new RecordingResponse();
        new StatsSummaryEndpoint(builder).handle(new EndpointRequest("GET", "/stats/summary", List.of(),
                Map.of("only_cpu_and_memory", List.of("true")), Map.of()), r);
        assertEquals(200, r.status());
        JsonNode json = Json.mapper().readTree(r.text());
        assertEquals(6 * SECOND, json.at("/pods/0/cpu/usageCoreNanoSeconds").asLong(), "the containers' sum");
        assertEquals(110L << 20, json.at("/pods/0/memory/workingSetBytes").asLong());
        assertTrue(json.at("/pods/0/network").isMissingNode());
        assertTrue(json.at("/pods/0/volume").isMissingNode());
        assertTrue(json.at("/node/fs").isMissingNode());
        assertTrue(json.at("/node/memory/workingSetBytes").isNumber());

        RecordingResponse metrics = new RecordingResponse();
        new ResourceMetricsEndpoint(builder).handle(new EndpointRequest("GET", "/metrics/resource", List.of(), Map.of(), Map.of()), metrics);
        String text = metrics.text();
        long ms = T0 / 1_000_000;
        assertTrue(text.contains("\ncontainer_cpu_usage_seconds_total{container=\"app\",namespace=\"ns\",pod=\"web\"} 5 " + ms + "\n"), text);
        assertTrue(text.contains("\ncontainer_memory_working_set_bytes{container=\"sidecar\",namespace=\"ns\",pod=\"web\"} 10485760 " + ms + "\n"), text);
        assertTrue(text.contains("\npod_cpu_usage_seconds_total{namespace=\"ns\",pod=\"web\"} 6 " + ms + "\n"), text);
        assertTrue(text.contains("\npod_memory_working_set_bytes{namespace=\"ns\",pod=\"web\"} 115343360 "), text);
        assertTrue(text.contains("\nnode_cpu_usage_seconds_total 10 "), text);
        assertTrue(text.contains("\nnode_memory_working_set_bytes 2147483648 "), text);
        assertTrue(text.contains("\ncontainer_start_time_seconds{container=\"app\",namespace=\"ns\",pod=\"web\"} "), text);
        assertTrue(text.contains("# TYPE container_cpu_usage_seconds_total counter\n"), text);
        assertTrue(text.contains("\nresource_scrape_error 0\n") && text.contains("\nscrape_error 0\n"), text);

        fake.close();
        RecordingResponse failed = new RecordingResponse();
        new ResourceMetricsEndpoint(builder).handle(new EndpointRequest("GET", "/metrics/resource", List.of(), Map.of(), Map.of()), failed);
        assertTrue(failed.text().contains("\nresource_scrape_error 1\n"), failed.text());
        assertFalse(failed.text().contains("\nnode_cpu_usage_seconds_total "), failed.text());
        RecordingResponse summaryFailed = new RecordingResponse();
        new StatsSummaryEndpoint(builder).handle(new EndpointRequest("GET", "/stats/summary", List.of(), Map.of(), Map.of()), summaryFailed);
        assertEquals(500, summaryFailed.status());
    }
}
