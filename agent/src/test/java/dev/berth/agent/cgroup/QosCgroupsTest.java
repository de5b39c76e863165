package dev.berth.agent.cgroup;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.cgroups.CgroupDriver;
import dev.berth.cgroups.CgroupLayout;
import dev.berth.cgroups.CgroupManager;
import dev.berth.cgroups.Conversions;
import dev.berth.common.BerthException;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The kubepods tree on directory trees shaped like cgroupfs, v1 (a hierarchy per controller)
 * and v2 (one unified hierarchy). Regular files stand in for the kernel's interface files: a
 * cgroup the agent will make is laid out with its files first (the kernel makes them with the
 * directory), and before a removal a test takes the files away (rmdir of a real cgroup ignores
 * them).
 */
class QosCgroupsTest {
    private static final long GIB = 1L << 30;
    private static final long MIB = 1L << 20;
    private static final String ROOT = "/node-a";

    @TempDir
    Path tmp;

    private boolean v2;
    private CgroupManager cgroups;
    private QosCgroups qos;

    private void setUp(String mode) throws IOException {
        v2 = mode.equals("v2");
        CgroupLayout layout;
        if (v2) {
            Path unified = Files.createDirectories(tmp.resolve("unified"));
            Files.writeString(unified.resolve("cgroup.controllers"), "cpu memory pids\n");
            Files.writeString(unified.resolve("cgroup.subtree_control"), "");
            layout = new CgroupLayout(unified, Set.of("cpu", "memory", "pids"), Map.of());
        } else {
            Map<String, Path> mounts = new LinkedHashMap<>();
            for (String c : List.of("cpu", "cpuacct", "memory", "pids", "freezer")) {
                mounts.put(c, Files.createDirectories(tmp.resolve(c)));
            }
            layout = new CgroupLayout(null, Set.of(), mounts);
        }
        cgroups = new CgroupManager(layout, CgroupDriver.CGROUPFS);
        qos = new QosCgroups(cgroups, ROOT, new NodeAllocatable(2000, GIB), 1024L);
        for (String p : List.of(ROOT, ROOT + "/kubepods", ROOT + "/kubepods/burstable", ROOT + "/kubepods/besteffort")) {
            cgroup(p);
        }
    }

    private List<Path> hierarchies() {
        List<Path> out = new ArrayList<>();
        if (v2) {
            out.add(tmp.resolve("unified"));
        } else {
            for (String c : List.of("cpu", "cpuacct", "memory", "pids", "freezer")) {
                out.add(tmp.resolve(c));
            }
        }
        return out;
    }

    /** Lays out the cgroup {@code path} with the files the kernel would give it, in every hierarchy. */
    private void cgroup(String path) throws IOException {
        for (Path root : hierarchies()) {
            Path d = Files.createDirectories(root.resolve(path.substring(1)));
            List<String> files = v2 ? List.of("cpu.weight", "cpu.max", "memory.max", "pids.max", "cgroup.procs", "cgroup.subtree_control")
                    : List.of("cpu.shares", "cpu.cfs_period_us", "cpu.cfs_quota_us", "memory.limit_in_bytes", "pids.max", "cgroup.procs");
            for (String f : files) {
                if (!Files.exists(d.resolve(f))) {
                    Files.writeString(d.resolve(f), "");
                }
            }
            if (v2) {
                Files.writeString(d.resolve("cgroup.controllers"), "cpu memory pids\n");
            }
        }
    }

    /** What the kernel's rmdir does not mind: the interface files, taken away. */
    private void dropFiles(String path) throws IOException {
        for (Path root : hierarchies()) {
            Path d = root.resolve(path.substring(1));
            if (!Files.isDirectory(d)) {
                continue;
            }
            try (Stream<Path> files = Files.walk(d)) {
                for (Path f : files.filter(Files::isRegularFile).sorted(Comparator.reverseOrder()).toList()) {
                    Files.delete(f);
                }
            }
        }
    }

    private boolean existsAnywhere(String path) {
        return hierarchies().stream().anyMatch(r -> Files.isDirectory(r.resolve(path.substring(1))));
    }

    private String read(String controller, String path, String file) throws IOException {
        Path root = v2 ? tmp.resolve("unified") : tmp.resolve(controller);
        return Files.readString(root.resolve(path.substring(1)).resolve(file)).trim();
    }

    private String shares(String path) throws IOException {
        return v2 ? read("cpu", path, "cpu.weight") : read("cpu", path, "cpu.shares");
    }

    private String expectedShares(long shares) {
        return Long.toString(v2 ? Conversions.sharesToWeight(shares) : shares);
    }

    private String quota(String path) throws IOException {
        return v2 ? read("cpu", path, "cpu.max") : read("cpu", path, "cpu.cfs_quota_us") + " " + read("cpu", path, "cpu.cfs_period_us");
    }

    private String memory(String path) throws IOException {
        return v2 ? read("memory", path, "memory.max") : read("memory", path, "memory.limit_in_bytes");
    }

