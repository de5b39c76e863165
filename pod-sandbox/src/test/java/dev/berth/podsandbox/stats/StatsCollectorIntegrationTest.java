package dev.berth.podsandbox.stats;

import dev.berth.podsandbox.oci.RuntimeHandlers;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.cgroups.Cgroups;
import dev.berth.cgroups.Resources;
import dev.berth.common.BerthException;
import dev.berth.podsandbox.container.ContainerFilter;
import dev.berth.podsandbox.container.ContainerManager;
import dev.berth.podsandbox.container.ContainerRecord;
import dev.berth.podsandbox.container.ContainerState;
import dev.berth.podsandbox.container.CreateRequest;
import dev.berth.podsandbox.oci.ConmonRuntime;
import dev.berth.podsandbox.container.spec.ContainerConfig;
import dev.berth.podsandbox.container.spec.HostFacts;
import dev.berth.podsandbox.container.spec.ImageConfig;
import dev.berth.podsandbox.container.spec.SandboxContext;
import dev.berth.podsandbox.sandbox.SandboxConfig;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Stats of real containers (runc under conmon) in a real pod cgroup, and of a network
 * namespace the test creates and sends traffic through.
 */
@Tag("root")
class StatsCollectorIntegrationTest {
    private static final Path CONMON = Path.of("/usr/bin/conmon");
    private static final Path RUNC = Path.of("/usr/sbin/runc");
    private static final long MEMORY_LIMIT = 256L << 20;

    private Path dir;
    private String tag;
    private Cgroups cgroups;
    private String podCgroup;
    private ContainerManager manager;
    private final List<String> netns = new ArrayList<>();
    private PodDirectory.Pod pod;
    private StatsCollector collector;

    @BeforeEach
    void setUp() throws IOException {
        Assumptions.assumeTrue(Files.isExecutable(RUNC) && Files.isExecutable(CONMON), "runc and conmon are needed");
        dir = Files.createTempDirectory("berth-stats-test");
        tag = dir.getFileName().toString().replaceAll("[^A-Za-z0-9]", "").toLowerCase();
        buildBusyboxRootfs(dir.resolve("rootfs"));
        cgroups = Cgroups.detect("cgroupfs");
        podCgroup = cgroups.createPod("/berth-test-" + tag, Resources.none());
        Duration t = Duration.ofSeconds(60);
        manager = new ContainerManager(dir.resolve("state"), dir.resolve("run"),
                new RuntimeHandlers(Map.of("runc", RUNC.toString()), "runc", ConmonRuntime.factory(CONMON, dir.resolve("run"), t, Path::of)),
                HostFacts.current(), rec -> false, ContainerManager.Options.defaults());
    }

    @AfterEach
    void tearDown() throws Exception {
        List<String> problems = new ArrayList<>();
        if (manager != null) {
            for (ContainerRecord r : manager.list()) {
                try {
                    manager.stop(r.id(), 0);
                    manager.remove(r.id());
                } catch (RuntimeException e) {
                    problems.add("cannot remove container " + r.id() + ": " + e);
                }
            }
            try {
                manager.close();
            } catch (RuntimeException e) {
                problems.add("cannot close the container manager: " + e);
            }
        }
        if (podCgroup != null) {
            try {
                cgroups.remove(podCgroup);
            } catch (RuntimeException e) {
                problems.add("cannot remove cgroup " + podCgroup + ": " + e);
            }
        }
        for (String ns : netns) {
            if (Files.exists(Path.of("/run/netns", ns))) {
                try {
                    run("ip", "netns", "delete", ns);
                } catch (IOException e) {
                    problems.add(e.getMessage());
                }
            }
        }
        // what is left on the system, whatever berth's bookkeeping says
        if (podCgroup != null) {
            try (Stream<Path> s = Files.list(Path.of("/sys/fs/cgroup"))) {
                for (Path h : s.toList()) {
                    if (Files.exists(h.resolve(podCgroup.substring(1)))) {
                        problems.add("cgroup left: " + h.resolve(podCgroup.substring(1)));
                    }
                }
            }
        }
        for (String ns : netns) {
            if (Files.exists(Path.of("/run/netns", ns))) {
                problems.add("network namespace left: " + ns);
            }
        }
        if (dir != null) {
            try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
                for (Path p : procs.toList()) {
                    try {
                        if (Files.readSymbolicLink(p.resolve("root")).startsWith(dir)) {
                            problems.add("container process left: " + p);
                        }
                    } catch (IOException | UnsupportedOperationException e) {
                        // not a process, or gone
                    }
                }
            }
            for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
                if (line.contains(dir.toString())) {
                    problems.add("mount left: " + line);
                }
            }
            try (Stream<Path> walk = Files.walk(dir)) {
                walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
        assertTrue(problems.isEmpty(), "left behind: " + problems);
    }

