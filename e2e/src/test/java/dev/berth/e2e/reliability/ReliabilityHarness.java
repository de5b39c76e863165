package dev.berth.e2e.reliability;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.berth.cri.v1.Container;
import dev.berth.cri.v1.ContainerState;
import dev.berth.cri.v1.ContainerStatusRequest;
import dev.berth.cri.v1.ContainerStatusResponse;
import dev.berth.cri.v1.ContainerConfig;
import dev.berth.cri.v1.ContainerMetadata;
import dev.berth.cri.v1.CreateContainerRequest;
import dev.berth.cri.v1.ImageServiceGrpc;
import dev.berth.cri.v1.ImageSpec;
import dev.berth.cri.v1.LinuxContainerConfig;
import dev.berth.cri.v1.LinuxContainerSecurityContext;
import dev.berth.cri.v1.LinuxPodSandboxConfig;
import dev.berth.cri.v1.LinuxSandboxSecurityContext;
import dev.berth.cri.v1.ListContainersRequest;
import dev.berth.cri.v1.ListPodSandboxRequest;
import dev.berth.cri.v1.NamespaceMode;
import dev.berth.cri.v1.NamespaceOption;
import dev.berth.cri.v1.PodSandbox;
import dev.berth.cri.v1.PodSandboxConfig;
import dev.berth.cri.v1.PodSandboxMetadata;
import dev.berth.cri.v1.PodSandboxState;
import dev.berth.cri.v1.PodSandboxStatusRequest;
import dev.berth.cri.v1.PodSandboxStatusResponse;
import dev.berth.cri.v1.RemoveContainerRequest;
import dev.berth.cri.v1.RemovePodSandboxRequest;
import dev.berth.cri.v1.RunPodSandboxRequest;
import dev.berth.cri.v1.RuntimeServiceGrpc;
import dev.berth.cri.v1.StopContainerRequest;
import dev.berth.cri.v1.StopPodSandboxRequest;
import dev.berth.e2e.BerthProcess;
import dev.berth.images.testing.TestImage;
import dev.berth.images.testing.TestLayer;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * One berth daemon for a reliability suite, on a network of its own (bridge {@value #BRIDGE},
 * subnet {@value #SUBNET}) so that it never meets the daemons of other test runs, with pods in
 * cgroups below a parent unique to the test, and the requests the suites send. {@link #close()}
 * is a safety net for a failed test: it takes down what the daemon may have left (processes,
 * mounts, the bridge, cgroups, iptables rules) so that nothing stays on the host.
 */
final class ReliabilityHarness implements AutoCloseable {
    static final String BRIDGE = "berthrel0";
    static final String SUBNET = "10.199.160.0/20";
    static final String IMAGE = "docker.io/e2e/reliability:1";
    /** Deadline of every CRI call: long enough for a loaded 2-core machine, short enough that a hang fails the test. */
    static final long CALL_SECONDS = 120;
    private static final Pattern ID = Pattern.compile("(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])");
    private static final ObjectMapper JSON = new ObjectMapper();

    final Path dir;
    final Path logs;
    final String cgroupParent;
    final BerthProcess berth;

    private ReliabilityHarness(Path dir, String cgroupParent, BerthProcess berth) {
        this.dir = dir;
        this.logs = dir.resolve("logs");
        this.cgroupParent = cgroupParent;
        this.berth = berth;
    }

    /** The daemon's config: the suite's network, metrics off; {@code extraToml} is appended. */
    static Path writeConfig(Path dir, String extraToml) throws IOException {
        Files.createDirectories(dir);
        Path config = dir.resolve("berth-reliability.toml");
        Files.writeString(config, "[network]\n"
                + "cni_config_dir = \"" + dir.resolve("net.d") + "\"\n"
                + "default_bridge = \"" + BRIDGE + "\"\n"
                + "default_subnet = \"" + SUBNET + "\"\n"
                + "[metrics]\n"
                + "address = \"\"\n"
                + extraToml, StandardCharsets.UTF_8);
        return config;
    }

    /** A cgroup parent nobody else uses: {@code /berthrel-<suite>-<random>}. */
    static String uniqueCgroupParent(String suite) {
        byte[] b = new byte[4];
        ThreadLocalRandom.current().nextBytes(b);
        return "/berthrel-" + suite + "-" + HexFormat.of().formatHex(b);
    }

    /** Starts berth in {@code dir/berth} with the suite's config. */
    static ReliabilityHarness start(Path dir, String suite) throws Exception {
        Path home = dir.resolve("berth");
        Path config = writeConfig(dir, "");
        return new ReliabilityHarness(dir, uniqueCgroupParent(suite), BerthProcess.startWithMaxHeap(home, "256m", "--config", config.toString()));
    }

    /** The CRI runtime service with a deadline on the call. */
    RuntimeServiceGrpc.RuntimeServiceBlockingStub rt() {
        return berth.runtime().withDeadlineAfter(CALL_SECONDS, TimeUnit.SECONDS);
    }

    /** The CRI image service with a deadline on the call. */
    ImageServiceGrpc.ImageServiceBlockingStub images() {
        return berth.images().withDeadlineAfter(CALL_SECONDS, TimeUnit.SECONDS);
    }

    /** The census of this daemon's resources; {@code ignored} are files the test itself puts under the root. */
    LeakCensus census(Set<Path> ignored) {
        return new LeakCensus(berth.root(), berth.runRoot(), BRIDGE, SUBNET, List.of(cgroupParent), ignored);
    }

    /** A busybox image ({@code sh}, {@code sleep}, ...) imported with {@code berth image import}; returns its id. */
    String importImage() throws Exception {
        return importImage(berth.root(), dir.resolve("image.tar"));
    }

    static String importImage(Path root, Path archive) throws Exception {
        TestLayer layer = TestLayer.busybox();
        for (String applet : List.of("sleep", "echo", "cat", "true")) {
            layer.symlink("bin/" + applet, "busybox");
        }
        TestImage.of(layer.build(TestLayer.Compression.NONE)).writeDockerSave(archive, "e2e/reliability:1");
        Process p = new ProcessBuilder(BerthProcess.launcher().toString(), "image", "import", archive.toString(),
                "--root", root.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), out);
        return out.strip().split("\\s+")[0];
    }

    /**
     * A pod on the suite's network, in its own cgroup below the test's parent; with
     * {@code sharedPid} its containers share a PID namespace held by an infra process.
     */
    RunPodSandboxRequest pod(String name, boolean sharedPid) {
        return RunPodSandboxRequest.newBuilder().setConfig(podConfig(name, sharedPid)).build();
    }

    PodSandboxConfig podConfig(String name, boolean sharedPid) {
        return PodSandboxConfig.newBuilder()
                .setMetadata(PodSandboxMetadata.newBuilder().setName(name).setNamespace("reliability").setUid("uid-" + name))
                .setHostname(name.length() > 63 ? name.substring(0, 63) : name)
                .setLogDirectory(logs.resolve(name).toString())
                .putLabels("suite", "reliability")
                .setLinux(LinuxPodSandboxConfig.newBuilder()
                        .setCgroupParent(cgroupParent + "/pod-" + name)
                        .setSecurityContext(LinuxSandboxSecurityContext.newBuilder().setNamespaceOptions(NamespaceOption.newBuilder()
                                .setPid(sharedPid ? NamespaceMode.POD : NamespaceMode.CONTAINER))))
                .build();
    }

    /**
     * A container that runs until SIGTERM, which ends it at once (its shell traps it, also as
     * PID 1 of its own PID namespace).
     */
    static CreateContainerRequest container(String podId, PodSandboxConfig pod, String name) {
        NamespaceMode pid = pod.getLinux().getSecurityContext().getNamespaceOptions().getPid();
        return CreateContainerRequest.newBuilder().setPodSandboxId(podId).setSandboxConfig(pod).setConfig(ContainerConfig.newBuilder()
                .setMetadata(ContainerMetadata.newBuilder().setName(name))
                .setImage(ImageSpec.newBuilder().setImage(IMAGE))
                .addCommand("sh").addArgs("-c").addArgs("trap 'exit 0' TERM; echo up; sleep 100000 & wait")
                .setLogPath(name + "/0.log")
                .putLabels("name", name)
                .setLinux(LinuxContainerConfig.newBuilder().setSecurityContext(LinuxContainerSecurityContext.newBuilder()
                        .setNamespaceOptions(NamespaceOption.newBuilder().setPid(pid)))))
                .build();
    }

    /** Stops and removes every container and pod the daemon lists; each call must succeed. */
    void removeEverything() {
        for (Container c : rt().listContainers(ListContainersRequest.getDefaultInstance()).getContainersList()) {
            rt().stopContainer(StopContainerRequest.newBuilder().setContainerId(c.getId()).setTimeout(10).build());
            rt().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(c.getId()).build());
        }
        for (PodSandbox p : rt().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsList()) {
            rt().stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(p.getId()).build());
            rt().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(p.getId()).build());
        }
    }

    /** One pod with two started containers, then all removed: what the daemon makes once for all pods exists before a census. */
    void warmUp() {
        PodSandboxConfig cfg = podConfig("warm-up", true);
        String pod = rt().runPodSandbox(RunPodSandboxRequest.newBuilder().setConfig(cfg).build()).getPodSandboxId();
        for (String name : List.of("w0", "w1")) {
            String c = rt().createContainer(container(pod, cfg, name)).getContainerId();
            rt().startContainer(dev.berth.cri.v1.StartContainerRequest.newBuilder().setContainerId(c).build());
        }
        removeEverything();
    }

    /**
     * What the daemon lists, each listed object checked against the host (see {@link View}), and
     * every leftover of an object it does not list: a mount, state file, image hold, conmon or
     * other process, cgroup or IP lease naming an id the daemon does not list, a veth on the bridge that is no
     * listed pod's.
     */
    View view() throws IOException {
        List<String> problems = new ArrayList<>();
        Map<String, PodSandbox> pods = new LinkedHashMap<>();
        rt().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsList().forEach(p -> pods.put(p.getId(), p));
        Map<String, Container> containers = new LinkedHashMap<>();
        rt().listContainers(ListContainersRequest.getDefaultInstance()).getContainersList().forEach(c -> containers.put(c.getId(), c));
        Set<String> mounts = new HashSet<>(census(Set.of()).mounts());
        Map<String, JsonNode> containerInfo = new HashMap<>();
        Set<String> podCgroups = new HashSet<>();
        Map<String, Boolean> sharedPids = new HashMap<>();
        List<String> podNetns = new ArrayList<>();

        // every listed pod is whole
        for (PodSandbox p : pods.values()) {
            PodSandboxStatusResponse s;
            try {
                s = rt().podSandboxStatus(PodSandboxStatusRequest.newBuilder().setPodSandboxId(p.getId()).setVerbose(true).build());
            } catch (StatusRuntimeException e) {
                problems.add("pod " + p.getId() + " is listed but its status fails: " + e.getStatus());
                continue;
            }
            JsonNode info = JSON.readTree(s.getInfoOrDefault("info", "{}"));
            String cgroup = info.path("cgroupPath").asText();
            sharedPids.put(p.getId(), s.getStatus().getLinux().getNamespaces().getOptions().getPid()
                    == dev.berth.cri.v1.NamespaceMode.POD);
            podCgroups.add(cgroup);
            if (s.getStatus().getState() == PodSandboxState.SANDBOX_READY) {
                String netns = info.path("netnsPath").asText();
                if (netns.isEmpty() || !mounts.contains(netns)) {
                    problems.add("ready pod " + p.getId() + " has no pinned network namespace (" + netns + ")");
                }
                if (s.getStatus().getNetwork().getIp().isEmpty()) {
                    problems.add("ready pod " + p.getId() + " has no address");
                }
                if (cgroup.isEmpty() || !Files.isDirectory(Path.of("/sys/fs/cgroup/memory", cgroup))) {
                    problems.add("ready pod " + p.getId() + " has no cgroup (" + cgroup + ")");
                }
                long infra = info.path("pid").asLong();
                if (p.getMetadata().getName().isEmpty()) {
                    problems.add("pod " + p.getId() + " has no name");
                }
                if (sharedPids.get(p.getId()) && !alive(infra)) {
                    problems.add("ready pod " + p.getId() + " shares a PID namespace but its infra process " + infra + " is not running");
                }
            }
            String netnsPin = info.path("netnsPath").asText();
            if (!netnsPin.isEmpty() && mounts.contains(netnsPin)) {
                podNetns.add(netnsPin);
            }
        }
        // every listed container is whole and belongs to a listed pod
        for (Container c : containers.values()) {
            if (!pods.containsKey(c.getPodSandboxId())) {
                problems.add("container " + c.getId() + " is listed but its pod " + c.getPodSandboxId() + " is not");
            }
            ContainerStatusResponse s;
            try {
                s = rt().containerStatus(ContainerStatusRequest.newBuilder().setContainerId(c.getId()).setVerbose(true).build());
            } catch (StatusRuntimeException e) {
                problems.add("container " + c.getId() + " is listed but its status fails: " + e.getStatus());
                continue;
            }
            JsonNode info = JSON.readTree(s.getInfoOrDefault("info", "{}"));
            containerInfo.put(c.getId(), info);
            if (s.getStatus().getState() != c.getState()) {
                problems.add("container " + c.getId() + " is listed " + c.getState() + " but its status says " + s.getStatus().getState());
            }
            if (s.getStatus().getState() == ContainerState.CONTAINER_RUNNING) {
                if (!alive(info.path("pid").asLong())) {
                    problems.add("running container " + c.getId() + " has no process " + info.path("pid").asLong());
                }
                if (!alive(info.path("conmonPid").asLong())) {
                    problems.add("running container " + c.getId() + " has no conmon " + info.path("conmonPid").asLong());
                }
                if (!mounts.contains(berth.runRoot().resolve("rootfs").resolve(c.getId()).toString())) {
                    problems.add("running container " + c.getId() + " has no mounted root filesystem");
                }
            }
            // the OCI runtime's word: a container listed CREATED or EXITED must not be running
            String runtimeStatus = runtimeStatus(c.getId());
            if (s.getStatus().getState() != ContainerState.CONTAINER_RUNNING && "running".equals(runtimeStatus)) {
                problems.add("container " + c.getId() + " is listed " + s.getStatus().getState() + " but runc says it is running");
            }
            if (s.getStatus().getState() != ContainerState.CONTAINER_UNKNOWN
                    && !Files.isDirectory(berth.root().resolve("container-layers").resolve(c.getId()))) {
                problems.add("container " + c.getId() + " has no writable layer");
            }
        }

        // what is not listed left nothing behind
        Set<String> known = new HashSet<>(pods.keySet());
        known.addAll(containers.keySet());
        LeakCensus census = census(Set.of());
        for (String m : census.mounts()) {
            orphan(problems, known, "mount", m);
        }
        for (String f : census.stateFiles()) {
            orphan(problems, known, "state file", f);
        }
        for (String hold : census.take().items().get("image holds").keySet()) {
            Matcher id = ID.matcher(hold);
            if (!id.find() || !containers.containsKey(id.group())) {
                problems.add("an image hold of no listed container: " + hold);
            }
        }
        for (String conmon : census.conmons()) {
            if (containers.keySet().stream().noneMatch(conmon::contains)) {
                problems.add("a conmon of no listed container: " + conmon);
            }
        }
        for (String process : census.otherProcesses()) {
            orphan(problems, known, "process", process);
        }
        for (String cg : census.cgroups()) {
            String path = cg.substring(cg.indexOf(':') + 1);
            boolean ours = podCgroups.stream().anyMatch(pc -> !pc.isEmpty() && (path.equals(pc) || path.startsWith(pc + "/")));
            Matcher m = ID.matcher(path);
            boolean unknownId = false;
            while (m.find()) {
                unknownId |= !known.contains(m.group());
            }
            if (!ours || unknownId) {
                problems.add("a cgroup of no listed pod or container: " + cg);
            }
        }
        Path ipam = berth.root().resolve("cni/ipam");
        for (String lease : census.ipLeases()) {
            String holder = Files.readAllLines(ipam.resolve(lease), StandardCharsets.UTF_8).stream().findFirst().orElse("").strip();
            if (!pods.containsKey(holder)) {
                problems.add("IP lease " + lease + " of " + holder + ", which is no listed pod");
            }
        }
        // a veth whose pod is not listed is left over; the kernel removes the veth of a released
        // network namespace a moment after, so such a veth is looked at again for a while first
        Set<Integer> podVeths = new HashSet<>();
        for (String netns : podNetns) {
            Matcher peer = Pattern.compile("^\\d+: eth0@if(\\d+):", Pattern.MULTILINE)
                    .matcher(LeakCensus.run("nsenter", "--net=" + netns, "ip", "-o", "link", "show"));
            if (peer.find()) {
                podVeths.add(Integer.parseInt(peer.group(1)));
            }
        }
        Map<Integer, String> strayVeths = strayVeths(podVeths);
        for (int i = 0; i < 100 && !strayVeths.isEmpty(); i++) {
            sleep(100);
            strayVeths = strayVeths(podVeths);
        }
        strayVeths.values().forEach(v -> problems.add("a veth of no listed pod: " + v));

        return new View(pods, containers, containerInfo, sharedPids, problems);
    }

    /**
     * The daemon's pods and containers, and what is wrong with them: a listed pod whose status
     * fails, or that is READY without its pinned network namespace, address, cgroup or (sharing a
     * PID namespace) infra process; a listed container whose pod is not listed, whose status
     * fails or disagrees with the list, that has no writable layer, that is RUNNING without its
     * process, its conmon or its mounted root filesystem, or that is CREATED or EXITED while runc
     * says it runs; and leftovers of what is not listed.
     */
    record View(Map<String, PodSandbox> pods, Map<String, Container> containers, Map<String, JsonNode> containerInfo,
            Map<String, Boolean> sharedPids, List<String> problems) {
    }

    /** The status runc gives a container ("created", "running", "stopped"), or "" when it knows none. */
    private String runtimeStatus(String id) throws IOException {
        Path runtimeRoot = berth.runRoot().resolve("runtimes/runc");
        Process p = new ProcessBuilder("runc", "--root", runtimeRoot.toString(), "state", id).redirectErrorStream(false).start();
        p.getErrorStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        try {
            p.waitFor();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
        return p.exitValue() == 0 ? JSON.readTree(out).path("status").asText() : "";
    }

    /** Interfaces on the bridge (by index) that are not the host side of a listed pod's eth0. */
    private static Map<Integer, String> strayVeths(Set<Integer> podVeths) {
        Map<Integer, String> out = new java.util.TreeMap<>();
        if (!Files.exists(Path.of("/sys/class/net", BRIDGE))) {
            return out;
        }
        for (String line : LeakCensus.run("ip", "-o", "link", "show", "master", BRIDGE).lines().toList()) {
            String[] f = line.split(":\\s+", 3);
            int index = Integer.parseInt(f[0].strip());
            if (!podVeths.contains(index)) {
                out.put(index, f[1]);
            }
        }
        return out;
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** A state path, mount or process naming an id the daemon does not list is left over. */
    private static void orphan(List<String> problems, Set<String> known, String kind, String path) {
        Matcher m = ID.matcher(path);
        while (m.find()) {
            if (!known.contains(m.group())) {
                problems.add("a " + kind + " of " + m.group() + ", which is not listed: " + path);
                return;
            }
        }
    }

    static boolean alive(long pid) throws IOException {
        Path stat = Path.of("/proc/" + pid + "/stat");
        if (pid <= 0 || !Files.exists(stat)) {
            return false;
        }
        try {
            String s = Files.readString(stat);
            return s.charAt(s.lastIndexOf(')') + 2) != 'Z';
        } catch (java.nio.file.NoSuchFileException e) {
            return false;
        }
    }

    @Override
    public void close() throws Exception {
        try {
            if (berth.process().isAlive()) {
                try {
                    removeEverything();
                } catch (StatusRuntimeException e) {
                    System.err.println("reliability cleanup: " + e);
                }
            }
        } finally {
            berth.close();
            keepLog();
            sweepHost(dir, berth.runRoot(), List.of(cgroupParent));
        }
    }

    /** Copies the daemon's log to {@code target/reliability-logs/} (the test's directory is deleted). */
    private void keepLog() {
        try {
            Path logs = Files.createDirectories(Path.of("target", "reliability-logs"));
            Files.copy(berth.log(), logs.resolve(cgroupParent.substring(1) + ".log"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            System.err.println("reliability: cannot keep the daemon log: " + e);
        }
    }

    /**
     * Takes down what a failed test may have left: processes of the test's cgroups and conmons
     * of its run root, mounts under {@code dir} (deepest first), the bridge, the cgroups below
     * the parents (and the parents), and iptables rules naming the suite's subnet.
     */
    static void sweepHost(Path dir, Path runRoot, List<String> cgroupParents) throws Exception {
        LeakCensus census = new LeakCensus(dir, runRoot, BRIDGE, SUBNET, cgroupParents, Set.of());
        for (String process : census.conmons()) {
            sh("kill -KILL " + process.split(" ")[0]);
        }
        for (String process : census.otherProcesses()) {
            sh("kill -KILL " + process.split(" ")[0]);
        }
        List<Path> cgroupDirs = new ArrayList<>();
        try (Stream<Path> hierarchies = Files.list(Path.of("/sys/fs/cgroup"))) {
            for (Path h : hierarchies.toList()) {
                for (String parent : cgroupParents) {
                    Path top = h.resolve(parent.replaceAll("^/+", ""));
                    if (Files.isDirectory(top)) {
                        try (Stream<Path> all = Files.walk(top)) {
                            all.filter(Files::isDirectory).forEach(cgroupDirs::add);
                        }
                    }
                }
            }
        }
        for (Path cg : cgroupDirs) {
            Path procs = cg.resolve("cgroup.procs");
            if (Files.exists(procs)) {
                for (String pid : Files.readAllLines(procs)) {
                    if (!pid.isBlank()) {
                        sh("kill -KILL " + pid.strip());
                    }
                }
            }
        }
        List<String> mounts = census.mounts();
        for (int i = mounts.size() - 1; i >= 0; i--) {
            sh("umount --lazy '" + mounts.get(i) + "'");
        }
        if (Files.exists(Path.of("/sys/class/net", BRIDGE))) {
            sh("ip link delete " + BRIDGE);
        }
        cgroupDirs.sort(Collections.reverseOrder((a, b) -> Integer.compare(a.getNameCount(), b.getNameCount())));
        for (Path cg : cgroupDirs) {
            for (int attempt = 0; attempt < 50 && Files.exists(cg); attempt++) {
                try {
                    Files.delete(cg);
                } catch (IOException e) {
                    Thread.sleep(100); // the kernel drains a killed cgroup in a moment
                }
            }
        }
        Set<String> chains = new java.util.LinkedHashSet<>();
        for (String rule : census.iptablesRules()) {
            String[] f = rule.split(" ", 2);
            if (f[1].startsWith("-A ")) {
                sh("iptables -t " + f[0] + " " + "-D " + f[1].substring(3));
            } else if (f[1].startsWith(":")) {
                chains.add(f[0] + " " + f[1].substring(1).split(" ")[0]);
            }
        }
        for (String c : chains) {
            String[] f = c.split(" ");
            sh("iptables -t " + f[0] + " -F " + f[1] + "; iptables -t " + f[0] + " -X " + f[1]);
        }
    }

    private static void sh(String command) throws IOException, InterruptedException {
        new ProcessBuilder("sh", "-c", command).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .start().waitFor();
    }

    /** Counts CRI calls by method (tried, succeeded) and keeps each failure. */
    static final class Ledger {
        final Map<String, AtomicInteger> tried = new ConcurrentHashMap<>();
        final Map<String, AtomicInteger> succeeded = new ConcurrentHashMap<>();
        final List<String> failures = Collections.synchronizedList(new ArrayList<>());

        <T> T call(String method, Supplier<T> call) {
            tried.computeIfAbsent(method, m -> new AtomicInteger()).incrementAndGet();
            try {
                T result = call.get();
                succeeded.computeIfAbsent(method, m -> new AtomicInteger()).incrementAndGet();
                return result;
            } catch (RuntimeException e) {
                failures.add(method + ": " + (e instanceof StatusRuntimeException s ? s.getStatus() : e.toString()));
                throw e;
            }
        }

        int tried() {
            return tried.values().stream().mapToInt(AtomicInteger::get).sum();
        }

        int succeeded() {
            return succeeded.values().stream().mapToInt(AtomicInteger::get).sum();
        }

        /** {@code Method tried/succeeded} for every method. */
        String perMethod() {
            StringBuilder b = new StringBuilder();
            new java.util.TreeMap<>(tried).forEach((m, n) -> b.append(b.length() == 0 ? "" : ", ").append(m).append(' ')
                    .append(n.get()).append('/').append(succeeded.getOrDefault(m, new AtomicInteger()).get()));
            return b.toString();
        }
    }
}
