package dev.berth.e2e.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.berth.agent.testing.ApiServerFixture;
import dev.berth.cri.v1.ListPodSandboxRequest;
import dev.berth.cri.v1.PodSandbox;
import dev.berth.cri.v1.RemovePodSandboxRequest;
import dev.berth.cri.v1.StopPodSandboxRequest;
import dev.berth.e2e.BerthProcess;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.Watch;
import io.fabric8.kubernetes.client.Watcher;
import io.fabric8.kubernetes.client.WatcherException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.junit.jupiter.api.io.TempDir;

/**
 * The node agent measured (never asserted): a real {@code berth agent} process connected to the
 * mock API server of this JVM ({@link ApiServerFixture}), real busybox containers behind it.
 * Figures: the time from a pod created with {@code spec.nodeName} until a watch of this JVM sees
 * it Running with every container ready (20 one after another, then 20 at once); the agent's CPU
 * (utime + stime of {@code /proc/PID/stat}) and memory (RSS and PSS of {@code smaps_rollup}, heap
 * after a full GC by {@code jcmd}) with 50 pods running after a quiet minute; the API requests the
 * agent makes per pod and minute at that steady state, by kind; and the 20 sequential pods again
 * with the agent driving a separate {@code berth daemon} over its socket. Run with
 * {@code -Dberth.benchmark=true}; the figures go to stdout and {@code target/agent-benchmark.txt}.
 */
