package dev.berth.criserver.cri;

import dev.berth.podsandbox.oci.RuntimeHandlers;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.criserver.grpc.CriRegistry;
import dev.berth.cgroups.Cgroups;
import dev.berth.common.BerthException;
import dev.berth.cri.v1.ContainerStats;
import dev.berth.cri.v1.ContainerStatsRequest;
import dev.berth.cri.v1.ListContainerStatsRequest;
import dev.berth.cri.v1.ListPodSandboxStatsRequest;
import dev.berth.cri.v1.PodSandboxStats;
import dev.berth.cri.v1.PodSandboxStatsFilter;
import dev.berth.cri.v1.PodSandboxStatsRequest;
import dev.berth.cri.v1.RuntimeServiceGrpc;
import dev.berth.cri.v1.StreamPodSandboxStatsRequest;
import dev.berth.podsandbox.container.ContainerManager;
import dev.berth.podsandbox.oci.ConmonRuntime;
import dev.berth.podsandbox.container.spec.HostFacts;
import dev.berth.podsandbox.sandbox.SandboxConfig;
import dev.berth.podsandbox.stats.NetDev;
import dev.berth.podsandbox.stats.PodDirectory;
import dev.berth.podsandbox.stats.StatsCollector;
import dev.berth.podsandbox.stats.Usage;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The translation of berth's usage figures into CRI stats, and the stats RPCs over an in-process server. */
class StatsRpcsTest {
    private static final Usage.Pressure PSI = new Usage.Pressure(new Usage.Pressure.Line(1, 2, 3, 400),
            new Usage.Pressure.Line(0.5, 0.25, 0.125, 60));

    private Server server;
    private ManagedChannel channel;
    private ContainerManager manager;
    private Path dir;

