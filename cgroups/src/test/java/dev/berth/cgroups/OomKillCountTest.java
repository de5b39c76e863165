package dev.berth.cgroups;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The OOM kill counter berth reports when a container exits (on fake counter files): read from
 * the hierarchy that serves memory, current on every read, through the driver's paths.
 */
class OomKillCountTest {
    @TempDir
    Path tmp;

    @Test
    void v2CountsComeFromMemoryEventsAndFollowTheKernel() throws Exception {
        Path root = tmp.resolve("unified");
        Path ctr = root.resolve("pod/ctr");
        Files.createDirectories(ctr);
        Files.writeString(ctr.resolve("memory.events"), "low 0\nhigh 0\nmax 0\noom 1\noom_kill 1\n");
        CgroupManager m = new CgroupManager(new CgroupLayout(root, Set.of("memory"), Map.of()), CgroupDriver.CGROUPFS);
        assertEquals(1, m.oomKills("/pod/ctr"));
        Files.writeString(ctr.resolve("memory.events"), "low 0\nhigh 0\nmax 3\noom 3\noom_kill 3\n");
        assertEquals(3, m.oomKills("/pod/ctr"), "kills since the last read are counted");
        assertEquals(3, m.oomKills("/pod/ctr"), "reading twice counts nothing new");
        assertEquals(0, m.oomKills("/pod/gone"), "a cgroup without the file has no kills");
    }

    @Test
    void v1CountsComeFromOomControlAndSystemdPathsResolve() throws Exception {
        Path root = tmp.resolve("memory");
        Path ctr = root.resolve("kubepods.slice/kubepods-pod1.slice/berth-c1.scope");
        Files.createDirectories(ctr);
        Files.writeString(ctr.resolve("memory.oom_control"), "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n");
        CgroupManager m = new CgroupManager(new CgroupLayout(null, Set.of(), Map.of("memory", root)), CgroupDriver.SYSTEMD);
        String handle = m.containerPath("/kubepods.slice/kubepods-pod1.slice", "c1");
        assertEquals(0, m.oomKills(handle));
        Files.writeString(ctr.resolve("memory.oom_control"), "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n");
        assertEquals(1, m.oomKills(handle));
        CgroupManager noMemory = new CgroupManager(new CgroupLayout(null, Set.of(), Map.of()), CgroupDriver.CGROUPFS);
        assertEquals(0, noMemory.oomKills("/kubepods.slice/kubepods-pod1.slice/berth-c1.scope"), "no memory controller, no kills");
    }
}
