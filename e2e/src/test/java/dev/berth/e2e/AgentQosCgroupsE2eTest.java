package dev.berth.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.cgroups.CgroupDriver;
import dev.berth.cgroups.CgroupLayout;
import dev.berth.cgroups.CgroupManager;
import dev.berth.cri.v1.Container;
import dev.berth.cri.v1.ContainerFilter;
import dev.berth.cri.v1.ContainerState;
import dev.berth.cri.v1.ContainerStatusRequest;
import dev.berth.cri.v1.ListContainersRequest;
import dev.berth.cri.v1.ListPodSandboxRequest;
import dev.berth.cri.v1.PodSandbox;
import dev.berth.cri.v1.PodSandboxFilter;
import dev.berth.cri.v1.PodSandboxState;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code berth agent} keeps the pods' cgroups by QoS class: a Guaranteed, a Burstable and a
 * BestEffort static pod run with their processes in {@code kubepods/pod<uid>},
 * {@code kubepods/burstable/pod<uid>} and {@code kubepods/besteffort/pod<uid>} under a
 * test-only cgroup root, with the pod limits the kubelet gives; once the pods are removed their
 * cgroups are gone. The test root, the pods and the test's bridge are removed also when it fails.
 */
@Tag("root")
class AgentQosCgroupsE2eTest {
    private static final String IMAGE = "offline/agent-qos-e2e:1";
    private static final String NODE = "qos-node";
    private static final String BRIDGE = "berthqs0";
    private static final String SUBNET = "10.199.144.0/20";
    private static final long MIB = 1L << 20;

    @TempDir
    Path dir;

    private static String manifest(String name, String resources) {
        return """
                apiVersion: v1
                kind: Pod
                metadata: {name: %s}
                spec:
                  terminationGracePeriodSeconds: 0
                  containers:
                  - name: c
                    image: %s
                    imagePullPolicy: Never
                    command: ["/bin/sleep", "3600"]
                    resources: %s
                """.formatted(name, IMAGE, resources);
    }

