package dev.berth.cgroups;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

class CgroupLayoutTest {
    static final String HYBRID_MOUNTINFO = String.join("\n",
            "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw",
            "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755",
            "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu",
            "33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct",
            "34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset",
            "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory",
            "36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices",
            "37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer",
            "38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio",
            "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids",
            "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd",
            "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw", "");
    static final String PROC_CGROUPS = String.join("\n",
            "#subsys_name\thierarchy\tnum_cgroups\tenabled",
            "cpuset\t3\t1\t1", "cpu\t1\t1\t1", "cpuacct\t2\t1\t1", "blkio\t7\t1\t1", "memory\t4\t51\t1",
            "devices\t5\t1\t1", "freezer\t6\t1\t1", "hugetlb\t0\t1\t1", "pids\t8\t1\t1", "");

    @Test
    void onAHybridHostAV2ControllerTheHostDidNotDelegateIsNotUsed() {
        CgroupLayout l = CgroupLayout.parse(HYBRID_MOUNTINFO, PROC_CGROUPS, p -> "hugetlb\n", p -> "\n");
        assertFalse(l.onV2("hugetlb"), "enabling it would change the host's cgroup2 root");
        assertFalse(l.available().contains("hugetlb"));
        assertTrue(l.onV1("memory"));
    }

    @Test
    void hybridHostUsesV1ForControllersMountedThereAndV2ForTheRest() {
        CgroupLayout l = CgroupLayout.parse(HYBRID_MOUNTINFO, PROC_CGROUPS, p -> "hugetlb\n");
        assertEquals(Path.of("/sys/fs/cgroup/unified"), l.unifiedMount());
        assertEquals(Path.of("/sys/fs/cgroup/memory"), l.v1Mounts().get("memory"));
        assertEquals(Path.of("/sys/fs/cgroup/cpuacct"), l.v1Mounts().get("cpuacct"));
        assertEquals(Path.of("/sys/fs/cgroup/systemd"), l.v1Mounts().get("name=systemd"));
        assertTrue(l.onV1("memory"));
        assertTrue(l.onV1("io"), "io is blkio in v1");
        assertTrue(l.onV2("hugetlb"));
        assertFalse(l.onV1("hugetlb"));
        assertTrue(l.hybrid());
        assertEquals("v1", l.mode());
        assertEquals(List.of("cpu", "cpuset", "memory", "pids", "io", "hugetlb"), l.available());
        assertTrue(l.describe().startsWith("v1 (hybrid; cgroup2 at /sys/fs/cgroup/unified)"), l.describe());
    }

    @Test
    void unifiedHostUsesV2() {
        String mountinfo = "25 18 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n";
        CgroupLayout l = CgroupLayout.parse(mountinfo, "", p -> {
            assertEquals(Path.of("/sys/fs/cgroup"), p);
            return "cpuset cpu io memory hugetlb pids rdma misc\n";
        });
        assertEquals("v2", l.mode());
        assertFalse(l.hybrid());
        assertTrue(l.onV2("memory"));
        assertTrue(l.v1Mounts().isEmpty());
        assertEquals(CgroupLayout.MANAGED, l.available());
    }

    @Test
    void legacyHostWithCoMountedCpuAndDisabledControllers() {
        String mountinfo = String.join("\n",
                "30 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct",
                "31 25 0:27 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory",
                "32 25 0:28 / /sys/fs/cgroup/my\\040pids rw - cgroup cgroup rw,pids",
                "33 25 0:29 /sub /mnt/bind rw - cgroup cgroup rw,blkio", "");
        CgroupLayout l = CgroupLayout.parse(mountinfo, "memory\t2\t1\t0\n", p -> "");
        assertNull(l.unifiedMount());
        assertEquals(Path.of("/sys/fs/cgroup/cpu,cpuacct"), l.v1Mounts().get("cpu"));
        assertEquals(Path.of("/sys/fs/cgroup/cpu,cpuacct"), l.v1Mounts().get("cpuacct"));
        assertEquals(Path.of("/sys/fs/cgroup/my pids"), l.v1Mounts().get("pids"), "octal escapes are decoded");
        assertFalse(l.v1Mounts().containsKey("memory"), "disabled in /proc/cgroups");
        assertFalse(l.v1Mounts().containsKey("blkio"), "a bind mount of a sub-tree is not the hierarchy root");
        assertEquals("v1", l.mode());
        assertEquals(List.of("cpu", "pids"), l.available());
    }

    @Test
    void noCgroupsAtAll() {
        assertEquals("none", CgroupLayout.parse("", "", p -> "").mode());
    }
}