    private String unlimitedMemory() {
        return v2 ? "max" : "-1";
    }

    static Container container(String name, String cpuRequest, String cpuLimit, String memRequest, String memLimit) {
        ContainerBuilder b = new ContainerBuilder().withName(name).withImage("busybox");
        Map<String, Quantity> requests = new LinkedHashMap<>();
        Map<String, Quantity> limits = new LinkedHashMap<>();
        if (cpuRequest != null) {
            requests.put("cpu", new Quantity(cpuRequest));
        }
        if (memRequest != null) {
            requests.put("memory", new Quantity(memRequest));
        }
        if (cpuLimit != null) {
            limits.put("cpu", new Quantity(cpuLimit));
        }
        if (memLimit != null) {
            limits.put("memory", new Quantity(memLimit));
        }
        return b.withNewResources().withRequests(requests).withLimits(limits).endResources().build();
    }

    static Pod pod(String uid, Container... containers) {
        return new PodBuilder().withNewMetadata().withName("p-" + uid).withNamespace("default").withUid(uid).endMetadata()
                .withNewSpec().withContainers(containers).endSpec().build();
    }

    @ParameterizedTest
    @ValueSource(strings = {"v1", "v2"})
    void eachQosClassHasItsCgroupAndEachPodItsLimits(String mode) throws IOException {
        setUp(mode);
        qos.createTree();
        String kubepods = ROOT + "/kubepods";
        assertEquals(kubepods, qos.kubepods());
        assertEquals(expectedShares(2048), shares(kubepods), "2 cpus allocatable");
        assertEquals(Long.toString(GIB), memory(kubepods), "the allocatable memory");
        assertEquals(expectedShares(2), shares(kubepods + "/besteffort"));
        assertEquals(expectedShares(2), shares(kubepods + "/burstable"), "no burstable pod yet");

        Pod guaranteed = pod("g1", container("a", "500m", "500m", "128Mi", "128Mi"), container("b", null, "250m", null, "64Mi"));
        Pod burstable = pod("b1", container("a", "250m", null, null, "64Mi"));
        Pod bestEffort = pod("e1", container("a", null, null, null, null));
        assertEquals(kubepods + "/podg1", qos.parent(guaranteed));
        assertEquals(kubepods + "/burstable/podb1", qos.parent(burstable));
        assertEquals(kubepods + "/besteffort/pode1", qos.parent(bestEffort));
        for (Pod p : List.of(guaranteed, burstable, bestEffort)) {
            cgroup(qos.parent(p));
            qos.ensure(p);
        }

        String g = kubepods + "/podg1";
        assertEquals(expectedShares(768), shares(g), "750m requested");
        assertEquals(v2 ? "75000 100000" : "75000 100000", quota(g));
        assertEquals(Long.toString(192 * MIB), memory(g));
        assertEquals("1024", read("pids", g, "pids.max"));

        String b = kubepods + "/burstable/podb1";
        assertEquals(expectedShares(256), shares(b));
        assertEquals(v2 ? "max 100000" : "-1 100000", quota(b), "no cpu limit");
        assertEquals(Long.toString(64 * MIB), memory(b), "its only container limits memory");
        assertEquals(expectedShares(256), shares(kubepods + "/burstable"), "the burstable pods' requests");

        String e = kubepods + "/besteffort/pode1";
        assertEquals(expectedShares(2), shares(e));
        assertEquals(unlimitedMemory(), memory(e));

        // a second burstable pod raises its class's shares; its removal lowers them again
        Pod burstable2 = pod("b2", container("a", "100m", null, null, null), container("b", null, null, "10Mi", null));
        cgroup(qos.parent(burstable2));
        qos.ensure(burstable2);
        assertEquals(expectedShares(358), shares(kubepods + "/burstable"));
        assertEquals(unlimitedMemory(), memory(qos.parent(burstable2)), "not every container limits memory");
        dropFiles(qos.parent(burstable2));
        qos.released("b2");
        assertFalse(existsAnywhere(kubepods + "/burstable/podb2"));
        assertEquals(expectedShares(256), shares(kubepods + "/burstable"));
        assertTrue(qos.leftovers().isEmpty());
    }

    @ParameterizedTest
    @ValueSource(strings = {"v1", "v2"})
    void aPodCgroupWithProcessesIsLeftAndRemovedOnceTheyAreGone(String mode) throws IOException {
        setUp(mode);
        qos.createTree();
        Pod p = pod("u1", container("a", "100m", null, null, null));
        String path = qos.parent(p);
        cgroup(path);
        qos.ensure(p);
        // a container's cgroup below the pod's, as the runtime makes it, with a process in it
        cgroup(path + "/ctr1");
        Path procs = hierarchies().get(hierarchies().size() - 1).resolve(path.substring(1) + "/ctr1/cgroup.procs");
        Files.writeString(procs, "4242\n");
        qos.released("u1");
        assertTrue(existsAnywhere(path + "/ctr1"), "never forced");
        assertEquals(Set.of(path), qos.leftovers());
        qos.retryLeftovers();
        assertEquals(Set.of(path), qos.leftovers(), "still a process");

        Files.writeString(procs, "");
        dropFiles(path);
        qos.retryLeftovers();
        assertFalse(existsAnywhere(path));
        assertTrue(qos.leftovers().isEmpty());
    }