    @AfterEach
    void stop() throws Exception {
        if (channel != null) {
            channel.shutdownNow();
            server.shutdownNow();
        }
        if (manager != null) {
            manager.close();
        }
        if (dir != null) {
            try (Stream<Path> walk = Files.walk(dir)) {
                walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    private static Usage.Cgroup cgroup(Long nanoCores, Long available) {
        return new Usage.Cgroup(100, new Usage.Cpu(100, 5_000, nanoCores),
                new Usage.Memory(100, 60, available, 90, 40, 7, 2), 11, 3, 0, Map.of("cpu", PSI, "io", PSI));
    }

    private static Usage.Container running(String id) {
        return new Usage.Container(id, "pod1", "app", 1, "busybox:test", Map.of("l", "v"), Map.of("a", "b"), 100,
                cgroup(250L, 40L), new Usage.Filesystem(90, Path.of("/var/lib/berth/containers"), 4096, 3));
    }

    @Test
    void aRunningContainerCarriesEverySection() {
        ContainerStats s = StatsRpcs.container(running("c1"));
        assertEquals("c1", s.getAttributes().getId());
        assertEquals("app", s.getAttributes().getMetadata().getName());
        assertEquals(1, s.getAttributes().getMetadata().getAttempt());
        assertEquals(Map.of("l", "v"), s.getAttributes().getLabelsMap());
        assertEquals(Map.of("a", "b"), s.getAttributes().getAnnotationsMap());
        assertEquals(100, s.getCpu().getTimestamp());
        assertEquals(5_000, s.getCpu().getUsageCoreNanoSeconds().getValue());
        assertEquals(250, s.getCpu().getUsageNanoCores().getValue());
        assertEquals(400, s.getCpu().getPsi().getSome().getTotal());
        assertEquals(0.5, s.getCpu().getPsi().getFull().getAvg10());
        assertEquals(60, s.getMemory().getWorkingSetBytes().getValue());
        assertEquals(40, s.getMemory().getAvailableBytes().getValue());
        assertEquals(90, s.getMemory().getUsageBytes().getValue());
        assertEquals(40, s.getMemory().getRssBytes().getValue());
        assertEquals(7, s.getMemory().getPageFaults().getValue());
        assertEquals(2, s.getMemory().getMajorPageFaults().getValue());
        assertFalse(s.getMemory().hasPsi(), "no memory PSI was measured");
        assertEquals(11, s.getSwap().getSwapUsageBytes().getValue());
        assertTrue(s.getIo().hasPsi());
        assertEquals("/var/lib/berth/containers", s.getWritableLayer().getFsId().getMountpoint());
        assertEquals(4096, s.getWritableLayer().getUsedBytes().getValue());
        assertEquals(3, s.getWritableLayer().getInodesUsed().getValue());
        assertEquals(90, s.getWritableLayer().getTimestamp());
    }

    @Test
    void unknownRatesAndLimitsAreLeftOutNotZero() {
        Usage.Container c = new Usage.Container("c1", "pod1", "app", 0, "", Map.of(), Map.of(), 100,
                cgroup(null, null), null);
        ContainerStats s = StatsRpcs.container(c);
        assertFalse(s.getCpu().hasUsageNanoCores());
        assertTrue(s.getCpu().hasUsageCoreNanoSeconds());
        assertFalse(s.getMemory().hasAvailableBytes());
        assertFalse(s.hasWritableLayer());
    }

    @Test
    void aStoppedContainerHasTimestampedEmptyCpuAndMemory() {
        ContainerStats s = StatsRpcs.container(new Usage.Container("c1", "pod1", "app", 0, "", Map.of(), Map.of(), 77,
                null, null));
        assertEquals(77, s.getCpu().getTimestamp());
        assertFalse(s.getCpu().hasUsageCoreNanoSeconds());
        assertEquals(77, s.getMemory().getTimestamp());
        assertFalse(s.getMemory().hasWorkingSetBytes());
        assertFalse(s.hasSwap());
    }

    @Test
    void aPodCarriesItsCgroupNetworkAndContainers() {
        List<Usage.Interface> ifs = List.of(new Usage.Interface("lo", 1, 1, 0, 0, 1, 1, 0, 0),
                new Usage.Interface("eth0", 1000, 10, 1, 0, 2000, 20, 2, 0),
                new Usage.Interface("net1", 5, 1, 0, 0, 6, 1, 0, 0));
        Usage.Pod p = new Usage.Pod("pod1", "web", "uid1", "prod", 2, Map.of("app", "web"), Map.of("x", "y"), 100,
                cgroup(250L, null), 120, ifs, List.of(running("c1"), running("c2")));
        PodSandboxStats s = StatsRpcs.pod(p);
        assertEquals("pod1", s.getAttributes().getId());
        assertEquals("web", s.getAttributes().getMetadata().getName());
        assertEquals("uid1", s.getAttributes().getMetadata().getUid());
        assertEquals("prod", s.getAttributes().getMetadata().getNamespace());
        assertEquals(2, s.getAttributes().getMetadata().getAttempt());
        assertEquals(Map.of("app", "web"), s.getAttributes().getLabelsMap());
        assertEquals(5_000, s.getLinux().getCpu().getUsageCoreNanoSeconds().getValue());
        assertEquals(60, s.getLinux().getMemory().getWorkingSetBytes().getValue());
        assertEquals(3, s.getLinux().getProcess().getProcessCount().getValue());
        assertEquals(120, s.getLinux().getNetwork().getTimestamp());
        assertEquals("eth0", s.getLinux().getNetwork().getDefaultInterface().getName());
        assertEquals(1000, s.getLinux().getNetwork().getDefaultInterface().getRxBytes().getValue());
        assertEquals(2, s.getLinux().getNetwork().getDefaultInterface().getTxErrors().getValue());
        assertEquals(List.of("eth0", "net1"), s.getLinux().getNetwork().getInterfacesList().stream()
                .map(i -> i.getName()).toList(), "loopback is not the pod's traffic");
        assertEquals(List.of("c1", "c2"), s.getLinux().getContainersList().stream().map(c -> c.getAttributes().getId()).toList());
    }

    @Test
    void theRpcsAnswerWithFiltersAndNotFound() throws Exception {
        dir = Files.createTempDirectory("berth-stats-rpcs");
        manager = new ContainerManager(dir.resolve("state"), dir.resolve("run"),
                new RuntimeHandlers(Map.of("runc", "/usr/sbin/runc"), "runc", ConmonRuntime.factory(Path.of("/usr/bin/conmon"),
                        dir.resolve("run"), Duration.ofSeconds(10), Path::of)), HostFacts.current(), rec -> false, ContainerManager.Options.defaults());
        List<PodDirectory.Pod> pods = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            pods.add(new PodDirectory.Pod("pod" + i, new SandboxConfig.Metadata("web" + i, "u" + i, "prod", 0),
                    Map.of("app", i == 1 ? "db" : "web"), Map.of(), "", null));
        }
        PodDirectory directory = new PodDirectory() {
            @Override
            public PodDirectory.Pod find(String id) {
                return pods.stream().filter(p -> p.id().startsWith(id)).findFirst()
                        .orElseThrow(() -> BerthException.notFound("sandbox %s not found", id));
            }

            @Override
            public List<PodDirectory.Pod> list(String idPrefix, Map<String, String> labels) {
                return pods.stream().filter(p -> p.id().startsWith(idPrefix))
                        .filter(p -> labels.entrySet().stream().allMatch(e -> e.getValue().equals(p.labels().get(e.getKey()))))
                        .toList();
            }
        };
        StatsCollector collector = new StatsCollector(manager, directory, Cgroups.detect("cgroupfs"),
                r -> null, dir, new NetDev(), Clock.systemUTC());
        CriRegistry registry = new CriRegistry();
        new StatsRpcs(collector).register(registry);
        String name = InProcessServerBuilder.generateName();
        server = InProcessServerBuilder.forName(name).directExecutor().addService(registry.runtimeService()).build().start();
        channel = InProcessChannelBuilder.forName(name).directExecutor().build();
        RuntimeServiceGrpc.RuntimeServiceBlockingStub stub = RuntimeServiceGrpc.newBlockingStub(channel);

        StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                () -> stub.containerStats(ContainerStatsRequest.newBuilder().setContainerId("nosuch").build()));
        assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
        e = assertThrows(StatusRuntimeException.class,
                () -> stub.containerStats(ContainerStatsRequest.getDefaultInstance()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        e = assertThrows(StatusRuntimeException.class,
                () -> stub.podSandboxStats(PodSandboxStatsRequest.newBuilder().setPodSandboxId("nosuch").build()));
        assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
        assertEquals(0, stub.listContainerStats(ListContainerStatsRequest.getDefaultInstance()).getStatsCount());

        PodSandboxStats one = stub.podSandboxStats(PodSandboxStatsRequest.newBuilder().setPodSandboxId("pod2").build()).getStats();
        assertEquals("web2", one.getAttributes().getMetadata().getName());
        assertFalse(one.getLinux().hasCpu(), "a pod without a cgroup has no cgroup figures");

        assertEquals(3, stub.listPodSandboxStats(ListPodSandboxStatsRequest.getDefaultInstance()).getStatsCount());
        assertEquals(List.of("pod0", "pod2"), stub.listPodSandboxStats(ListPodSandboxStatsRequest.newBuilder()
                        .setFilter(PodSandboxStatsFilter.newBuilder().putLabelSelector("app", "web")).build())
                .getStatsList().stream().map(s -> s.getAttributes().getId()).toList());
        assertEquals(List.of("pod1"), stub.listPodSandboxStats(ListPodSandboxStatsRequest.newBuilder()
                        .setFilter(PodSandboxStatsFilter.newBuilder().setId("pod1")).build())
                .getStatsList().stream().map(s -> s.getAttributes().getId()).toList());
        List<String> streamed = new ArrayList<>();
        stub.streamPodSandboxStats(StreamPodSandboxStatsRequest.getDefaultInstance())
                .forEachRemaining(r -> r.getPodSandboxStatsList().forEach(s -> streamed.add(s.getAttributes().getId())));
        assertEquals(List.of("pod0", "pod1", "pod2"), streamed);
    }
}