@EnabledIfSystemProperty(named = "berth.benchmark", matches = "true")
@Tag("root")
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class AgentBenchmark {
    private static final String IMAGE = "offline/agent-bench:1";
    private static final String NODE = "bench-node";
    private static final String NAMESPACE = "bench";
    /** A bridge and subnet of its own: other e2e runs on this machine use theirs. */
    private static final String BRIDGE = "berthbm1";
    private static final String SUBNET = "10.199.48.0/20";
    private static final int SEQUENTIAL = Integer.getInteger("berth.benchmark.sequential", 20);
    private static final int AT_ONCE = Integer.getInteger("berth.benchmark.atOnce", 20);
    private static final int STEADY_PODS = Integer.getInteger("berth.benchmark.pods", 50);
    private static final Duration QUIET = Duration.ofSeconds(Integer.getInteger("berth.benchmark.quietSeconds", 60));
    private static final Duration STEADY = Duration.ofSeconds(Integer.getInteger("berth.benchmark.steadySeconds", 150));
    private static final Duration CPU_WINDOW = Duration.ofSeconds(60);
    private static final Path REPORT = Path.of("target", "agent-benchmark.txt");

    @TempDir
    Path dir;

    private final List<BerthProcess> toClean = new ArrayList<>();
    private Path config;

    @AfterEach
    void cleanUp() throws Exception {
        try {
            for (BerthProcess p : toClean) {
                p.close();
            }
            // the agent leaves its pods running when it stops: a daemon on each runtime root removes them
            for (Path runtimeDir : List.of(dir.resolve("agent"), dir.resolve("runtime"))) {
                if (config != null && Files.isDirectory(runtimeDir.resolve("root"))) {
                    try (BerthProcess daemon = BerthProcess.start(runtimeDir, "--config", config.toString(), "--metrics-address", "")) {
                        removeAll(daemon);
                    } catch (RuntimeException | IOException e) {
                        System.err.println("AgentBenchmark: clean-up of " + runtimeDir + " failed: " + e);
                    }
                }
            }
        } finally {
            // a safety net for a failed run: no container process, bridge or mount may stay
            for (long pid : processesMentioning(dir.toString())) {
                new ProcessBuilder("kill", "-KILL", Long.toString(pid)).start().waitFor();
            }
            if (Files.exists(Path.of("/sys/class/net/" + BRIDGE))) {
                new ProcessBuilder("ip", "link", "delete", BRIDGE).start().waitFor();
            }
            List<String> left = mountsUnder(dir);
            for (int i = left.size() - 1; i >= 0; i--) {
                new ProcessBuilder("umount", "-l", left.get(i)).start().waitFor();
            }
        }
    }

    @Test
    @Order(1)
    void inProcessRuntime() throws Exception {
        Path agentDir = dir.resolve("agent");
        config = config();
        buildImage(agentDir.resolve("root"));
        try (ApiServerFixture api = new ApiServerFixture(); KubernetesClient client = api.client()) {
            Path kubeconfig = api.writeKubeconfig(dir.resolve("kubeconfig"));
            BerthProcess agent = BerthProcess.startAgent(agentDir, "", "--config", config.toString(), "--metrics-address", "",
                    "--node-name", NODE, "--kubeconfig", kubeconfig.toString());
            toClean.add(agent);
            report("== berth agent, runtime in the same process (" + Instant.now() + ", " + loadAverage() + ")");
            try (RunningWatch watch = new RunningWatch(client)) {
                long first = watch.createAndAwait(pod("warm-up"));
                report("first pod (JIT cold): " + ms(first));
                List<Long> sequential = new ArrayList<>();
                for (int i = 0; i < SEQUENTIAL; i++) {
                    sequential.add(watch.createAndAwait(pod("seq-" + i)));
                }
                report(SEQUENTIAL + " pods one after another, bound → Running and ready: " + percentiles(sequential)
                        + " (" + loadAverage() + ")");

                List<String> names = new ArrayList<>();
                for (int i = 0; i < AT_ONCE; i++) {
                    names.add("par-" + i);
                }
                long start = System.nanoTime();
                List<Long> atOnce = watch.createAllAndAwait(names);
                report(AT_ONCE + " pods at once, each bound → Running and ready: " + percentiles(atOnce) + "; all Running after "
                        + ms(System.nanoTime() - start) + " (" + loadAverage() + ")");

                List<String> rest = new ArrayList<>();
                for (int i = 1 + SEQUENTIAL + AT_ONCE; i < STEADY_PODS; i++) {
                    rest.add("fill-" + i);
                }
                if (!rest.isEmpty()) {
                    watch.createAllAndAwait(rest);
                }
                report("pods Running: " + watch.running.size());
            }
            assertEquals(STEADY_PODS, agent.runtime().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsCount());

            Thread.sleep(QUIET.toMillis());
            long pid = agent.pid();
            api.clearRequests();
            long cpu0 = cpuTicks(pid);
            long t0 = System.nanoTime();
            Thread.sleep(CPU_WINDOW.toMillis());
            long cpu1 = cpuTicks(pid);
            long t1 = System.nanoTime();
            Thread.sleep(STEADY.minus(CPU_WINDOW).toMillis());
            long cpu2 = cpuTicks(pid);
            long t2 = System.nanoTime();
            List<String> requests = api.requests();
            report(String.format("agent CPU with %d pods, steady: %.2f %% of one core over %.0f s; %.2f %% over %.0f s (%s)", STEADY_PODS,
                    percentOfCore(cpu1 - cpu0, t1 - t0), (t1 - t0) / 1e9, percentOfCore(cpu2 - cpu0, t2 - t0), (t2 - t0) / 1e9,
                    loadAverage()));
            report("agent memory: " + memory(pid));
            report("agent threads: " + threads(pid));
            report(requestFigures(requests, (t2 - t0) / 60e9, STEADY_PODS));
        }
    }

    @Test
    @Order(2)
    void runtimeOverItsSocket() throws Exception {
        Path runtimeDir = dir.resolve("runtime");
        config = config();
        buildImage(runtimeDir.resolve("root"));
        try (ApiServerFixture api = new ApiServerFixture(); KubernetesClient client = api.client()) {
            BerthProcess runtime = BerthProcess.start(runtimeDir, "--config", config.toString(), "--metrics-address", "");
            toClean.add(runtime);
            Path kubeconfig = api.writeKubeconfig(dir.resolve("kubeconfig"));
            BerthProcess agent = BerthProcess.startAgentOn(dir.resolve("agent-only"), runtime.socket(), "--config", config.toString(),
                    "--metrics-address", "", "--node-name", NODE, "--kubeconfig", kubeconfig.toString());
            toClean.add(0, agent);
            report("== berth agent --container-runtime-endpoint to a separate berth daemon (" + Instant.now() + ", " + loadAverage() + ")");
            try (RunningWatch watch = new RunningWatch(client)) {
                report("first pod (JIT cold): " + ms(watch.createAndAwait(pod("warm-up"))));
                List<Long> sequential = new ArrayList<>();
                for (int i = 0; i < SEQUENTIAL; i++) {
                    sequential.add(watch.createAndAwait(pod("seq-" + i)));
                }
                report(SEQUENTIAL + " pods one after another, bound → Running and ready: " + percentiles(sequential)
                        + " (" + loadAverage() + ")");
            }
        }
    }

    /**
     * A watch of the namespace's pods in this JVM that notes, for each pod, when it first shows
     * phase Running with every container ready. A watch, not polling: the event arrives as soon
     * as the mock stores the agent's status write.
     */
    private static final class RunningWatch implements AutoCloseable {
        final Map<String, Long> running = new ConcurrentHashMap<>();
        final Map<String, CountDownLatch> waiting = new ConcurrentHashMap<>();
        final KubernetesClient client;
        final Watch watch;

        RunningWatch(KubernetesClient client) {
            this.client = client;
            this.watch = client.pods().inNamespace(NAMESPACE).watch(new Watcher<>() {
                @Override
                public void eventReceived(Action action, Pod pod) {
                    long now = System.nanoTime();
                    if (runningAndReady(pod) && running.putIfAbsent(pod.getMetadata().getName(), now) == null) {
                        CountDownLatch l = waiting.get(pod.getMetadata().getName());
                        if (l != null) {
                            l.countDown();
                        }
                    }
                }

                @Override
                public void onClose(WatcherException cause) {
                    System.err.println("AgentBenchmark: the watch closed: " + cause);
                }
            });
        }

        /** Creates the pod and returns the time until the watch sees it Running and ready, in ns. */
        long createAndAwait(Pod pod) throws Exception {
            String name = pod.getMetadata().getName();
            CountDownLatch latch = new CountDownLatch(1);
            waiting.put(name, latch);
            long start = System.nanoTime();
            client.resource(pod).create();
            await(name, latch);
            return running.get(name) - start;
        }

        /** Creates all at once (one thread each, released together), returns each one's time until Running. */
        List<Long> createAllAndAwait(List<String> names) throws Exception {
            Map<String, Long> starts = new ConcurrentHashMap<>();
            CountDownLatch go = new CountDownLatch(1);
            List<Thread> creators = new ArrayList<>();
            for (String name : names) {
                waiting.put(name, new CountDownLatch(1));
                Thread t = new Thread(() -> {
                    try {
                        go.await();
                        starts.put(name, System.nanoTime());
                        client.resource(pod(name)).create();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                });
                t.start();
                creators.add(t);
            }
            go.countDown();
            for (Thread t : creators) {
                t.join();
            }
            List<Long> out = new ArrayList<>();
            for (String name : names) {
                await(name, waiting.get(name));
                out.add(running.get(name) - starts.get(name));
            }
            return out;
        }

        private void await(String name, CountDownLatch latch) throws Exception {
            long deadline = System.nanoTime() + Duration.ofSeconds(180).toNanos();
            while (!latch.await(1, TimeUnit.SECONDS)) {
                // a safety net in case the watch missed the event: then the time is this poll's
                Pod p = client.pods().inNamespace(NAMESPACE).withName(name).get();
                if (runningAndReady(p) && running.putIfAbsent(name, System.nanoTime()) == null) {
                    System.err.println("AgentBenchmark: the watch missed " + name + "; its time is the 1 s poll's");
                    return;
                }
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("pod " + name + " never ran: " + p);
                }
            }
        }

        @Override
        public void close() {
            watch.close();
        }
    }

    private static boolean runningAndReady(Pod pod) {
        if (pod == null || pod.getStatus() == null || !"Running".equals(pod.getStatus().getPhase())) {
            return false;
        }
        List<ContainerStatus> statuses = pod.getStatus().getContainerStatuses();
        return statuses != null && statuses.size() == pod.getSpec().getContainers().size()
                && statuses.stream().allMatch(s -> Boolean.TRUE.equals(s.getReady()));
    }

    private static Pod pod(String name) {
        return new PodBuilder().withNewMetadata().withNamespace(NAMESPACE).withName(name).endMetadata()
                .withNewSpec().withNodeName(NODE).withTerminationGracePeriodSeconds(1L)
                .addNewContainer().withName("app").withImage(IMAGE).withImagePullPolicy("Never")
                .withCommand("/bin/sleep", "3600").endContainer().endSpec().build();
    }

    /** Requests by kind, per pod and minute. */
    static String requestFigures(List<String> requests, double minutes, int pods) {
        Map<String, Integer> kinds = new TreeMap<>();
        for (String r : requests) {
            kinds.merge(kind(r), 1, Integer::sum);
        }
        StringBuilder out = new StringBuilder(String.format("API requests over %.2f min with %d pods: %d = %.2f per pod per minute%n",
                minutes, pods, requests.size(), requests.size() / minutes / pods));
        kinds.forEach((k, n) -> out.append(String.format("  %-28s %5d  %.1f/min  %.3f per pod per minute%n", k, n, n / minutes,
                n / minutes / pods)));
        Map<String, Integer> other = new TreeMap<>();
        for (String r : requests) {
            if (kind(r).startsWith("other")) {
                other.merge(r, 1, Integer::sum);
            }
        }
        other.forEach((r, n) -> out.append("    ").append(n).append(" × ").append(r).append('\n'));
        return out.toString();
    }

    static String kind(String request) {
        String method = request.substring(0, request.indexOf(' '));
        String path = request.substring(request.indexOf(' ') + 1);
        if (path.startsWith("/apis/coordination.k8s.io/")) {
            return "lease " + method;
        }
        if (path.matches("/api/v1/nodes/[^/?]+/status.*")) {
            return "node status " + method;
        }
        if (path.matches("/api/v1/nodes.*")) {
            return "node " + method;
        }
        if (path.matches("/api/v1/namespaces/[^/]+/pods/[^/?]+/status.*")) {
            return "pod status " + method;
        }
        if (path.matches("/api/v1/namespaces/[^/]+/events.*")) {
            return "events " + method;
        }
        if (method.equals("GET") && path.contains("watch=true")) {
            return "watch (re)open " + path.replaceAll("\\?.*", "");
        }
        if (method.equals("GET")) {
            return "GET " + path.replaceAll("\\?.*", "").replaceAll("/namespaces/[^/]+/pods/[^/]+", "/namespaces/N/pods/P");
        }
        return "other " + method;
    }

    /** utime + stime of the process, in clock ticks. */
    private static long cpuTicks(long pid) throws IOException {
        String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return Long.parseLong(f[11]) + Long.parseLong(f[12]);
    }

    private static double percentOfCore(long ticks, long nanos) {
        return 100.0 * (ticks / 100.0) / (nanos / 1e9); // USER_HZ is 100 on Linux
    }

    private static String memory(long pid) throws IOException, InterruptedException {
        long rss = 0;
        long pss = 0;
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/smaps_rollup"))) {
            if (line.startsWith("Rss:")) {
                rss = kb(line);
            } else if (line.startsWith("Pss:")) {
                pss = kb(line);
            }
        }
        String heap = run("jcmd", Long.toString(pid), "GC.run").isEmpty() ? "" : run("jcmd", Long.toString(pid), "GC.heap_info");
        long rssAfter = 0;
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/smaps_rollup"))) {
            if (line.startsWith("Rss:")) {
                rssAfter = kb(line);
            }
        }
        return String.format("RSS %.1f MiB, PSS %.1f MiB (RSS after the full GC %.1f MiB); heap after a full GC (jcmd GC.run, GC.heap_info):%n%s",
                rss / 1024.0, pss / 1024.0, rssAfter / 1024.0, heap.strip().indent(2));
    }

    private static long kb(String line) {
        return Long.parseLong(line.replaceAll("[^0-9]", ""));
    }

    /** The number of threads, and how many of each name (digits dropped; Linux keeps 15 characters of a name). */
    private static String threads(long pid) throws IOException {
        Map<String, Integer> names = new TreeMap<>();
        try (Stream<Path> s = Files.list(Path.of("/proc/" + pid + "/task"))) {
            for (Path task : s.toList()) {
                try {
                    names.merge(Files.readString(task.resolve("comm")).strip().replaceAll("[0-9]+", "N"), 1, Integer::sum);
                } catch (IOException e) {
                    // ended meanwhile
                }
            }
        }
        return names.values().stream().mapToInt(Integer::intValue).sum() + " " + names;
    }

    private static String run(String... command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        return p.waitFor() == 0 ? out : "(" + String.join(" ", command) + " failed: " + out.strip() + ")";
    }

    private static String percentiles(List<Long> nanos) {
        List<Long> sorted = new ArrayList<>(nanos);
        Collections.sort(sorted);
        return "p50 " + ms(at(sorted, 0.50)) + ", p95 " + ms(at(sorted, 0.95)) + ", min " + ms(sorted.get(0)) + ", max "
                + ms(sorted.get(sorted.size() - 1));
    }

    /** The nearest-rank percentile. */
    private static long at(List<Long> sorted, double q) {
        return sorted.get(Math.max(0, (int) Math.ceil(q * sorted.size()) - 1));
    }

    private static String ms(long nanos) {
        return String.format("%.1f ms", nanos / 1e6);
    }

    private static String loadAverage() {
        try {
            String[] f = Files.readString(Path.of("/proc/loadavg")).split(" ");
            return "load average " + f[0] + " " + f[1] + " " + f[2];
        } catch (IOException e) {
            return "load average unknown";
        }
    }

    private static void report(String line) throws IOException {
        System.out.println(line);
        Files.createDirectories(REPORT.toAbsolutePath().getParent());
        Files.writeString(REPORT, line + "\n", StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    }

    private Path config() throws IOException {
        return Files.writeString(dir.resolve("bench.toml"), "[network]\ncni_config_dir = \"" + dir.resolve("net.d") + "\"\n"
                + "default_bridge = \"" + BRIDGE + "\"\ndefault_subnet = \"" + SUBNET + "\"\n"
                + "[agent]\ncgroups_per_qos = false\npod_logs_dir = \"" + dir.resolve("logs") + "\"\n");
    }

    private static void removeAll(BerthProcess daemon) {
        for (PodSandbox s : daemon.runtime().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsList()) {
            daemon.runtime().stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(s.getId()).build());
            daemon.runtime().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(s.getId()).build());
        }
    }

    /** A busybox image in the store under {@code root}, so the pods need no registry (and no pull is measured). */
    private void buildImage(Path root) throws IOException, InterruptedException {
        Path rootfs = dir.resolve("rootfs-" + root.getParent().getFileName());
        Files.createDirectories(rootfs.resolve("bin"));
        Files.copy(Path.of("/bin/busybox"), rootfs.resolve("bin/busybox"));
        Files.createSymbolicLink(rootfs.resolve("bin/sh"), Path.of("busybox"));
        Files.createSymbolicLink(rootfs.resolve("bin/sleep"), Path.of("busybox"));
        String out = run(BerthProcess.launcher().toString(), "image", "build-rootfs", rootfs.toString(), "--tag", IMAGE, "--root",
                root.toString());
        if (out.startsWith("(")) {
            throw new IllegalStateException(out);
        }
    }

    private static List<Long> processesMentioning(String text) throws IOException {
        List<Long> out = new ArrayList<>();
        try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
            for (Path p : procs.filter(p -> p.getFileName().toString().matches("\\d+")).toList()) {
                try {
                    String cmdline = new String(Files.readAllBytes(p.resolve("cmdline")), StandardCharsets.UTF_8).replace('\0', ' ');
                    if (cmdline.contains(text)) {
                        out.add(Long.parseLong(p.getFileName().toString()));
                    }
                } catch (IOException e) {
                    // gone meanwhile
                }
            }
        }
        return out;
    }

    private static List<String> mountsUnder(Path dir) throws IOException {
        String base = dir.toAbsolutePath().normalize().toString();
        List<String> out = new ArrayList<>();
        for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
            String mountPoint = line.split(" ")[4].replace("\\040", " ");
            if (mountPoint.startsWith(base)) {
                out.add(mountPoint);
            }
        }
        return out;
    }
}