    @Test
    void eachQosClassRunsInItsCgroupWithItsLimitsAndThePodCgroupsGoWithThePods() throws Exception {
        String cgroupRoot = "/berth-test-qos-" + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt());
        Path berthDir = dir.resolve("berth");
        Path manifests = Files.createDirectories(dir.resolve("manifests"));
        buildImage(berthDir.resolve("root"));
        Path config = Files.writeString(dir.resolve("agent.toml"), "[network]\ncni_config_dir = \"" + dir.resolve("net.d") + "\"\n"
                + "default_bridge = \"" + BRIDGE + "\"\ndefault_subnet = \"" + SUBNET + "\"\n"
                + "[agent]\npod_logs_dir = \"" + dir.resolve("logs") + "\"\nmanifest_rescan_interval = \"2s\"\n"
                + "cgroup_root = \"" + cgroupRoot + "\"\n");
        CgroupLayout layout = CgroupLayout.detect();
        boolean podsGone = false;
        try (BerthProcess agent = BerthProcess.startAgent(berthDir, "", "--config", config.toString(), "--metrics-address", "",
                "--node-name", NODE, "--pod-manifest-path", manifests.toString())) {
            Files.writeString(manifests.resolve("g.yaml"), manifest("g", "{requests: {cpu: 200m, memory: 64Mi}, limits: {cpu: 200m, memory: 64Mi}}"));
            Files.writeString(manifests.resolve("b.yaml"), manifest("b", "{requests: {cpu: 100m}, limits: {memory: 48Mi}}"));
            Files.writeString(manifests.resolve("e.yaml"), manifest("e", "{}"));
            String kubepods = cgroupRoot + "/kubepods";
            List<String> podCgroups = new ArrayList<>();
            for (String[] pod : new String[][] {{"g", ""}, {"b", "/burstable"}, {"e", "/besteffort"}}) {
                PodSandbox sandbox = await("pod " + pod[0] + " runs", () -> runningSandbox(agent, pod[0] + "-" + NODE));
                String podCgroup = kubepods + pod[1] + "/pod" + sandbox.getMetadata().getUid();
                podCgroups.add(podCgroup);
                long pid = pid(agent, container(agent, sandbox.getId()).getId());
                for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/cgroup"))) {
                    String[] f = line.split(":", 3);
                    Set<String> controllers = Set.of(f[1].split(","));
                    if (controllers.contains("cpu") || controllers.contains("memory") || controllers.contains("pids")
                            || f[0].equals("0") && layout.mode().equals("v2")) {
                        assertTrue(f[2].startsWith(podCgroup + "/"), "pod " + pod[0] + "'s process " + pid + ": " + line);
                    }
                }
            }
            String g = podCgroups.get(0);
            String b = podCgroups.get(1);
            String e = podCgroups.get(2);
            if (layout.onV1("cpu")) {
                assertEquals("204", read(layout, "cpu", g, "cpu.shares"), "200m");
                assertEquals("20000", read(layout, "cpu", g, "cpu.cfs_quota_us"));
                assertEquals("100000", read(layout, "cpu", g, "cpu.cfs_period_us"));
                assertEquals("102", read(layout, "cpu", b, "cpu.shares"), "100m");
                assertEquals("-1", read(layout, "cpu", b, "cpu.cfs_quota_us"), "no cpu limit");
                assertEquals("102", read(layout, "cpu", kubepods + "/burstable", "cpu.shares"), "the burstable pods' requests");
                assertEquals("2", read(layout, "cpu", e, "cpu.shares"));
                assertEquals("2", read(layout, "cpu", kubepods + "/besteffort", "cpu.shares"));
            } else {
                assertEquals("20000 100000", read(layout, "cpu", g, "cpu.max"));
                assertEquals("max 100000", read(layout, "cpu", b, "cpu.max"));
            }
            String memoryFile = layout.onV1("memory") ? "memory.limit_in_bytes" : "memory.max";
            assertEquals(Long.toString(64 * MIB), read(layout, "memory", g, memoryFile));
            assertEquals(Long.toString(48 * MIB), read(layout, "memory", b, memoryFile));

