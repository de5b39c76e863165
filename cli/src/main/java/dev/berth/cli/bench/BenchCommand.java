package dev.berth.cli.bench;

import dev.berth.cli.logging.Logging;
import dev.berth.cri.v1.NamespaceMode;
import io.grpc.ManagedChannel;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code berth bench}: one scenario against a CRI runtime (and with --compare a second one, back to back). */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = {"Drive a CRI runtime (berth, containerd, CRI-O) through one scenario and report p50/p95/p99 per call,"
                + " throughput and the runtime's memory (PSS of the daemon and its per-pod helpers).",
            "Scenario: PullImage (removing the image first), ImageStatus, ListImages; --iterations pods one after another"
                + " (RunPodSandbox … RemovePodSandbox, status and list calls, ExecSync); Exec (RPC and the command through"
                + " its URL over a WebSocket), ContainerStats, ListContainerStats, PortForward (the RPC, and --forward-mib MiB through its URL to an echo server"
                + " in the pod and back, MB/s); --pods pods started and then"
                + " removed by --concurrency clients, memory measured idle, at 20 pods, at all pods and idle after they are gone.",
            "Everything it creates is labelled berth-bench=<run id> and removed at the end, also on failure or Ctrl-C."},
        footerHeading = "%nExamples:%n",
        footer = {"  berth bench --runtime-endpoint unix:///run/berth/berth.sock --image 127.0.0.1:5000/busybox:1",
            "  berth bench --runtime-endpoint unix:///run/berth/berth.sock --compare unix:///run/containerd/containerd.sock \\",
            "      --image 127.0.0.1:5000/busybox:1 --iterations 20 --pods 100 --html bench.html --json bench.json"})
public final class BenchCommand implements Callable<Integer> {
    @Option(names = "--runtime-endpoint", required = true, paramLabel = "unix:///PATH", description = "the runtime to measure (A)")
    String endpoint;

    @Option(names = "--compare", paramLabel = "unix:///PATH", description = "a second runtime (B), measured after A; the table shows A/B")
    String compare;

    @Option(names = "--pid-mode", paramLabel = "pod|container", defaultValue = "container",
            description = "the pods' PID namespace: container (what a kubelet sends by default) or pod (shared, as critest sends); default: ${DEFAULT-VALUE}")
    String pidMode;

    @Option(names = "--image", paramLabel = "REF", defaultValue = "docker.io/library/busybox:1.36",
            description = "the image pulled and run (busybox: sleep, true, cat and nc); default: ${DEFAULT-VALUE}")
    String image;

    @Option(names = "--iterations", paramLabel = "N", defaultValue = "20", description = "pulls, sequential pods and exec rounds (default: ${DEFAULT-VALUE})")
    int iterations;

    @Option(names = "--pods", paramLabel = "N", defaultValue = "100", description = "pods of the load phase (default: ${DEFAULT-VALUE})")
    int pods;

    @Option(names = "--concurrency", paramLabel = "N", defaultValue = "10", description = "concurrent clients of the load phase (default: ${DEFAULT-VALUE})")
    int concurrency;

    @Option(names = "--stop-timeout", paramLabel = "SECONDS", defaultValue = "0",
            description = "StopContainer's timeout: 0 kills at once, the same on every runtime (sleep as PID 1 ignores SIGTERM); default: ${DEFAULT-VALUE}")
    long stopTimeout;

    @Option(names = "--call-timeout", paramLabel = "SECONDS", defaultValue = "120", description = "deadline of each call (default: ${DEFAULT-VALUE})")
    long callTimeout;

    @Option(names = "--forward-mib", paramLabel = "MIB", defaultValue = "64",
            description = "MiB pushed through a port-forward to an echo server in the pod (busybox nc -ll -e cat) each round,"
                + " all read back and compared (default: ${DEFAULT-VALUE})")
    long forwardMib;

