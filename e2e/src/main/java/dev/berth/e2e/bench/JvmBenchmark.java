package dev.berth.e2e.bench;

import dev.berth.cri.v1.ContainerConfig;
import dev.berth.cri.v1.ContainerMetadata;
import dev.berth.cri.v1.ContainerStatusRequest;
import dev.berth.cri.v1.CreateContainerRequest;
import dev.berth.cri.v1.ImageServiceGrpc;
import dev.berth.cri.v1.ImageSpec;
import dev.berth.cri.v1.ImageStatusRequest;
import dev.berth.cri.v1.ListContainersRequest;
import dev.berth.cri.v1.ListImagesRequest;
import dev.berth.cri.v1.ListPodSandboxRequest;
import dev.berth.cri.v1.PodSandboxConfig;
import dev.berth.cri.v1.PodSandboxMetadata;
import dev.berth.cri.v1.PodSandboxStatusRequest;
import dev.berth.cri.v1.RemoveContainerRequest;
import dev.berth.cri.v1.RemovePodSandboxRequest;
import dev.berth.cri.v1.RunPodSandboxRequest;
import dev.berth.cri.v1.RuntimeServiceGrpc;
import dev.berth.cri.v1.StartContainerRequest;
import dev.berth.cri.v1.StatusRequest;
import dev.berth.cri.v1.StopContainerRequest;
import dev.berth.cri.v1.StopPodSandboxRequest;
import dev.berth.cri.v1.VersionRequest;
import dev.berth.e2e.BerthProcess;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The daemon's JVM: time from exec to the first answered Version, the first call of each
 * status and list call right after that, the same calls once warm, and the daemon's PSS idle,
 * with 100 pods and after they are gone. The state holds one pod with one running container
 * and the demo image, as a node restarted with pods has; the daemon is started N times on it.
 * The JDK is bin/berth's (JAVA_HOME wins); BERTH_JAVA_OPTS passes through. Needs root.
 * Run: {@code java -cp "$(cat e2e/target/classpath.txt):e2e/target/classes" dev.berth.e2e.bench.JvmBenchmark 10 100}
 */
public final class JvmBenchmark {
    private static final String IMAGE = "localhost/berth-demo:1";
    private static final int STEADY = 300;

    private final Path dir;
    private final Path config;
    private final Path socket;
    private final int metricsPort;
    private Process daemon;
    private ManagedChannel channel;
    private RuntimeServiceGrpc.RuntimeServiceBlockingStub rt;
    private ImageServiceGrpc.ImageServiceBlockingStub img;

    private JvmBenchmark(Path dir) throws Exception {
        this.dir = dir;
        this.config = dir.resolve("berth.toml");
        this.socket = dir.resolve("run/berth.sock");
        this.metricsPort = 20000 + (int) (ProcessHandle.current().pid() % 20000);
        Files.writeString(config, "[network]\ncni_config_dir = \"" + dir.resolve("net.d") + "\"\n"
                + "default_bridge = \"berthjv0\"\ndefault_subnet = \"10.196.64.0/20\"\n");
    }

    public static void main(String[] args) throws Exception {
        int starts = args.length > 0 ? Integer.parseInt(args[0]) : 10;
        int pods = args.length > 1 ? Integer.parseInt(args[1]) : 100;
        Path dir = Files.createTempDirectory("berth-jvmbench-");
        JvmBenchmark b = new JvmBenchmark(dir);
        try {
            b.run(starts, pods);
        } finally {
            b.stopDaemon();
            new ProcessBuilder("rm", "-rf", dir.toString()).inheritIO().start().waitFor();
        }
    }

