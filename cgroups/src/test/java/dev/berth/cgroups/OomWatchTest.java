package dev.berth.cgroups;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The OOM watcher on fake counter files: only new kills are reported, and none is lost at the end. */
class OomWatchTest {
    @TempDir
    Path tmp;

    @Test
    void reportsNewKillsOnceAndDeliversTheLastOnesWhenClosed() throws Exception {
        Path root = tmp.resolve("unified");
        Path ctr = root.resolve("pod/ctr");
        Files.createDirectories(ctr);
        Files.writeString(ctr.resolve("memory.events"), "low 0\nhigh 0\nmax 0\noom 1\noom_kill 1\n");
        // a period long enough that only the explicit final poll can deliver
        CgroupManager m = new CgroupManager(new CgroupLayout(root, Set.of("memory"), Map.of()), CgroupDriver.CGROUPFS, 3_600_000);
        try {
            List<long[]> events = new CopyOnWriteArrayList<>();
            AutoCloseable watch = m.watchOom("/pod/ctr", (path, fresh, total) -> events.add(new long[] {fresh, total}));
            Files.writeString(ctr.resolve("memory.events"), "low 0\nhigh 0\nmax 3\noom 3\noom_kill 3\n");
            watch.close();
            assertEquals(1, events.size(), "kills before the watch began are not reported");
            assertEquals(2, events.get(0)[0]);
            assertEquals(3, events.get(0)[1]);
            watch.close();
            assertEquals(1, events.size(), "closing twice reports nothing new");
        } finally {
            m.close();
        }
    }

    @Test
    void removingTheCgroupDeliversPendingKillsFirst() throws Exception {
        Path root = tmp.resolve("memory");
        Path ctr = root.resolve("pod/ctr");
        Files.createDirectories(ctr);
        Files.writeString(ctr.resolve("memory.oom_control"), "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n");
        CgroupManager m = new CgroupManager(new CgroupLayout(null, Set.of(), Map.of("memory", root)), CgroupDriver.CGROUPFS, 3_600_000);
        try {
            List<Long> kills = new CopyOnWriteArrayList<>();
            m.watchOom("/pod/ctr", (path, fresh, total) -> kills.add(fresh));
            Files.writeString(ctr.resolve("memory.oom_control"), "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n");
            try {
                m.remove("/pod");
            } catch (dev.berth.common.BerthException notEmpty) {
                // a plain directory holding a file cannot be rmdir'ed like a cgroup; the watcher was told before
            }
            assertEquals(List.of(1L), kills);
        } finally {
            m.close();
        }
    }
}
