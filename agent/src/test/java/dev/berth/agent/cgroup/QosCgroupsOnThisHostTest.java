package dev.berth.agent.cgroup;

import static dev.berth.agent.cgroup.QosCgroupsTest.container;
import static dev.berth.agent.cgroup.QosCgroupsTest.pod;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.berth.cgroups.CgroupDriver;
import dev.berth.cgroups.CgroupLayout;
import dev.berth.cgroups.CgroupManager;
import dev.berth.cgroups.Conversions;
import io.fabric8.kubernetes.api.model.Pod;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The kubepods tree in this host's real hierarchies (v1 on a hybrid host), under a random
 * {@code /berth-test-qos-*} cgroup root that is removed after each test, also when it fails,
 * and checked gone.
 */
@Tag("root")
class QosCgroupsOnThisHostTest {
    private static final long MIB = 1L << 20;

    private CgroupLayout layout;
    private CgroupManager cgroups;
    private String root;
    private final List<Process> processes = new ArrayList<>();

    @BeforeEach
    void setUp() {
        assumeTrue("root".equals(System.getProperty("user.name")), "needs root to create cgroups");
        layout = CgroupLayout.detect();
        assumeTrue(layout.available().containsAll(List.of("cpu", "memory", "pids")), "no cpu/memory/pids controllers: " + layout.describe());
        cgroups = new CgroupManager(layout, CgroupDriver.CGROUPFS);
        root = "/berth-test-qos-" + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt());
    }

    @AfterEach
    void tearDown() throws InterruptedException {
        if (cgroups == null) {
            return;
        }
        for (Process p : processes) {
            p.destroyForcibly();
            p.waitFor(10, TimeUnit.SECONDS);
        }
        cgroups.remove(root);
        assertFalse(existsAnywhere(root), "test cgroups left behind under " + root);
    }

    private List<Path> hierarchies() {
        Set<Path> roots = new LinkedHashSet<>();
        if (layout.unifiedMount() != null) {
            roots.add(layout.unifiedMount());
        }
        roots.addAll(layout.v1Mounts().values());
        return new ArrayList<>(roots);
    }

    private boolean existsAnywhere(String path) {
        return hierarchies().stream().anyMatch(r -> Files.isDirectory(r.resolve(path.substring(1))));
    }

    private Path dir(String controller, String path) {
        Path r = layout.onV2(controller) ? layout.unifiedMount() : layout.v1Mounts().get(CgroupLayout.v1Name(controller));
        return r.resolve(path.substring(1));
    }

    private String read(String controller, String path, String file) throws IOException {
        return Files.readString(dir(controller, path).resolve(file)).trim();
    }

    @Test
    void theTreeAndAPodCgroupAreMadeLimitedAndRemovedOnceTheirProcessesAreGone() throws Exception {
        QosCgroups qos = new QosCgroups(cgroups, root, new NodeAllocatable(1500, 512 * MIB), 64L);
        qos.createTree();
        String kubepods = root + "/kubepods";
        boolean v2 = layout.onV2("cpu");
        assertEquals(v2 ? Long.toString(Conversions.sharesToWeight(1536)) : "1536", v2 ? read("cpu", kubepods, "cpu.weight")
                : read("cpu", kubepods, "cpu.shares"));
        assertEquals(Long.toString(512 * MIB), read("memory", kubepods, layout.onV2("memory") ? "memory.max" : "memory.limit_in_bytes"));
        assertTrue(Files.isDirectory(dir("cpu", kubepods + "/burstable")));
        assertTrue(Files.isDirectory(dir("cpu", kubepods + "/besteffort")));

        Pod p = pod("4f1c2d9e-0000-4000-8000-000000000001", container("a", "250m", "250m", "32Mi", "32Mi"));
        String path = qos.parent(p);
        assertEquals(kubepods + "/pod4f1c2d9e-0000-4000-8000-000000000001", path);
        qos.ensure(p);
        if (v2) {
            assertEquals("25000 100000", read("cpu", path, "cpu.max"));
            assertEquals(Long.toString(32 * MIB), read("memory", path, "memory.max"));
        } else {
            assertEquals("256", read("cpu", path, "cpu.shares"));
            assertEquals("25000", read("cpu", path, "cpu.cfs_quota_us"));
            assertEquals("100000", read("cpu", path, "cpu.cfs_period_us"));
            assertEquals(Long.toString(32 * MIB), read("memory", path, "memory.limit_in_bytes"));
        }
        assertEquals("64", read("pids", path, "pids.max"));

        // a process in the pod's cgroup (in every hierarchy that has it), as a container's would be
        Process sleep = new ProcessBuilder("sleep", "600").start();
        processes.add(sleep);
        for (Path h : hierarchies()) {
            Path d = h.resolve(path.substring(1));
            if (Files.isDirectory(d)) {
                Files.writeString(d.resolve("cgroup.procs"), Long.toString(sleep.pid()));
            }
        }
        qos.released(p.getMetadata().getUid());
        assertEquals(Set.of(path), qos.leftovers(), "a cgroup with a process is left");
        assertTrue(Files.isDirectory(dir("cpu", path)));
        assertTrue(sleep.isAlive(), "never forced");

        sleep.destroyForcibly();
        sleep.waitFor();
        qos.retryLeftovers();
        assertEquals(Set.of(), qos.leftovers());
        assertFalse(existsAnywhere(path), "gone from every hierarchy");
        assertTrue(Files.isDirectory(dir("cpu", kubepods)), "the tree stays");
        qos.close();
    }
}