    @Option(names = "--settle", paramLabel = "SECONDS", defaultValue = "5",
            description = "wait after the last pod is removed before measuring idle memory again (default: ${DEFAULT-VALUE})")
    long settle;

    @Option(names = "--helpers", split = ",", paramLabel = "NAMES", defaultValue = "conmon,catatonit,containerd-shim,containerd-shim-runc-v2,pause",
            description = "process names of per-pod helpers counted with the daemon's memory (default: ${DEFAULT-VALUE})")
    List<String> helpers;

    @Option(names = "--daemon-pid", paramLabel = "PID", description = "the daemon of --runtime-endpoint when it cannot be found from its socket")
    Long daemonPid;

    @Option(names = "--compare-daemon-pid", paramLabel = "PID", description = "the daemon of --compare when it cannot be found from its socket")
    Long compareDaemonPid;

    @Option(names = "--json", paramLabel = "FILE", description = "write the results as JSON")
    Path json;

    @Option(names = "--html", paramLabel = "FILE", description = "write a self-contained HTML report (inline SVG charts)")
    Path html;

    @Option(names = "--warmup", paramLabel = "N", defaultValue = "200",
            description = "before each runtime's measured phases, warm the bench's own client (unmeasured): N rounds of every call on a"
                + " fake runtime inside the bench, then the first calls are measured, then N rounds of the read-only calls on a pod of the"
                + " runtime (at most 15 s), a few Exec, ExecSync and port-forward rounds and --warmup-pods pod lifecycles;"
                + " 0: none (the first runtime's figures then include the bench's class loading and JIT); default: ${DEFAULT-VALUE}")
    int warmup;

    @Option(names = "--warmup-pods", paramLabel = "N", defaultValue = "2",
            description = "unmeasured pod lifecycles of the warm-up on each runtime (default: ${DEFAULT-VALUE})")
    int warmupPods;

    @Option(names = "--order", paramLabel = "ab|ba", defaultValue = "ab",
            description = "with --compare, which runtime runs first: ab (--runtime-endpoint first) or ba; the second one runs"
                + " after the first one's pods were removed, on a host the first one has just loaded (run both orders to see how much"
                + " that moves the figures); default: ${DEFAULT-VALUE}")
    String order;

    @Option(names = "--gap", paramLabel = "SECONDS", defaultValue = "10",
            description = "with --compare, the pause between the two runs, so that the host settles (the kernel tears down the first"
                + " run's network namespaces in the background); default: ${DEFAULT-VALUE}")
    long gap;

    @Option(names = "--quiet", description = "no progress on stderr")
    boolean quiet;

    private final List<Scenario> active = new ArrayList<>();