    private void run(int starts, int pods) throws Exception {
        Path launcher = BerthProcess.launcher();
        Process p = new ProcessBuilder(launcher.resolveSibling("../scripts/build-demo-image").normalize().toString(),
                "--root", dir.resolve("root").toString(), "--config", config.toString())
                .redirectErrorStream(true).redirectOutput(dir.resolve("image.log").toFile()).start();
        if (p.waitFor() != 0) {
            throw new IllegalStateException("build-demo-image failed: " + Files.readString(dir.resolve("image.log")));
        }
        // the state of a node with a pod; this client warmed up against it before anything is measured
        startDaemon();
        String pod = runPod("resident");
        String ctr = runContainer(pod, "c");
        Map<String, Runnable> calls = calls(pod, ctr);
        for (int i = 0; i < 2000; i++) {
            calls.values().forEach(Runnable::run);
        }
        stopDaemon();

        List<Double> ready = new ArrayList<>();
        Map<String, List<Double>> first = new LinkedHashMap<>();
        Map<String, List<Double>> steady = new LinkedHashMap<>();
        List<Double> idle = new ArrayList<>();
        for (int s = 0; s < starts; s++) {
            ready.add(startDaemon() / 1e6);
            for (Map.Entry<String, Runnable> c : calls.entrySet()) {
                long t = System.nanoTime();
                c.getValue().run();
                first.computeIfAbsent(c.getKey(), k -> new ArrayList<>()).add((System.nanoTime() - t) / 1e6);
            }
            Thread.sleep(3000);
            idle.add(pssMb(daemon.pid()));
            for (Map.Entry<String, Runnable> c : calls.entrySet()) {
                List<Double> ms = new ArrayList<>();
                for (int i = 0; i < STEADY; i++) {
                    long t = System.nanoTime();
                    c.getValue().run();
                    ms.add((System.nanoTime() - t) / 1e6);
                }
                steady.computeIfAbsent(c.getKey(), k -> new ArrayList<>()).add(median(ms));
            }
            System.out.printf("start %d: ready %.0f ms, idle PSS %.1f MB, first calls %s%n", s + 1, ready.get(s), idle.get(s),
                    first.entrySet().stream().map(e -> e.getKey() + "=" + fmt(e.getValue().get(e.getValue().size() - 1))).toList());
            if (s < starts - 1) {
                stopDaemon();
            }
        }
        System.out.printf("%nstart to ready: median %.0f ms (min %.0f, max %.0f) over %d starts%n", median(ready),
                Collections.min(ready), Collections.max(ready), starts);
        System.out.printf("idle PSS 3 s after ready: median %.1f MB%n", median(idle));
        System.out.printf("%-18s %12s %12s %12s%n", "call", "first p50", "first max", "warm p50");
        for (String k : calls.keySet()) {
            System.out.printf("%-18s %12s %12s %12s%n", k, fmt(median(first.get(k))), fmt(Collections.max(first.get(k))),
                    fmt(median(steady.get(k))));
        }
        if (pods > 0) {
            memory(pods);
        }
        rt.stopContainer(StopContainerRequest.newBuilder().setContainerId(ctr).setTimeout(0).build());
        rt.removeContainer(RemoveContainerRequest.newBuilder().setContainerId(ctr).build());
        rt.stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(pod).build());
        rt.removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(pod).build());
    }

    /** PSS of the running daemon idle, with {@code pods} more pods of one container each, and after they were removed. */
    private void memory(int pods) throws Exception {
        double before = pssMb(daemon.pid());
        List<String[]> made = new ArrayList<>();
        long t0 = System.nanoTime();
        for (int i = 0; i < pods; i++) {
            String pod = runPod("p" + i);
            made.add(new String[] {pod, runContainer(pod, "c")});
        }
        double up = (System.nanoTime() - t0) / 1e9;
        Thread.sleep(5000);
        double at = pssMb(daemon.pid());
        t0 = System.nanoTime();
        for (String[] m : made) {
            rt.stopContainer(StopContainerRequest.newBuilder().setContainerId(m[1]).setTimeout(0).build());
            rt.removeContainer(RemoveContainerRequest.newBuilder().setContainerId(m[1]).build());
            rt.stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(m[0]).build());
            rt.removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(m[0]).build());
        }
        double down = (System.nanoTime() - t0) / 1e9;
        Thread.sleep(5000);
        double after5 = pssMb(daemon.pid());
        Thread.sleep(25000);
        double after30 = pssMb(daemon.pid());
        System.out.printf("daemon PSS: before %.1f MB, at %d pods %.1f MB (up in %.1f s), after removal (%.1f s) +5 s %.1f MB,"
                + " +30 s %.1f MB%n", before, pods, at, up, down, after5, after30);
    }

    private Map<String, Runnable> calls(String pod, String ctr) {
        Map<String, Runnable> m = new LinkedHashMap<>();
        m.put("Status", () -> rt.status(StatusRequest.getDefaultInstance()));
        m.put("Version", () -> rt.version(VersionRequest.getDefaultInstance()));
        m.put("ListPodSandbox", () -> rt.listPodSandbox(ListPodSandboxRequest.getDefaultInstance()));
        m.put("ListContainers", () -> rt.listContainers(ListContainersRequest.getDefaultInstance()));
        m.put("PodSandboxStatus", () -> rt.podSandboxStatus(PodSandboxStatusRequest.newBuilder().setPodSandboxId(pod).build()));
        m.put("ContainerStatus", () -> rt.containerStatus(ContainerStatusRequest.newBuilder().setContainerId(ctr).build()));
        m.put("ImageStatus", () -> img.imageStatus(ImageStatusRequest.newBuilder().setImage(ImageSpec.newBuilder().setImage(IMAGE)).build()));
        m.put("ListImages", () -> img.listImages(ListImagesRequest.getDefaultInstance()));
        return m;
    }

    private String runPod(String name) {
        return rt.runPodSandbox(RunPodSandboxRequest.newBuilder().setConfig(PodSandboxConfig.newBuilder()
                .setMetadata(PodSandboxMetadata.newBuilder().setName(name).setNamespace("jvmbench").setUid("uid-" + name))
                .setHostname(name).setLogDirectory(dir.resolve("logs/" + name).toString())).build()).getPodSandboxId();
    }

    private String runContainer(String pod, String name) {
        String id = rt.createContainer(CreateContainerRequest.newBuilder().setPodSandboxId(pod).setConfig(ContainerConfig.newBuilder()
                .setMetadata(ContainerMetadata.newBuilder().setName(name)).setImage(ImageSpec.newBuilder().setImage(IMAGE))
                .addCommand("sleep").addArgs("36000").setLogPath(name + ".log")).build()).getContainerId();
        rt.startContainer(StartContainerRequest.newBuilder().setContainerId(id).build());
        return id;
    }

    /** Starts the daemon; returns the nanoseconds from exec until it answered Version. */
    private long startDaemon() throws Exception {
        if (channel == null) {
            channel = Grpc.newChannelBuilder("unix://" + socket, InsecureChannelCredentials.create()).build();
            rt = RuntimeServiceGrpc.newBlockingStub(channel);
            img = ImageServiceGrpc.newBlockingStub(channel);
        }
        ProcessBuilder pb = new ProcessBuilder(BerthProcess.launcher().toString(), "daemon", "--root", dir.resolve("root").toString(),
                "--run-root", dir.resolve("run").toString(), "--socket", socket.toString(), "--config", config.toString(),
                "--metrics-address", "127.0.0.1:" + metricsPort)
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(dir.resolve("berth.log").toFile()));
        long t0 = System.nanoTime();
        daemon = pb.start();
        while (true) {
            if (!daemon.isAlive()) {
                throw new IllegalStateException("berth exited: " + Files.readString(dir.resolve("berth.log")));
            }
            if (Files.exists(socket)) {
                try {
                    rt.withDeadlineAfter(1, TimeUnit.SECONDS).version(VersionRequest.getDefaultInstance());
                    return System.nanoTime() - t0;
                } catch (StatusRuntimeException e) {
                    // not yet
                }
            }
            Thread.sleep(1);
        }
    }

    private void stopDaemon() throws Exception {
        if (daemon != null && daemon.isAlive()) {
            daemon.destroy();
            if (!daemon.waitFor(30, TimeUnit.SECONDS)) {
                daemon.destroyForcibly().waitFor();
            }
        }
    }

    static double pssMb(long pid) throws Exception {
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/smaps_rollup"))) {
            if (line.startsWith("Pss:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024.0;
            }
        }
        return -1;
    }

    static String fmt(double ms) {
        return String.format("%.2f ms", ms);
    }

    static double median(List<Double> values) {
        List<Double> sorted = new ArrayList<>(values);
        Collections.sort(sorted);
        int n = sorted.size();
        return n % 2 == 1 ? sorted.get(n / 2) : (sorted.get(n / 2 - 1) + sorted.get(n / 2)) / 2;
    }
}
