package dev.berth.e2e;

import dev.berth.cri.v1.ImageServiceGrpc;
import dev.berth.cri.v1.RuntimeServiceGrpc;
import dev.berth.cri.v1.VersionRequest;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A real berth daemon started as a separate process ({@code bin/berth daemon}) on a temporary
 * socket, root and run root (and, unless the caller configures it, a free loopback port for
 * its metrics endpoint), with CRI stubs connected to it. {@link #close()} stops it with
 * SIGTERM (SIGKILL if it does not go) and keeps its log at {@link #log()}.
 */
public final class BerthProcess implements AutoCloseable {
    private final Path dir;
    private final Path socket;
    private final Path log;
    private final List<String> command;
    private final int metricsPort;
    private Process process;
    private ManagedChannel channel;
    private String javaOpts = "";
    /** The CRI socket the stubs reach, when it is not this process's own (an agent driving another runtime). */
    private Path runtimeSocket;

    private BerthProcess(Path dir, List<String> extraArgs) {
        this(dir, "daemon", "", extraArgs);
    }

    /**
     * @param subcommand {@code daemon} or {@code agent}
     * @param extraToml tables appended to the config file this fixture writes (unless the caller brings its own)
     */
    private BerthProcess(Path dir, String subcommand, String extraToml, List<String> extraArgs) {
        this.dir = dir;
        this.socket = dir.resolve("run/berth.sock");
        this.log = dir.resolve("berth.log");
        this.command = new ArrayList<>(List.of(launcher().toString(), subcommand,
                "--root", dir.resolve("root").toString(),
                "--run-root", dir.resolve("run").toString(),
                "--socket", socket.toString()));
        if (!extraArgs.contains("--config")) {
            this.command.addAll(List.of("--config", ownNetworkConfig(dir, extraToml).toString()));
        }
        if (!extraArgs.contains("--config") && extraArgs.stream().noneMatch(a -> a.startsWith("--metrics-address"))) {
            // daemons of parallel test runs must not compete for the default metrics port
            this.metricsPort = freeLoopbackPort();
            this.command.addAll(List.of("--metrics-address", "127.0.0.1:" + metricsPort));
        } else {
            this.metricsPort = -1;
        }
        if (subcommand.equals("agent") && !extraArgs.contains("--port") && !extraArgs.contains("--read-only-port")) {
            // agents of parallel test runs must not compete for the kubelet's ports: no HTTP API unless a test asks
            this.command.addAll(List.of("--port", "0", "--read-only-port", "0"));
        }
        this.command.addAll(extraArgs);
    }

    private static int freeLoopbackPort() {
        try (java.net.ServerSocket s = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException("no free loopback port", e);
        }
    }

    /**
     * The loopback port of berth's metrics endpoint when this fixture chose it (the caller
     * passed neither {@code --config} nor {@code --metrics-address}), else -1.
     */
    public int metricsPort() {
        return metricsPort;
    }

    /**
     * Unless a test brings its own config file, the daemon gets one that keeps its CNI network
     * configs in the test's directory and its default network on a test-only bridge and subnet,
     * so an e2e run never writes into /etc/cni/net.d or touches the node's berth0.
     */
    private static Path ownNetworkConfig(Path dir, String extraToml) {
        Path config = dir.resolve("berth-e2e.toml");
        try {
            Files.createDirectories(dir);
            Files.writeString(config, isolatedNetworkToml(dir) + extraToml, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalStateException("cannot write " + config, e);
        }
        return config;
    }

    /**
     * The {@code [network]} table of that config, for tests that write a config file of their
     * own: CNI configs under {@code dir}, a test-only bridge and subnet.
     */
    public static String isolatedNetworkToml(Path dir) {
        return networkToml(dir, "berthe2e0", "10.199.128.0/20");
    }

    /** A {@code [network]} table with CNI configs under {@code dir} and the default network on this bridge and subnet. */
    public static String networkToml(Path dir, String bridge, String subnet) {
        return "[network]\n"
                + "cni_config_dir = \"" + dir.resolve("net.d") + "\"\n"
                + "default_bridge = \"" + bridge + "\"\n"
                + "default_subnet = \"" + subnet + "\"\n";
    }

    /**
     * Starts berth with a heap of at most {@code maxHeap} (e.g. {@code 256m}, through
     * {@code BERTH_JAVA_OPTS}); berth exits on OutOfMemoryError, so a run that needed more fails.
     */
    public static BerthProcess startWithMaxHeap(Path dir, String maxHeap, String... extraArgs) throws IOException, InterruptedException {
        BerthProcess p = new BerthProcess(dir, List.of(extraArgs));
        p.javaOpts = "-Xmx" + maxHeap;
        p.launch();
        return p;
    }

    /** Starts berth in {@code dir} with extra daemon arguments and waits until it answers Version. */
    public static BerthProcess start(Path dir, String... extraArgs) throws IOException, InterruptedException {
        BerthProcess p = new BerthProcess(dir, List.of(extraArgs));
        p.launch();
        return p;
    }

    /**
     * Starts {@code berth agent} (the agent with berth's runtime in the same process) in
     * {@code dir} like {@link #start}, its config holding {@code extraToml} (e.g. an
     * {@code [agent]} table) after the isolated network, and waits until its CRI socket answers.
     */
    public static BerthProcess startAgent(Path dir, String extraToml, String... extraArgs) throws IOException, InterruptedException {
        BerthProcess p = new BerthProcess(dir, "agent", extraToml, List.of(extraArgs));
        p.launch();
        return p;
    }

    /**
     * Starts {@code berth agent --container-runtime-endpoint unix://RUNTIME} in {@code dir}: the
     * agent alone, driving the runtime on {@code runtimeSocket}; the CRI stubs reach that
     * runtime. Returns once the runtime answers (the agent has not exited by then).
     */
    public static BerthProcess startAgentOn(Path dir, Path runtimeSocket, String... extraArgs) throws IOException, InterruptedException {
        List<String> args = new ArrayList<>(List.of("--container-runtime-endpoint", "unix://" + runtimeSocket));
        args.addAll(List.of(extraArgs));
        BerthProcess p = new BerthProcess(dir, "agent", "", args);
        p.runtimeSocket = runtimeSocket;
        p.launch();
        return p;
    }

    /** The repository's bin/berth. */
    public static Path launcher() {
        String home = System.getProperty("berth.home");
        if (home != null) {
            return Path.of(home, "bin", "berth").toAbsolutePath().normalize();
        }
        Path here = Path.of("bin", "berth");
        return (Files.isExecutable(here) ? here : Path.of("..", "bin", "berth")).toAbsolutePath().normalize();
    }

    private void launch() throws IOException, InterruptedException {
        Files.createDirectories(dir);
        ProcessBuilder pb = new ProcessBuilder(command)
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
        if (!javaOpts.isEmpty()) {
            pb.environment().put("BERTH_JAVA_OPTS", javaOpts);
        }
        process = pb.start();
        channel = Grpc.newChannelBuilder("unix://" + (runtimeSocket != null ? runtimeSocket : socket), InsecureChannelCredentials.create())
                .build();
        awaitReady(Duration.ofSeconds(60));
    }

    private void awaitReady(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        StatusRuntimeException last = null;
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                throw new IllegalStateException("berth exited with " + process.exitValue() + " before it served:\n" + logText());
            }
            if (Files.exists(runtimeSocket != null ? runtimeSocket : socket)) {
                try {
                    runtime().withDeadlineAfter(2, TimeUnit.SECONDS).version(VersionRequest.getDefaultInstance());
                    return;
                } catch (StatusRuntimeException e) {
                    last = e;
                }
            }
            Thread.sleep(20);
        }
        throw new IllegalStateException("berth did not answer within " + timeout + " (" + last + "):\n" + logText());
    }

    public RuntimeServiceGrpc.RuntimeServiceBlockingStub runtime() {
        return RuntimeServiceGrpc.newBlockingStub(channel);
    }

    public RuntimeServiceGrpc.RuntimeServiceStub runtimeAsync() {
        return RuntimeServiceGrpc.newStub(channel);
    }

    public ImageServiceGrpc.ImageServiceBlockingStub images() {
        return ImageServiceGrpc.newBlockingStub(channel);
    }

    public ImageServiceGrpc.ImageServiceStub imagesAsync() {
        return ImageServiceGrpc.newStub(channel);
    }

    public Path socket() {
        return socket;
    }

    public Path root() {
        return dir.resolve("root");
    }

    public Path runRoot() {
        return dir.resolve("run");
    }

    public Path log() {
        return log;
    }

    public String logText() {
        try {
            return Files.readString(log, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "(no log: " + e.getMessage() + ")";
        }
    }

    public long pid() {
        return process.pid();
    }

    public Process process() {
        return process;
    }

    /** Kills berth with SIGKILL, as a crash would, leaving its state behind. */
    public void kill() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor();
        channel.shutdownNow();
    }

    /** Starts berth again with the same directories and arguments (after {@link #kill()} or {@link #stop()}). */
    public void restart() throws IOException, InterruptedException {
        if (process.isAlive()) {
            throw new IllegalStateException("berth is still running");
        }
        launch();
    }

    /** SIGTERM, then waits; returns the exit status. */
    public int stop() throws InterruptedException {
        channel.shutdownNow();
        process.destroy();
        if (!process.waitFor(30, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            process.waitFor();
        }
        return process.exitValue();
    }

    @Override
    public void close() throws InterruptedException {
        if (process != null && process.isAlive()) {
            stop();
        }
        if (channel != null) {
            channel.shutdownNow();
        }
    }
}