    @Override
    public Integer call() throws Exception {
        // the terminal shows the progress and the table only: no gRPC or Netty debug lines (logback's default is debug)
        Logging.configure("warn", "text");
        // gRPC asks every channel for SO_KEEPALIVE, which a UNIX socket lacks; Netty warns once per channel, on the client
        // (Bootstrap) and on the bench's fake runtime (ServerBootstrap)
        ((ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger("io.netty.bootstrap"))
                .setLevel(ch.qos.logback.classic.Level.ERROR);
        NamespaceMode pid = switch (pidMode) {
            case "pod" -> NamespaceMode.POD;
            case "container" -> NamespaceMode.CONTAINER;
            default -> throw new picocli.CommandLine.ParameterException(new picocli.CommandLine(this), "--pid-mode is pod or container, got " + pidMode);
        };
        if (iterations < 1 || pods < 1 || concurrency < 1 || forwardMib < 1) {
            throw new picocli.CommandLine.ParameterException(new picocli.CommandLine(this),
                    "--iterations, --pods, --concurrency and --forward-mib must be at least 1");
        }
        if (warmup < 0 || warmupPods < 0 || gap < 0) {
            throw new picocli.CommandLine.ParameterException(new picocli.CommandLine(this), "--warmup, --warmup-pods and --gap cannot be negative");
        }
        if (!order.equals("ab") && !order.equals("ba")) {
            throw new picocli.CommandLine.ParameterException(new picocli.CommandLine(this), "--order is ab or ba, got " + order);
        }
        List<String> endpoints = new ArrayList<>(List.of(endpoint));
        if (compare != null) {
            endpoints.add(compare);
        }
        for (String e : endpoints) {
            if (!e.matches("unix:///.+")) {
                throw new picocli.CommandLine.ParameterException(new picocli.CommandLine(this), "an endpoint is unix:///PATH, got " + e);
            }
        }
        String runId = UUID.randomUUID().toString().substring(0, 8);
        Results.Settings settings = new Results.Settings(image, iterations, pods, concurrency, pidMode, stopTimeout, callTimeout, List.copyOf(helpers),
                warmup, warmup == 0 ? 0 : warmupPods, order);
        Progress progress = new Progress(System.err, Progress.modeFor(quiet));
        Thread hook = new Thread(() -> interrupted(endpoints, runId), "bench-cleanup");
        Runtime.getRuntime().addShutdownHook(hook);
        Results.Run[] runs = new Results.Run[endpoints.size()];
        String startedAt = Instant.now().toString();
        try {
            for (int i : runOrder(endpoints.size(), order)) {
                if (Arrays.stream(runs).anyMatch(java.util.Objects::nonNull) && gap > 0) {
                    progress.phase("pause between the runs (" + gap + " s)");
                    Thread.sleep(gap * 1000);
                }
                Scenario.Options o = new Scenario.Options(runId, image, iterations, pods, concurrency, pid, stopTimeout, callTimeout, settle,
                        helpers, i == 0 ? daemonPid : compareDaemonPid, forwardMib << 20, warmup, warmupPods);
                try (Scenario s = new Scenario(i == 0 ? "A" : "B", endpoints.get(i), o, progress)) {
                    synchronized (active) {
                        active.add(s);
                    }
                    runs[i] = s.run();
                }
            }
        } catch (io.grpc.StatusRuntimeException | Recorder.CallFailed e) {
            progress.finish();
            System.err.println("berth bench: " + e.getMessage());
            return 1;
        } finally {
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException e) {
                // already shutting down: the hook cleans up
            }
        }
        Results.Bench bench = new Results.Bench(runId, startedAt, settings, List.of(runs));
        System.out.print(Reports.table(bench));
        System.out.flush();
        if (json != null) {
            write(json, Reports.json(bench));
        }
        if (html != null) {
            write(html, Reports.html(bench));
        }
        return bench.runs().stream().anyMatch(r -> r.calls().values().stream().anyMatch(c -> c.errors() > 0)) ? 3 : 0;
    }

    /** The indexes of the runs (0 = A, 1 = B) in the order they run. */
    static List<Integer> runOrder(int runs, String order) {
        return runs > 1 && order.equals("ba") ? List.of(1, 0) : runs > 1 ? List.of(0, 1) : List.of(0);
    }

    /** Ctrl-C or SIGTERM: stop every scenario, give their workers a moment, and remove whatever carries this run's label. */
    private void interrupted(List<String> endpoints, String runId) {
        List<Scenario> running;
        synchronized (active) {
            running = List.copyOf(active);
        }
        running.forEach(Scenario::stop);
        System.err.println("\nberth bench: interrupted, removing the pods labelled " + Scenario.LABEL + "=" + runId);
        try {
            for (Scenario s : running) {
                s.awaitFinished(Math.min(callTimeout, 60));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        for (String e : endpoints) {
            ManagedChannel ch = Scenario.channel(e);
            try {
                Scenario.cleanup(ch, runId, 30);
            } finally {
                ch.shutdownNow();
            }
        }
    }

    private static void write(Path file, String text) throws IOException {
        Path parent = file.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        Files.writeString(file, text, StandardCharsets.UTF_8);
    }
}