            for (String name : List.of("g.yaml", "b.yaml", "e.yaml")) {
                Files.delete(manifests.resolve(name));
            }
            await("the pods are gone", () -> agent.runtime().listPodSandbox(ListPodSandboxRequest.getDefaultInstance())
                    .getItemsCount() == 0 ? true : null);
            for (String podCgroup : podCgroups) {
                await("pod cgroup " + podCgroup + " is gone", () -> existsAnywhere(layout, podCgroup) ? null : true);
            }
            assertTrue(existsAnywhere(layout, kubepods + "/burstable"), "the QoS cgroups stay, as the kubelet's do");
            podsGone = true;
        } finally {
            cleanUp(berthDir, manifests, layout, cgroupRoot, podsGone);
        }
        assertFalse(existsAnywhere(layout, cgroupRoot), "the test's cgroup root is removed");
    }

    /**
     * Whatever a failed run left: a daemon on the same directories removes the pods the agent
     * left running (unless they are known to be gone), then whatever is left in the test's cgroup root is killed and the root
     * removed; then the test's bridge goes.
     */
    private static void cleanUp(Path berthDir, Path manifests, CgroupLayout layout, String cgroupRoot, boolean podsGone)
            throws Exception {
        AgentTests.emptyDirectory(manifests);
        try {
            if (!podsGone) {
                AgentTests.removeLeftoverPods(berthDir, berthDir.getParent().resolve("agent.toml"));
            }
        } finally {
            try {
                killAll(layout, cgroupRoot);
                new CgroupManager(layout, CgroupDriver.CGROUPFS).remove(cgroupRoot);
            } finally {
                AgentTests.deleteBridge(BRIDGE);
            }
        }
    }


    /** SIGKILLs what is left in the test's cgroup root (only a failed run leaves anything). */
    private static void killAll(CgroupLayout layout, String cgroupRoot) throws InterruptedException {
        for (int round = 0; round < 100; round++) {
            Set<Long> pids = new LinkedHashSet<>();
            for (Path h : hierarchies(layout)) {
                collectPids(h.resolve(cgroupRoot.substring(1)), pids);
            }
            pids.removeIf(pid -> ProcessHandle.of(pid).map(p -> !p.isAlive()).orElse(true));
            if (pids.isEmpty()) {
                return;
            }
            pids.forEach(pid -> ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly));
            Thread.sleep(50);
        }
    }

    private static void collectPids(Path cgroup, Set<Long> into) {
        if (!Files.isDirectory(cgroup)) {
            return;
        }
        try {
            for (String line : Files.readAllLines(cgroup.resolve("cgroup.procs"))) {
                if (!line.isBlank()) {
                    into.add(Long.parseLong(line.trim()));
                }
            }
            try (DirectoryStream<Path> children = Files.newDirectoryStream(cgroup, Files::isDirectory)) {
                for (Path child : children) {
                    collectPids(child, into);
                }
            }
        } catch (IOException e) {
            // removed meanwhile
        }
    }

    private static List<Path> hierarchies(CgroupLayout layout) {
        Set<Path> roots = new LinkedHashSet<>();
        if (layout.unifiedMount() != null) {
            roots.add(layout.unifiedMount());
        }
        roots.addAll(layout.v1Mounts().values());
        return new ArrayList<>(roots);
    }

    private static boolean existsAnywhere(CgroupLayout layout, String path) {
        return hierarchies(layout).stream().anyMatch(h -> Files.isDirectory(h.resolve(path.substring(1))));
    }

    private static String read(CgroupLayout layout, String controller, String path, String file) throws IOException {
        Path root = layout.onV2(controller) ? layout.unifiedMount() : layout.v1Mounts().get(CgroupLayout.v1Name(controller));
        return Files.readString(root.resolve(path.substring(1)).resolve(file)).trim();
    }

    private static PodSandbox runningSandbox(BerthProcess agent, String podName) {
        for (PodSandbox s : agent.runtime().listPodSandbox(ListPodSandboxRequest.newBuilder()
                .setFilter(PodSandboxFilter.newBuilder().putLabelSelector("io.kubernetes.pod.name", podName)).build()).getItemsList()) {
            if (s.getState() == PodSandboxState.SANDBOX_READY) {
                Container c = container(agent, s.getId());
                if (c != null && c.getState() == ContainerState.CONTAINER_RUNNING) {
                    return s;
                }
            }
        }
        return null;
    }

    private static Container container(BerthProcess agent, String sandboxId) {
        return agent.runtime().listContainers(ListContainersRequest.newBuilder().setFilter(ContainerFilter.newBuilder()
                .setPodSandboxId(sandboxId)).build()).getContainersList().stream().findFirst().orElse(null);
    }

    /** The container's process, from the verbose status berth gives. */
    private static long pid(BerthProcess agent, String containerId) {
        String info = agent.runtime().containerStatus(ContainerStatusRequest.newBuilder().setContainerId(containerId).setVerbose(true)
                .build()).getInfoOrThrow("info");
        Matcher m = Pattern.compile("\"pid\":(\\d+)").matcher(info);
        assertTrue(m.find(), info);
        return Long.parseLong(m.group(1));
    }

    private static <T> T await(String what, Callable<T> probe) throws Exception {
        return AgentTests.await(what, Duration.ofSeconds(60), probe);
    }

    /** A busybox image in the store under {@code root}, so the pods need no registry. */
    private void buildImage(Path root) throws IOException, InterruptedException {
        AgentTests.busyboxImage(dir, root, IMAGE);
    }
}
