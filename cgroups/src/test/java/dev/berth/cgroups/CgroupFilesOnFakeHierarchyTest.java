package dev.berth.cgroups;

import static dev.berth.cgroups.ConversionsTest.assertInvalid;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.common.BerthException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Limits to files and files to stats, on directory trees shaped like cgroupfs (regular files
 * stand in for the kernel's interface files, so what is written can be read back verbatim).
 */
class CgroupFilesOnFakeHierarchyTest {
    @TempDir
    Path tmp;

    private static void file(Path dir, String name, String content) throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve(name), content);
    }

    private static String read(Path file) throws IOException {
        return Files.readString(file).trim();
    }

    private static Resources resources(Long shares, Long quota, Long period, String cpus, Long mem, Long swap, Long pids,
            Map<String, Long> huge, Map<String, String> unified) {
        return new Resources(shares, quota, period, cpus, null, mem, swap, null, pids, huge, unified);
    }

    private CgroupManager v2() throws IOException {
        Path root = tmp.resolve("unified");
        file(root, "cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n");
        file(root, "cgroup.subtree_control", "");
        return new CgroupManager(new CgroupLayout(root, Set.of("cpuset", "cpu", "io", "memory", "hugetlb", "pids"), Map.of()),
                CgroupDriver.CGROUPFS);
    }

    private static void v2Files(Path d) throws IOException {
        for (String f : new String[] {"cpu.weight", "cpu.max", "cpuset.cpus", "cpuset.mems", "memory.max", "memory.swap.max",
                "memory.high", "pids.max", "hugetlb.2MB.max", "cgroup.controllers", "cgroup.subtree_control"}) {
            file(d, f, "");
        }
    }

    @Test
    void createPodDelegatesV2ControllersFromTheRoot() throws IOException {
        CgroupManager m = v2();
        String pod = m.createPod("/kubepods/burstable/pod1", Resources.none());
        assertEquals("/kubepods/burstable/pod1", pod);
        assertTrue(Files.isDirectory(tmp.resolve("unified/kubepods/burstable/pod1")));
        assertEquals("+cpu +cpuset +memory +pids +io +hugetlb", read(tmp.resolve("unified/cgroup.subtree_control")));
        try (java.util.stream.Stream<Path> created = Files.list(tmp.resolve("unified/kubepods/burstable"))) {
            assertEquals(java.util.List.of(tmp.resolve("unified/kubepods/burstable/pod1")), created.filter(Files::isDirectory).toList(),
                    "the pod's one directory in the one hierarchy in use");
        }
    }

    @Test
    void v2LimitsAreWrittenInV2Units() throws IOException {
        CgroupManager m = v2();
        Path d = tmp.resolve("unified/pod");
        v2Files(d);
        Map<String, String> unified = new LinkedHashMap<>();
        unified.put("memory.high", "100663296");
        m.update("/pod", resources(1024L, 50_000L, 100_000L, "0-1", 128L << 20, 192L << 20, 64L, Map.of("2MB", 4L << 20), unified));
        assertEquals("39", read(d.resolve("cpu.weight")));
        assertEquals("50000 100000", read(d.resolve("cpu.max")));
        assertEquals("0-1", read(d.resolve("cpuset.cpus")));
        assertEquals(Long.toString(128L << 20), read(d.resolve("memory.max")));
        assertEquals(Long.toString(64L << 20), read(d.resolve("memory.swap.max")));
        assertEquals("100663296", read(d.resolve("memory.high")));
        assertEquals("64", read(d.resolve("pids.max")));
        assertEquals(Long.toString(4L << 20), read(d.resolve("hugetlb.2MB.max")));

        m.update("/pod", resources(null, -1L, null, null, -1L, -1L, -1L, Map.of(), Map.of()));
        assertEquals("max 100000", read(d.resolve("cpu.max")));
        assertEquals("max", read(d.resolve("memory.max")));
        assertEquals("max", read(d.resolve("memory.swap.max")));
        assertEquals("max", read(d.resolve("pids.max")));
        assertEquals("39", read(d.resolve("cpu.weight")), "unset fields are left alone");
    }

    @Test
    void badUpdatesChangeNothing() throws IOException {
        CgroupManager m = v2();
        Path d = tmp.resolve("unified/pod");
        v2Files(d);
        assertInvalid(() -> m.update("/pod", resources(512L, null, null, null, null, null, null, Map.of(), Map.of("memory.nonsense", "1"))));
        assertInvalid(() -> m.update("/pod", resources(512L, null, null, null, null, null, null, Map.of(), Map.of("cgroup.procs", "1"))));
        assertInvalid(() -> m.update("/pod", resources(512L, 10L, null, null, null, null, null, Map.of(), Map.of())));
        assertInvalid(() -> m.update("/pod", resources(512L, null, null, null, null, null, null, Map.of("1GB", 1L), Map.of())));
        assertInvalid(() -> m.update("/pod", resources(512L, null, null, null, null, null, null, Map.of("huge", 1L), Map.of())));
        assertEquals("", read(d.resolve("cpu.weight")), "validation happens before any write");
        BerthException missing = assertThrows(BerthException.class, () -> m.update("/nope", Resources.none()));
        assertEquals(BerthException.Kind.NOT_FOUND, missing.kind());
    }

    @Test
    void v2StatsAreParsed() throws IOException {
        CgroupManager m = v2();
        Path d = tmp.resolve("unified/pod/ctr");
        file(d, "cpu.stat", "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\nnr_periods 10\nnr_throttled 4\nthrottled_usec 777\n"
                + "nr_bursts 0\nburst_usec 0\n");
        file(d, "memory.current", "104857600\n");
        file(d, "memory.max", "max\n");
        file(d, "memory.stat", "anon 41943040\nfile 52428800\nkernel 1000\ninactive_anon 0\nactive_anon 41943040\n"
                + "inactive_file 31457280\nactive_file 20971520\npgfault 12345\npgmajfault 67\n");
        file(d, "memory.swap.current", "4096\n");
        file(d, "memory.events", "low 0\nhigh 0\nmax 9\noom 3\noom_kill 2\noom_group_kill 0\n");
        file(d, "pids.current", "7\n");
        file(d, "io.stat", "8:0 rbytes=1024 wbytes=2048 rios=1 wios=2 dbytes=0 dios=0\n254:0 rbytes=0 wbytes=4096 rios=0 wios=1 dbytes=0 dios=0\n");
        file(d, "cpu.pressure", "some avg10=1.50 avg60=0.25 avg300=0.00 total=123456\nfull avg10=0.10 avg60=0.00 avg300=0.00 total=789\n");
        file(d, "memory.pressure", "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
        Cgroups.CgroupStats s = m.stats("/pod/ctr").orElseThrow();
        assertEquals(2_500_000, s.cpuUsageNanos());
        assertEquals(2_000_000, s.cpuUserNanos());
        assertEquals(500_000, s.cpuSystemNanos());
        assertEquals(4, s.cpuThrottledPeriods());
        assertEquals(777_000, s.cpuThrottledNanos());
        assertEquals(104857600, s.memoryUsageBytes());
        assertEquals(104857600 - 31457280, s.memoryWorkingSetBytes());
        assertEquals(41943040, s.memoryRssBytes());
        assertEquals(Long.MAX_VALUE, s.memoryLimitBytes());
        assertEquals(12345, s.pageFaults());
        assertEquals(67, s.majorPageFaults());
        assertEquals(4096, s.swapUsageBytes());
        assertEquals(7, s.pids());
        assertEquals(2, s.oomKills());
        assertEquals(2, m.oomKills("/pod/ctr"));
        assertArrayEquals(new long[] {1024, 2048, 1, 2}, s.blockIo().get("8:0"));
        assertArrayEquals(new long[] {0, 4096, 0, 1}, s.blockIo().get("254:0"));
        assertArrayEquals(new double[] {1.5, 0.25, 0, 123456, 0.1, 0, 0, 789}, s.pressure().get("cpu"), 1e-9);
        assertTrue(s.pressure().containsKey("memory"));
        assertFalse(s.pressure().containsKey("io"), "no io.pressure file, no entry");
        assertTrue(s.timestampNanos() > 0);
        assertTrue(m.stats("/gone").isEmpty());
    }

    private CgroupManager v1() throws IOException {
        Map<String, Path> mounts = new LinkedHashMap<>();
        for (String c : new String[] {"cpu", "cpuacct", "cpuset", "memory", "pids", "blkio", "freezer"}) {
            mounts.put(c, tmp.resolve(c));
            Files.createDirectories(tmp.resolve(c));
        }
        return new CgroupManager(new CgroupLayout(null, Set.of(), mounts), CgroupDriver.SYSTEMD);
    }

    @Test
    void v1LimitsAndStatsUseV1Files() throws IOException {
        CgroupManager m = v1();
        assertEquals("v1", m.mode());
        String pod = "/kubepods.slice/kubepods-pod1.slice";
        String ctr = "kubepods-pod1.slice:berth:c1";
        String ctrPath = pod + "/berth-c1.scope";
        Path cpu = tmp.resolve("cpu" + ctrPath);
        Path mem = tmp.resolve("memory" + ctrPath);
        file(cpu, "cpu.shares", "");
        file(cpu, "cpu.cfs_period_us", "");
        file(cpu, "cpu.cfs_quota_us", "");
        file(cpu, "cpu.stat", "nr_periods 20\nnr_throttled 5\nthrottled_time 123456789\n");
        file(tmp.resolve("cpuacct" + ctrPath), "cpuacct.usage", "900000000\n");
        file(tmp.resolve("cpuacct" + ctrPath), "cpuacct.stat", "user 60\nsystem 30\n");
        file(mem, "memory.limit_in_bytes", "9223372036854771712\n");
        file(mem, "memory.memsw.limit_in_bytes", "9223372036854771712\n");
        file(mem, "memory.usage_in_bytes", "50000000\n");
        file(mem, "memory.memsw.usage_in_bytes", "50004096\n");
        file(mem, "memory.stat", "cache 100\nrss 5\ninactive_file 7\ntotal_cache 200\ntotal_rss 40000000\ntotal_inactive_file 10000000\n"
                + "total_pgfault 999\ntotal_pgmajfault 9\n");
        file(mem, "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n");
        file(tmp.resolve("pids" + ctrPath), "pids.max", "");
        file(tmp.resolve("pids" + ctrPath), "pids.current", "4\n");
        file(tmp.resolve("blkio" + ctrPath), "blkio.throttle.io_service_bytes_recursive",
                "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Async 0\n8:0 Discard 0\n8:0 Total 12288\nTotal 12288\n");
        file(tmp.resolve("blkio" + ctrPath), "blkio.throttle.io_serviced_recursive", "8:0 Read 1\n8:0 Write 2\n8:0 Total 3\nTotal 3\n");
        Files.createDirectories(tmp.resolve("cpuset" + ctrPath));
        Files.createDirectories(tmp.resolve("freezer" + ctrPath));

        m.update(ctr, resources(2048L, 20_000L, 50_000L, null, 64L << 20, 64L << 20, 16L, Map.of(), Map.of()));
        assertEquals("2048", read(cpu.resolve("cpu.shares")));
        assertEquals("50000", read(cpu.resolve("cpu.cfs_period_us")));
        assertEquals("20000", read(cpu.resolve("cpu.cfs_quota_us")));
        assertEquals(Long.toString(64L << 20), read(mem.resolve("memory.limit_in_bytes")));
        assertEquals(Long.toString(64L << 20), read(mem.resolve("memory.memsw.limit_in_bytes")));
        assertEquals("16", read(tmp.resolve("pids" + ctrPath + "/pids.max")));
        assertInvalid(() -> m.update(ctr, resources(null, null, null, null, null, null, null, Map.of(), Map.of("memory.high", "1"))));

        file(mem, "memory.limit_in_bytes", "9223372036854771712\n");
        Cgroups.CgroupStats s = m.stats(ctr).orElseThrow();
        assertEquals(900_000_000, s.cpuUsageNanos());
        assertEquals(600_000_000, s.cpuUserNanos(), "cpuacct.stat ticks are 10 ms");
        assertEquals(300_000_000, s.cpuSystemNanos());
        assertEquals(5, s.cpuThrottledPeriods());
        assertEquals(123456789, s.cpuThrottledNanos());
        assertEquals(50_000_000, s.memoryUsageBytes());
        assertEquals(40_000_000, s.memoryWorkingSetBytes());
        assertEquals(40_000_000, s.memoryRssBytes());
        assertEquals(Long.MAX_VALUE, s.memoryLimitBytes());
        assertEquals(999, s.pageFaults());
        assertEquals(9, s.majorPageFaults());
        assertEquals(4096, s.swapUsageBytes());
        assertEquals(3, s.oomKills());
        assertEquals(4, s.pids());
        assertArrayEquals(new long[] {4096, 8192, 1, 2}, s.blockIo().get("8:0"));
        assertEquals(1, s.blockIo().size());
        assertTrue(s.pressure().isEmpty());
    }

    @Test
    void v1CpusetOfANewCgroupStartsWithItsParentsCpusAndMems() throws IOException {
        CgroupManager m = v1();
        file(tmp.resolve("cpuset"), "cpuset.cpus", "0-1\n");
        file(tmp.resolve("cpuset"), "cpuset.mems", "0\n");
        // the kernel creates the files of a new cgroup; a plain directory tree needs them up front
        Path pod = tmp.resolve("cpuset/kubepods.slice");
        file(pod, "cpuset.cpus", "");
        file(pod, "cpuset.mems", "");
        m.createPod("kubepods.slice", Resources.none());
        assertEquals("0-1", read(pod.resolve("cpuset.cpus")));
        assertEquals("0", read(pod.resolve("cpuset.mems")));
    }
}