    private StatsCollector collector(Path netnsPath) {
        pod = new PodDirectory.Pod("pod-" + tag, new SandboxConfig.Metadata("web", "uid-" + tag, "default", 0),
                Map.of("app", "web"), Map.of("a", "b"), podCgroup, netnsPath);
        PodDirectory directory = new PodDirectory() {
            @Override
            public PodDirectory.Pod find(String id) {
                if (!pod.id().startsWith(id)) {
                    throw BerthException.notFound("sandbox %s not found", id);
                }
                return pod;
            }

            @Override
            public List<PodDirectory.Pod> list(String idPrefix, Map<String, String> labels) {
                boolean match = pod.id().startsWith(idPrefix)
                        && labels.entrySet().stream().allMatch(e -> e.getValue().equals(pod.labels().get(e.getKey())));
                return match ? List.of(pod) : List.of();
            }
        };
        return new StatsCollector(manager, directory, cgroups, r -> dir.resolve("layers").resolve(r.name()),
                dir.resolve("layers"), new NetDev(), Clock.systemUTC());
    }

    private ContainerRecord runContainer(String name, Map<String, String> labels, String script) {
        // the OCI runtime creates the container's cgroup and applies the limit, as for any container
        String cg = cgroups.containerPath(podCgroup, name);
        ContainerConfig config = ContainerConfig.builder(name).labels(labels)
                .resources(new Resources(null, null, null, null, null, MEMORY_LIMIT, null, null, null, Map.of(), Map.of()))
                .logPath(dir.resolve("logs").resolve(name + ".log").toString())
                .command("sh", "-c", script).build();
        ContainerRecord r = manager.create(newContainerId(), new CreateRequest(config, ImageConfig.empty(), "busybox:test",
                SandboxContext.standalone(pod.id(), cg), dir.resolve("rootfs"), "runc"));
        return manager.start(r.id());
    }

    @Test
    void cpuAndMemoryMoveWhenContainersBurnCpuAndAllocate() throws Exception {
        collector = collector(null);
        Files.createDirectories(dir.resolve("layers/burn"));
        Files.write(dir.resolve("layers/burn/scratch"), new byte[100_000]);
        ContainerRecord burn = runContainer("burn", Map.of("role", "cpu"), "while :; do :; done");
        // the shell keeps a 40 MiB variable while it waits: sleep is not its last command, so the
        // shell forks it instead of exec'ing it
        ContainerRecord mem = runContainer("mem", Map.of("role", "memory"),
                "x=aaaaaaaaaa; i=0; while [ $i -lt 22 ]; do x=$x$x; i=$((i+1)); done; echo filled; sleep 1000; echo ${#x}");

        Usage.Container first = collector.container(burn.id());
        assertNotNull(first.cgroup(), "a running container has cgroup figures");
        assertNull(first.cgroup().cpu().usageNanoCores(), "no rate from a single sample");
        await("the burner to use 0.3 s of CPU", () ->
                collector.container(burn.id()).cgroup().cpu().usageCoreNanos() > first.cgroup().cpu().usageCoreNanos() + 300_000_000L);
        Usage.Container second = collector.container(burn.id());
        assertTrue(second.cgroup().cpu().usageNanoCores() > 100_000_000L,
                "a busy loop uses a good part of a core: " + second.cgroup().cpu());
        assertTrue(second.timestampNanos() > first.timestampNanos());
        assertEquals(1, second.cgroup().processes());
        assertEquals(Map.of("role", "cpu"), second.labels());
        assertEquals(pod.id(), second.sandboxId());
        assertEquals("burn", second.name());
        assertNotNull(second.writableLayer());
        assertTrue(second.writableLayer().usedBytes() >= 100_000, "the layer's file is counted: " + second.writableLayer());
        assertTrue(second.writableLayer().inodesUsed() >= 2);
        assertEquals(dir.resolve("layers"), second.writableLayer().mountpoint());

        await("the allocating container to hold its memory", () ->
                Files.exists(dir.resolve("logs/mem.log")) && readQuietly(dir.resolve("logs/mem.log")).contains("filled"));
        Usage.Container m = collector.container(mem.id());
        assertTrue(m.cgroup().memory().workingSetBytes() > 30_000_000L, "working set: " + m.cgroup() + " log " + readQuietly(dir.resolve("logs/mem.log")) + " rec " + manager.status(mem.id()));
        assertTrue(m.cgroup().memory().rssBytes() > 30_000_000L, "rss: " + m.cgroup().memory());
        assertTrue(m.cgroup().memory().usageBytes() >= m.cgroup().memory().workingSetBytes());
        assertEquals(MEMORY_LIMIT - m.cgroup().memory().workingSetBytes(), m.cgroup().memory().availableBytes());
        assertTrue(m.cgroup().memory().pageFaults() > 0);
        assertNull(m.writableLayer(), "no layer directory, no figures");

        // filters
        assertEquals(List.of(mem.id()), ids(collector.containers(new ContainerFilter("", null, "", Map.of("role", "memory")))));
        assertEquals(2, collector.containers(new ContainerFilter("", null, pod.id(), Map.of())).size());
        assertEquals(List.of(), collector.containers(new ContainerFilter("", null, "other-pod", Map.of())));
        assertEquals(List.of(burn.id()), ids(collector.containers(new ContainerFilter(burn.id().substring(0, 12), null, "", Map.of()))));

        // the pod: its cgroup covers both containers
        Usage.Pod p = collector.pod(pod.id());
        assertEquals("web", p.name());
        assertEquals("default", p.namespace());
        assertEquals(2, p.containers().size());
        assertNotNull(p.cgroup());
        assertTrue(p.cgroup().cpu().usageCoreNanos() >= second.cgroup().cpu().usageCoreNanos());
        assertTrue(p.cgroup().memory().workingSetBytes() > 30_000_000L);
        assertEquals(3, p.cgroup().processes(), "the burner's shell, the allocating shell and its sleep");
        assertNull(p.cgroup().memory().availableBytes(), "the pod cgroup has no limit");
        assertTrue(p.interfaces().isEmpty(), "a host-network pod has no interfaces of its own");
        assertEquals(1, collector.pods("", Map.of("app", "web")).size());
        assertEquals(0, collector.pods("", Map.of("app", "db")).size());

        // an exited container has no cgroup figures; an unknown one is not found
        manager.stop(burn.id(), 0);
        assertEquals(ContainerState.EXITED, manager.status(burn.id()).state());
        assertNull(collector.container(burn.id()).cgroup());
        BerthException e = assertThrows(BerthException.class, () -> collector.container("nosuchcontainer"));
        assertEquals(BerthException.Kind.NOT_FOUND, e.kind());
        assertEquals(BerthException.Kind.NOT_FOUND,
                assertThrows(BerthException.class, () -> collector.pod("nosuchpod")).kind());
    }

