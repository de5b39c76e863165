package dev.berth.cgroups;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.berth.common.BerthException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Real enforcement by the kernel, on whatever cgroup layout this machine has: v1 on a hybrid
 * host, v2 inside the guest {@link CgroupV2GuestTest} boots (which sets
 * {@code berth.cgroups.expectMode=v2}). Needs root. Every cgroup lives under a random
 * {@code berth-test-*} parent that is removed after each test and checked on the filesystem.
 */
@Tag("cgroups")
@Tag("root")
class CgroupEnforcementTest {
    private static final long MIB = 1 << 20;

    private CgroupLayout layout;
    private CgroupManager cgroups;
    private String parent;
    private final List<Process> processes = new ArrayList<>();
    /** The manager the spawn/wait helpers read stats with, and its driver. */
    private Cgroups helpers;
    private CgroupDriver helperDriver;

    @BeforeEach
    void setUp() throws IOException {
        assumeTrue(isRoot(), "needs root to create cgroups");
        layout = CgroupLayout.detect();
        String expected = System.getProperty("berth.cgroups.expectMode");
        if (expected != null) {
            assertEquals(expected, layout.mode(), layout.describe());
        }
        assumeTrue(layout.available().containsAll(List.of("cpu", "memory", "pids")),
                "this host offers no cpu/memory/pids controllers: " + layout.describe());
        cgroups = new CgroupManager(layout, CgroupDriver.CGROUPFS);
        helpers = cgroups;
        helperDriver = CgroupDriver.CGROUPFS;
        parent = "/berth-test-" + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt());
    }

    @AfterEach
    void tearDown() throws Exception {
        if (cgroups == null) {
            return;
        }
        for (Process p : processes) {
            p.destroyForcibly();
        }
        if (anyExists(parent)) {
            TestCgroups.killAll(layout, parent);
            cgroups.remove(parent);
        }
        assertFalse(anyExists(parent), "test cgroups left behind under " + parent);
    }

    @Test
    void memoryLimitedProcessIsOomKilledAndCounted() throws Exception {
        String pod = cgroups.createPod(parent + "/pod-mem", Resources.none());
        String ctr = container(pod, "mem", limits(null, null, 32 * MIB, 32 * MIB, null));
        assertEquals(0, cgroups.oomKills(ctr));

        // dd touches its whole 128 MiB buffer while reading /dev/zero into it
        Process p = spawn(ctr, "dd if=/dev/zero of=/dev/null bs=128M count=1");
        int exit = p.waitFor();
        assertEquals(128 + 9, exit, "dd should die of SIGKILL: " + output(p));
        assertTrue(cgroups.oomKills(ctr) >= 1, "oom_kill counted");
        assertTrue(cgroups.stats(ctr).orElseThrow().oomKills() >= 1);

        // the same limit raised live lets the same work through
        cgroups.update(ctr, limits(null, null, 256 * MIB, 256 * MIB, null));
        Process ok = spawn(ctr, "dd if=/dev/zero of=/dev/null bs=128M count=1");
        assertEquals(0, ok.waitFor(), output(ok));
    }

    @Test
    void pidsLimitStopsForks() throws Exception {
        String pod = cgroups.createPod(parent + "/pod-pids", Resources.none());
        String ctr = container(pod, "pids", limits(null, null, null, null, 4L));
        // the shell and three sleeps fit; the other forks are refused by the kernel
        Process p = spawn(ctr, "sh -c 'for i in 1 2 3 4 5 6 7 8; do sleep 1000 </dev/null >/dev/null 2>&1 & done; echo forked'");
        p.waitFor();
        String out = output(p);
        Cgroups.CgroupStats s = cgroups.stats(ctr).orElseThrow();
        assertTrue(s.pids() <= 4 && s.pids() >= 3, "pids.current " + s.pids() + "; " + out);
        long refused = pidsEventsMax(ctr);
        assertTrue(refused >= 1, "pids.events max " + refused + "; " + out);
        assertTrue(out.contains("fork") || out.contains("Resource temporarily unavailable"), out);

        TestCgroups.killAll(layout, CgroupDriver.CGROUPFS.resolve(ctr));
        // killed orphans count until their new parent reaps them
        waitForPids(ctr, 0);
    }

    @Test
    void cpuQuotaThrottlesABusyLoop() throws Exception {
        String pod = cgroups.createPod(parent + "/pod-cpu", Resources.none());
        String ctr = container(pod, "cpu", limits(10_000L, 100_000L, null, null, null));
        spawn(ctr, "sh -c 'while :; do :; done'");
        Cgroups.CgroupStats s = cgroups.stats(ctr).orElseThrow();
        // wait (bounded) until the kernel has had to throttle; every period should throttle
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        // (throttled time is added when a throttled period ends, so wait for both counters)
        while ((s.cpuThrottledPeriods() == 0 || s.cpuThrottledNanos() == 0) && System.nanoTime() < until) {
            Thread.sleep(100);
            s = cgroups.stats(ctr).orElseThrow();
        }
        assertTrue(s.cpuThrottledPeriods() > 0, "nr_throttled stays 0: " + s);
        assertTrue(s.cpuThrottledNanos() > 0, s.toString());
        assertTrue(s.cpuUsageNanos() > 0, s.toString());
        assertTrue(rawThrottled(ctr) > 0, "cpu.stat nr_throttled on disk");
        if (layout.unifiedMount() != null && Files.exists(layout.unifiedMount().resolve(ctr.substring(1)).resolve("cpu.pressure"))) {
            double[] cpuPressure = s.pressure().get("cpu");
            assertTrue(cpuPressure != null && cpuPressure.length == 8, "PSI read where the kernel has it: " + s.pressure().keySet());
        }
        TestCgroups.killAll(layout, ctr);
    }

    @Test
    void teardownLeavesNoCgroupBehind() throws Exception {
        String pod = cgroups.createPod(parent + "/pod-teardown", limits(null, null, 512 * MIB, null, null));
        String a = container(pod, "a", Resources.none());
        String b = container(pod, "b", limits(20_000L, 100_000L, 64 * MIB, 64 * MIB, 32L));
        Process pa = spawn(a, "sleep 1000");
        Process pb = spawn(b, "sh -c 'sleep 1000 & sleep 1000 & wait'");
        waitForPids(b, 3);
        assertEquals(TestCgroups.directories(layout, pod).size(), TestCgroups.directories(layout, a).size(),
                "the container's cgroup exists in every hierarchy of its pod while the pod runs");
        TestCgroups.killAll(layout, pod);
        assertEquals(128 + 9, pa.waitFor());
        assertEquals(128 + 9, pb.waitFor());
        cgroups.remove(pod);
        assertFalse(anyExists(pod), "pod cgroup removed in every hierarchy");
        cgroups.remove(pod); // idempotent
        assertTrue(cgroups.stats(a).isEmpty());
        assertThrows(BerthException.class, () -> cgroups.update(b, Resources.none()));
    }

    @Test
    void removeWaitsUntilAKilledForkingLoopHasDrained() throws Exception {
        String pod = cgroups.createPod(parent + "/pod-fork", Resources.none());
        // paced so it keeps forking (a shell exits when a fork is refused) until it is killed; the pids limit is a safety net
        String ctr = container(pod, "fork", limits(null, null, null, null, 2000L));
        Process p = spawn(ctr, "sh -c 'while :; do sleep 1000 </dev/null >/dev/null 2>&1 & sleep 0.02; done'");
        waitForPidsAtLeast(ctr, 10);
        assertTrue(cgroups.stats(ctr).orElseThrow().pids() >= 10, "pids.current counts the whole loop");
        p.destroyForcibly();
        TestCgroups.killAll(layout, ctr);
        assertEquals(128 + 9, p.waitFor());
        // the kernel may still be draining the killed processes: remove retries until the directories go
        cgroups.remove(ctr);
        assertFalse(anyExists(ctr));
        assertTrue(cgroups.stats(ctr).isEmpty());
        assertTrue(anyExists(pod), "removing a container keeps its pod");
    }

    @Test
    void hugepageLimitsReachTheKernel() {
        assumeTrue(layout.available().contains("hugetlb"), "no hugetlb controller: " + layout.describe());
        String pod = cgroups.createPod(parent + "/pod-huge", Resources.none());
        Path dir = controllerDir("hugetlb", pod);
        String suffix = layout.onV2("hugetlb") ? ".max" : ".limit_in_bytes";
        assumeTrue(Files.exists(dir.resolve("hugetlb.2MB" + suffix)), "no 2MB hugepages on this kernel");
        cgroups.update(pod, new Resources(null, null, null, null, null, null, null, null, null, Map.of("2MB", 4 * MIB), Map.of()));
        assertEquals(Long.toString(4 * MIB), CgroupFiles.readString(dir.resolve("hugetlb.2MB" + suffix)));
        BerthException odd = assertThrows(BerthException.class, () -> cgroups.update(pod,
                new Resources(null, null, null, null, null, null, null, null, null, Map.of("3MB", MIB), Map.of())));
        assertEquals(BerthException.Kind.INVALID_ARGUMENT, odd.kind());
    }

    @Test
    void unifiedSettingsNeedV2AndAreWrittenVerbatim() {
        String pod = cgroups.createPod(parent + "/pod-unified", Resources.none());
        String ctr = container(pod, "u", Resources.none());
        Resources high = new Resources(null, null, null, null, null, 64 * MIB, null, null, null, Map.of(),
                Map.of("memory.high", Long.toString(48 * MIB)));
        if (layout.onV2("memory")) {
            cgroups.update(ctr, high);
            assertEquals(Long.toString(48 * MIB), CgroupFiles.readString(layout.unifiedMount().resolve(ctr.substring(1)).resolve("memory.high")));
            BerthException e = assertThrows(BerthException.class, () -> cgroups.update(ctr, new Resources(null, null, null,
                    null, null, null, null, null, null, Map.of(), Map.of("memory.high", "lots"))));
            assertEquals(BerthException.Kind.INVALID_ARGUMENT, e.kind());
        } else {
            BerthException e = assertThrows(BerthException.class, () -> cgroups.update(ctr, high));
            assertEquals(BerthException.Kind.INVALID_ARGUMENT, e.kind());
        }
        BerthException unknown = assertThrows(BerthException.class, () -> cgroups.update(ctr, new Resources(null, null, null,
                null, null, null, null, null, null, Map.of(), Map.of("memory.bogus", "1"))));
        assertEquals(BerthException.Kind.INVALID_ARGUMENT, unknown.kind());
    }

    @Test
    void systemdSlicesBecomeNestedCgroupsAndScopesHoldContainers() throws Exception {
        CgroupManager systemd = new CgroupManager(layout, CgroupDriver.SYSTEMD);
        String prefix = "berth_test_" + parent.substring("/berth-test-".length());
        parent = "/" + prefix + ".slice"; // what tearDown removes
        helpers = systemd;
        helperDriver = CgroupDriver.SYSTEMD;
        String pod = systemd.createPod(prefix + "-burstable-pod_1.slice", limits(null, null, 64 * MIB, null, null));
        assertEquals(parent + "/" + prefix + "-burstable.slice/" + prefix + "-burstable-pod_1.slice", pod);
        String ctr = systemd.containerPath(pod, "c1");
        assertEquals(prefix + "-burstable-pod_1.slice:berth:c1", ctr);
        Path scope = Path.of(pod.substring(1), "berth-c1.scope");
        assertEquals(parent + "/" + prefix + "-burstable.slice/" + prefix + "-burstable-pod_1.slice/berth-c1.scope",
                CgroupDriver.SYSTEMD.resolve(ctr));
        TestCgroups.mkdirContainer(layout, CgroupDriver.SYSTEMD.resolve(ctr));
        systemd.update(ctr, limits(null, null, null, null, 8L));
        assertEquals("8", CgroupFiles.readString(controllerDir("pids", CgroupDriver.SYSTEMD.resolve(ctr)).resolve("pids.max")));
        Process p = spawn(ctr, "sleep 1000");
        waitForPids(ctr, 1);
        TestCgroups.killAll(layout, pod);
        assertEquals(128 + 9, p.waitFor());
        systemd.remove(ctr);
        assertFalse(anyExists("/" + scope));
        assertTrue(anyExists(pod), "removing a container keeps its pod");
    }

    @Test
    void blockIoIsCountedPerDevice() throws Exception {
        assumeTrue(layout.available().contains("io"), "no io/blkio controller: " + layout.describe());
        String pod = cgroups.createPod(parent + "/pod-io", Resources.none());
        String ctr = container(pod, "io", Resources.none());
        boolean guest = System.getenv("CGROUP2_VM") != null;
        // direct I/O so the page cache cannot absorb it: the guest's scratch disk, or a read of a big file on the host
        String command = guest
                ? "dd if=/dev/zero of=/dev/vda bs=1M count=4 oflag=direct"
                : "dd if=" + Path.of(System.getProperty("java.home"), "lib", "modules") + " of=/dev/null bs=1M count=4 iflag=direct";
        if (layout.onV1("io")) {
            // recent kernels keep v1 blkio counters only for devices with a throttle rule: set one that limits nothing
            Path modules = Path.of(System.getProperty("java.home"), "lib", "modules");
            long dev = (Long) Files.getAttribute(modules, "unix:dev");
            String device = (((dev >>> 8) & 0xfff) | ((dev >>> 32) & ~0xfffL)) + ":" + ((dev & 0xff) | ((dev >>> 12) & ~0xffL));
            try {
                CgroupFiles.write(controllerDir("io", ctr).resolve("blkio.throttle.read_bps_device"), device + " 1099511627776");
            } catch (BerthException e) {
                assumeTrue(false, "cannot set a blkio rule on " + device + " (a partition?): " + e.getMessage());
            }
        }
        Process p = spawn(ctr, command);
        assertEquals(0, p.waitFor(), output(p));
        Map<String, long[]> io = cgroups.stats(ctr).orElseThrow().blockIo();
        long bytes = io.values().stream().mapToLong(v -> v[0] + v[1]).sum();
        long ops = io.values().stream().mapToLong(v -> v[2] + v[3]).sum();
        assertTrue(bytes >= 4 * MIB, "block I/O bytes " + bytes + " in " + io.keySet());
        assertTrue(ops > 0, "block I/O operations in " + io.keySet());
        if (guest && layout.onV2("io")) {
            String device = CgroupFiles.readString(Path.of("/sys/block/vda/dev"));
            assertTrue(io.containsKey(device), device + " in " + io.keySet());
            cgroups.update(ctr, new Resources(null, null, null, null, null, null, null, null, null, Map.of(),
                    Map.of("io.max", device + " wbps=8388608")));
            String max = CgroupFiles.readString(controllerDir("io", ctr).resolve("io.max"));
            assertTrue(max.startsWith(device + " ") && max.contains("wbps=8388608"), max);
        }
    }

    // ---- helpers

    /**
     * A container's cgroup as production gets it: the path from {@link Cgroups#containerPath},
     * the directories made as the OCI runtime makes them, the limits applied through {@link Cgroups#update}.
     */
    private String container(String pod, String id, Resources limits) {
        String ctr = cgroups.containerPath(pod, id);
        TestCgroups.mkdirContainer(layout, CgroupDriver.CGROUPFS.resolve(ctr));
        cgroups.update(ctr, limits);
        return ctr;
    }

    private static Resources limits(Long quota, Long period, Long memory, Long swapTotal, Long pids) {
        return new Resources(null, quota, period, null, null, memory, swapTotal, null, pids, Map.of(), Map.of());
    }

    /** Starts {@code command} under sh after the shell moved itself into every hierarchy of {@code cgroup}. */
    private Process spawn(String cgroup, String command) throws IOException {
        StringBuilder script = new StringBuilder();
        for (Path dir : TestCgroups.directories(layout, helperDriver.resolve(cgroup))) {
            script.append("echo $$ > '").append(dir.resolve("cgroup.procs")).append("' || exit 99; ");
        }
        script.append("exec ").append(command);
        Process p = new ProcessBuilder("sh", "-c", script.toString()).redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        processes.add(p);
        return p;
    }

    private static String output(Process p) throws IOException {
        return new String(p.getInputStream().readNBytes(64 * 1024), StandardCharsets.UTF_8);
    }

    private void waitForPids(String cgroup, long n) throws InterruptedException {
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (helpers.stats(cgroup).orElseThrow().pids() != n && System.nanoTime() < until) {
            Thread.sleep(20);
        }
        assertEquals(n, helpers.stats(cgroup).orElseThrow().pids());
    }

    private void waitForPidsAtLeast(String cgroup, long n) throws InterruptedException {
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (helpers.stats(cgroup).orElseThrow().pids() < n && System.nanoTime() < until) {
            Thread.sleep(20);
        }
        assertTrue(helpers.stats(cgroup).orElseThrow().pids() >= n);
    }

    private long pidsEventsMax(String cgroup) {
        Path dir = controllerDir("pids", cgroup);
        String events = CgroupFiles.readString(dir.resolve("pids.events"));
        assertTrue(events != null, "pids.events in " + dir);
        for (String line : events.split("\n")) {
            if (line.startsWith("max ")) {
                return Long.parseLong(line.substring(4).trim());
            }
        }
        return 0;
    }

    private long rawThrottled(String cgroup) {
        String stat = CgroupFiles.readString(controllerDir("cpu", cgroup).resolve("cpu.stat"));
        for (String line : stat.split("\n")) {
            if (line.startsWith("nr_throttled ")) {
                return Long.parseLong(line.substring(13).trim());
            }
        }
        return 0;
    }

    private Path controllerDir(String controller, String cgroup) {
        String path = CgroupDriver.CGROUPFS.resolve(cgroup);
        Path root = layout.onV2(controller) ? layout.unifiedMount() : layout.v1Mounts().get(CgroupLayout.v1Name(controller));
        return root.resolve(path.substring(1));
    }

    /** Whether a directory for {@code path} exists in any mounted hierarchy (checked on disk). */
    private boolean anyExists(String path) {
        Set<Path> roots = new java.util.LinkedHashSet<>(layout.v1Mounts().values());
        if (layout.unifiedMount() != null) {
            roots.add(layout.unifiedMount());
        }
        for (Path root : roots) {
            if (Files.exists(root.resolve(path.substring(1)))) {
                return true;
            }
        }
        return false;
    }

    static boolean isRoot() {
        try (Stream<String> lines = Files.lines(Path.of("/proc/self/status"))) {
            return lines.filter(l -> l.startsWith("Uid:")).findFirst().map(l -> l.split("\\s+")[1].equals("0")).orElse(false);
        } catch (IOException e) {
            return false;
        }
    }
}