    @ParameterizedTest
    @ValueSource(strings = {"v1", "v2"})
    void aPodBackBeforeItsLeftoverIsRemovedKeepsItsCgroup(String mode) throws IOException {
        setUp(mode);
        qos.createTree();
        Pod p = pod("u2", container("a", null, null, null, null));
        String path = qos.parent(p);
        cgroup(path);
        qos.ensure(p);
        Path procs = hierarchies().get(0).resolve(path.substring(1) + "/cgroup.procs");
        Files.writeString(procs, "4242\n");
        qos.released("u2");
        assertEquals(Set.of(path), qos.leftovers());
        qos.ensure(p);
        assertTrue(qos.leftovers().isEmpty(), "the pod is back: its cgroup is its own again");
        Files.writeString(procs, "");
        dropFiles(path);
        qos.retryLeftovers();
        assertTrue(Files.isDirectory(hierarchies().get(0).resolve(path.substring(1))));
    }

    @ParameterizedTest
    @ValueSource(strings = {"v1", "v2"})
    void aPodCgroupTheRuntimeRemovedAlreadyIsNoError(String mode) throws IOException {
        setUp(mode);
        qos.createTree();
        Pod p = pod("u3", container("a", "1", "1", "1Gi", "1Gi"));
        String path = qos.parent(p);
        cgroup(path);
        qos.ensure(p);
        dropFiles(path);
        cgroups.remove(path); // what berth's RemovePodSandbox does
        qos.released("u3");
        qos.released("u3");
        assertTrue(qos.leftovers().isEmpty());
        assertFalse(existsAnywhere(path));
        assertTrue(existsAnywhere(ROOT + "/kubepods"), "the tree stays");
    }

    @ParameterizedTest
    @ValueSource(strings = {"v1", "v2"})
    void aCgroupRemovedUnderTheAgentIsMadeAgainOnTheNextEnsure(String mode) throws IOException {
        setUp(mode);
        qos.createTree();
        Pod p = pod("u4", container("a", "200m", "400m", "32Mi", "32Mi"));
        String path = qos.parent(p);
        cgroup(path);
        qos.ensure(p);
        dropFiles(path);
        cgroups.remove(path); // berth removed it with an old sandbox of the pod
        // the directory is made again; here the writes fail, as a plain directory has no interface files
        assertThrows(BerthException.class, () -> qos.ensure(p));
        assertTrue(existsAnywhere(path), "made again");
        cgroup(path);
        qos.ensure(p);
        assertEquals(v2 ? "40000 100000" : "40000 100000", quota(path), "the limits again");
        assertEquals(Long.toString(32 * MIB), memory(path));
    }

    @ParameterizedTest
    @ValueSource(strings = {"v1", "v2"})
    void orphansAreRemovedButNotPodsWithASandbox(String mode) throws IOException {
        setUp(mode);
        qos.createTree();
        String kubepods = ROOT + "/kubepods";
        for (String p : List.of(kubepods + "/podold", kubepods + "/burstable/podkept", kubepods + "/besteffort/podgone")) {
            cgroup(p);
            dropFiles(p);
        }
        qos.removeOrphans(Set.of("kept"));
        assertFalse(existsAnywhere(kubepods + "/podold"));
        assertFalse(existsAnywhere(kubepods + "/besteffort/podgone"));
        assertTrue(existsAnywhere(kubepods + "/burstable/podkept"));
        assertTrue(existsAnywhere(kubepods + "/burstable"), "QoS cgroups are not pods");
    }

    @Test
    void theRootMustBeAnAbsoluteCgroupPath() throws IOException {
        setUp("v1");
        assertThrows(IllegalArgumentException.class, () -> new QosCgroups(cgroups, "kubelet", NodeAllocatable.UNENFORCED, null));
        assertThrows(RuntimeException.class, () -> new QosCgroups(cgroups, "/a/../b", NodeAllocatable.UNENFORCED, null));
        assertEquals("/kubepods", new QosCgroups(cgroups, "/", NodeAllocatable.UNENFORCED, null).kubepods());
        assertThrows(IllegalArgumentException.class, () -> new QosCgroups(new CgroupManager(cgroups.layout(), CgroupDriver.SYSTEMD), "/",
                NodeAllocatable.UNENFORCED, null));
    }

    @ParameterizedTest
    @ValueSource(strings = {"v1", "v2"})
    void unenforcedAllocatableLeavesKubepodsUnlimited(String mode) throws IOException {
        setUp(mode);
        new QosCgroups(cgroups, ROOT, NodeAllocatable.UNENFORCED, null).createTree();
        assertEquals(unlimitedMemory(), memory(ROOT + "/kubepods"));
        assertEquals("", shares(ROOT + "/kubepods"), "shares stay the kernel's");
    }
}