    @Test
    void networkCountersMoveAfterTrafficInThePodNamespace() throws Exception {
        String a = "berth-st-a-" + tag.substring(Math.max(0, tag.length() - 6));
        String b = "berth-st-b-" + tag.substring(Math.max(0, tag.length() - 6));
        netns.add(a);
        netns.add(b);
        run("ip", "netns", "add", a);
        run("ip", "netns", "add", b);
        run("ip", "-n", a, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", b);
        run("ip", "-n", a, "addr", "add", "10.213.7.1/30", "dev", "eth0");
        run("ip", "-n", b, "addr", "add", "10.213.7.2/30", "dev", "eth0");
        for (String ns : List.of(a, b)) {
            run("ip", "-n", ns, "link", "set", "lo", "up");
            run("ip", "-n", ns, "link", "set", "eth0", "up");
        }
        collector = collector(Path.of("/run/netns", a));

        Usage.Pod before = collector.pod(pod.id());
        Usage.Interface eth0 = before.defaultInterface();
        assertNotNull(eth0, "the pod's eth0: " + before.interfaces());
        assertEquals("eth0", eth0.name());
        assertTrue(before.interfaces().stream().anyMatch(i -> i.name().equals("lo")));
        assertTrue(before.networkTimestampNanos() > 0);

        run("ip", "netns", "exec", a, "/bin/busybox", "ping", "-c", "3", "-s", "1000", "10.213.7.2");

        Usage.Interface after = collector.pod(pod.id()).defaultInterface();
        assertTrue(after.txBytes() >= eth0.txBytes() + 3 * 1000, "sent: " + eth0 + " -> " + after);
        assertTrue(after.rxBytes() >= eth0.rxBytes() + 3 * 1000, "received: " + eth0 + " -> " + after);
        assertTrue(after.txPackets() >= eth0.txPackets() + 3);

        run("ip", "netns", "delete", a);
        assertFalse(Files.exists(Path.of("/run/netns", a)));
        assertTrue(collector.pod(pod.id()).interfaces().isEmpty(), "a gone namespace has no counters");
    }

    private static List<String> ids(List<Usage.Container> cs) {
        return cs.stream().map(Usage.Container::id).toList();
    }

    private static String readQuietly(Path p) {
        try {
            return Files.readString(p);
        } catch (IOException e) {
            return "";
        }
    }

    private static void await(String what, BooleanSupplier done) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (!done.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("gave up waiting for " + what);
            }
            Thread.sleep(50);
        }
    }

    private static void run(String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (p.waitFor() != 0) {
            throw new IOException(String.join(" ", cmd) + " failed: " + out);
        }
    }

    private static void buildBusyboxRootfs(Path rootfs) throws IOException {
        Path bin = Files.createDirectories(rootfs.resolve("bin"));
        Files.copy(Path.of("/bin/busybox"), bin.resolve("busybox"));
        for (String app : List.of("sh", "head", "yes", "sleep", "echo")) {
            Files.createSymbolicLink(bin.resolve(app), Path.of("busybox"));
        }
        for (String d : List.of("proc", "sys", "dev", "tmp", "etc")) {
            Files.createDirectories(rootfs.resolve(d));
        }
    }

    /** A fresh container id (64 hex digits), as the container service gives one. */
    private static String newContainerId() {
        byte[] b = new byte[32];
        new java.security.SecureRandom().nextBytes(b);
        return java.util.HexFormat.of().formatHex(b);
    }
}
