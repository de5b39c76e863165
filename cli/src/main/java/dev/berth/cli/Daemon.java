package dev.berth.cli;

import dev.berth.cli.config.BerthConfig;
import dev.berth.cli.config.StreamingSettings;
import dev.berth.streaming.ExecBackend;
import dev.berth.criserver.cri.ContainerEvents;
import dev.berth.criserver.cri.ContainerRpcs;
import dev.berth.criserver.cri.PodEvents;
import dev.berth.criserver.cri.ImageRpcs;
import dev.berth.common.BerthVersion;
import dev.berth.common.PrivateFiles;
import dev.berth.criserver.cri.PodMetricsRpcs;
import dev.berth.criserver.cri.RuntimeInfoRpcs;
import dev.berth.criserver.cri.StatsRpcs;
import dev.berth.criserver.cri.StreamingRpcs;
import dev.berth.criserver.streaming.ProcessExecBackend;
import dev.berth.streaming.StreamingServer;
import dev.berth.criserver.cri.SandboxRpcs;
import dev.berth.criserver.grpc.CriRegistry;
import dev.berth.criserver.grpc.CriServer;
import dev.berth.criserver.grpc.InProcessCri;
import dev.berth.criserver.grpc.Warmup;
import dev.berth.cli.metrics.BerthMetrics;
import dev.berth.cli.metrics.CniOperationMeters;
import dev.berth.cli.metrics.ImageNames;
import dev.berth.cli.metrics.RuntimeCollectors;
import dev.berth.cli.metrics.CriCallMetrics;
import dev.berth.cli.metrics.Health;
import dev.berth.cli.metrics.MetricsServer;
import dev.berth.criserver.runtime.NetworkReadiness;
import dev.berth.criserver.runtime.Readiness;
import dev.berth.criserver.runtime.RuntimeReadiness;
import dev.berth.networking.PodCidrs;
import dev.berth.cgroups.Cgroups;
import dev.berth.common.BerthException;
import dev.berth.networking.PodNetwork;
import dev.berth.networking.cni.CniPodNetwork;
import dev.berth.podsandbox.container.ContainerImages;
import dev.berth.podsandbox.container.ContainerManager;
import dev.berth.podsandbox.container.ContainerService;
import dev.berth.podsandbox.container.ImageVolumes;
import dev.berth.podsandbox.container.ContainerRootfs;
import dev.berth.podsandbox.container.spec.HostFacts;
import dev.berth.podsandbox.oci.ConmonRuntime;
import dev.berth.podsandbox.oci.CheckpointSupport;
import dev.berth.podsandbox.oci.HandlerProbes;
import dev.berth.podsandbox.oci.RuntimeFeatures;
import dev.berth.podsandbox.oci.RuntimeHandlers;
import dev.berth.podsandbox.stats.NetDev;
import dev.berth.podsandbox.stats.PodDirectory;
import dev.berth.podsandbox.stats.StatsCollector;
import dev.berth.podsandbox.sandbox.SandboxService;
import dev.berth.images.ImageService;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import sun.misc.Signal;

/** {@code berth daemon}: builds every part of the runtime from the configuration and serves the CRI until told to stop. */
public final class Daemon {
    private static final Logger LOG = LoggerFactory.getLogger(Daemon.class);
    private static final Path CONMON = Path.of("/usr/bin/conmon");
    private static final java.time.Duration RUNTIME_COMMAND_TIMEOUT = java.time.Duration.ofSeconds(60);
    private static final String CONTAINER_LAYERS = "container-layers";
    /** How often the engine looks for container monitors that died without writing an exit file. */
    private static final java.time.Duration EXIT_SWEEP = java.time.Duration.ofSeconds(10);

    private final BerthConfig config;
    private final CountDownLatch stop = new CountDownLatch(1);

    public Daemon(BerthConfig config) {
        this.config = withAvailableHandlers(config, Daemon::onPath);
    }

    /** Serves the CRI until SIGTERM or SIGINT, then shuts down; returns the exit status. */
    public int run() throws InterruptedException {
        try (Running running = start()) {
            awaitSignal();
        }
        return 0;
    }

    /** Installs the SIGTERM and SIGINT handlers and waits for one of them. */
    public void awaitSignal() throws InterruptedException {
        Signal.handle(new Signal("TERM"), this::onSignal);
        Signal.handle(new Signal("INT"), this::onSignal);
        stop.await();
    }

    /**
     * The runtime, started: the CRI served on the socket and, for an agent in the same
     * process, in process ({@link #localChannel()}); {@link #close()} shuts it all down.
     */
    public static final class Running implements AutoCloseable {
        private final BerthConfig config;
        private final CriServer server;
        private final InProcessCri local;
        private final MetricsServer metricsServer;
        private final BerthMetrics metrics;
        private final StreamingServer streaming;
        private final ContainerService containers;
        private final ImageService images;
        private final HandlerProbes probes;
        private final PodNetwork network;
        private final Warmup warmup;
        private final IdleCollector idleCollector;

        private Running(BerthConfig config, CriServer server, InProcessCri local, MetricsServer metricsServer, BerthMetrics metrics,
                StreamingServer streaming, ContainerService containers, ImageService images, HandlerProbes probes, PodNetwork network,
                Warmup warmup, IdleCollector idleCollector) {
            this.config = config;
            this.server = server;
            this.local = local;
            this.metricsServer = metricsServer;
            this.metrics = metrics;
            this.streaming = streaming;
            this.containers = containers;
            this.images = images;
            this.probes = probes;
            this.network = network;
            this.warmup = warmup;
            this.idleCollector = idleCollector;
        }

        /** The warm-up of the status and list calls started with the daemon, if any. */
        public Optional<Warmup> warmup() {
            return Optional.ofNullable(warmup);
        }

        /** A new in-process channel to the same CRI services the socket serves; the caller closes it. */
        public io.grpc.ManagedChannel localChannel() {
            return local.channel();
        }

        @Override
        public void close() {
            if (warmup != null) {
                warmup.close();
            }
            if (metricsServer != null) {
                metricsServer.close();
            }
            idleCollector.close();
            local.shutdown(config.grpc().shutdownTimeout());
            server.shutdown(config.grpc().shutdownTimeout());
            metrics.close();
            streaming.close();
            // a probe under way releases its container, cgroup, mounts and user namespace first
            probes.close();
            containers.manager().close();
            images.close();
            if (network instanceof CniPodNetwork cni) {
                cni.close();
            }
            LOG.info("berth stopped");
        }
    }

    /** Builds the runtime and starts serving it; the caller closes what this returns. */
    public Running start() {
        LOG.info("berth {} starting (config: {}, root: {}, run root: {})", BerthVersion.get(), config.source(),
                config.root(), config.runRoot());
        // every component records its metrics here (see BerthMetrics); /metrics exposes them.
        // Built in parallel with the rest of start-up: loading its classes takes a few hundred ms.
        CompletableFuture<BerthMetrics> metricsReady = CompletableFuture.supplyAsync(BerthMetrics::create);
        CriServer.prepareSocketPath(config.grpc().socket());
        createStateDirectory(config.root());
        createStateDirectory(config.runRoot());

        PodCidrs state = new PodCidrs(config.root());
        PodNetwork network = podNetwork(config.network(), state);
        Cgroups cgroups = Cgroups.detect(config.cgroup().driver());
        LOG.info("cgroups: {}", cgroups.describe());
        List<Readiness.Check> readiness = List.of(new RuntimeReadiness(config.runtime().handler("").name(), config.runtime().handler("").binary(),
                List.of(config.root(), config.runRoot())), new NetworkReadiness(network));
        CriRegistry registry = new CriRegistry();
        RuntimeInfoRpcs runtimeInfo = new RuntimeInfoRpcs(new RuntimeInfoRpcs.Settings(config.cgroup().driver(),
                config.runtime().defaultHandler(), config.runtime().handlers(), config.grpc().socket(), config.root(),
                config.runRoot(), config.source()), state, readiness)
                .withVerboseInfo("cgroupMode", cgroups.mode())
                .withVerboseInfo("cgroupLayout", cgroups.describe());
        runtimeInfo.register(registry);
        ImageService images = Images.open(config);
        RuntimeHandlers runtimes = runtimeHandlers(config);
        HandlerProbes probes = probeHandlers(config, cgroups, runtimes, runtimeInfo);
        ContainerService containers = containers(config, cgroups, images, runtimes);
        SandboxService sandboxes = new SandboxService(config.root().resolve("sandboxes"), config.runRoot(), runtimes,
                network, cgroups, containers);
        containers.usePods(sandboxes::podContext);
        // a recursive read-only mount is refused at create unless its handler's probe saw it
        // work (while probing: what the runtime's features document and the kernel say)
        containers.manager().useRecursiveReadOnlySupport((handler, binary) -> probes.recursiveReadOnlyMounts(handler)
                .orElseGet(() -> RuntimeFeatures.probe(binary).recursiveReadOnlyMounts()));
        // an idmapped CRI mount with the pod's own mappings goes through the pod's pinned user namespace
        containers.manager().idmappedMounts().usePodUserns((sandbox, uid, gid) -> sandbox.user() != null
                && sandbox.user().uids().equals(List.of(uid)) && sandbox.user().gids().equals(List.of(gid))
                ? Optional.of(Path.of(sandbox.user().path())) : Optional.empty());
        sandboxes.recover();
        network.garbageCollect(sandboxes.ids());
        ContainerEvents eventHub = new ContainerEvents(ContainerEvents.DEFAULT_BUFFER);
        eventHub.register(registry);
        PodEvents events = new PodEvents(eventHub, sandboxes, containers);
        containers.listen(events);
        containers.manager().exits().watch(EXIT_SWEEP);
        new SandboxRpcs(sandboxes, events).register(registry);
        new ImageRpcs(images, config.root().resolve(CONTAINER_LAYERS), config.registry().maxConcurrentPulls()).register(registry);
        new ContainerRpcs(containers).register(registry);
        Path layers = config.root().resolve(CONTAINER_LAYERS);
        StatsCollector stats = new StatsCollector(containers.manager(), PodDirectory.of(sandboxes), cgroups,
                record -> layers.resolve(record.id()).resolve("upper"), layers, new NetDev(), Clock.systemUTC());
        new StatsRpcs(stats).register(registry);
        new PodMetricsRpcs(stats, new ImageNames(images)).register(registry);
        StreamingServer streaming = streamingServer(config.streaming(), ProcessExecBackend.runtime(containers.manager()));
        new StreamingRpcs(streaming, containers.manager(), sandboxes).register(registry);

        BerthMetrics metrics = metricsReady.join();
        images.metrics().listen(new dev.berth.cli.metrics.ImagePullMeters(metrics.registry()));
        if (network instanceof CniPodNetwork cni) {
            cni.listen(new CniOperationMeters(metrics.registry()));
        }
        RuntimeCollectors.register(metrics, sandboxes, containers.manager(), stats, new ImageNames(images),
                config.metrics().containerInterval());
        // the heap a burst of calls grew is given back once they stop (see IdleCollector)
        IdleCollector idleCollector = IdleCollector.start(IdleCollector.DEFAULT_QUIET);
        CriServer server = CriServer.start(config.grpc().socket(), registry,
                CriServer.Limits.of(config.grpc().maxMessageSize(), config.grpc().maxConcurrentCalls()),
                new CriCallMetrics(metrics.registry()), idleCollector);
        InProcessCri local = InProcessCri.start("berth-cri-" + ProcessHandle.current().pid() + "-" + LOCAL_SERVERS.incrementAndGet(),
                registry, CriServer.Limits.of(config.grpc().maxMessageSize(), config.grpc().maxConcurrentCalls()),
                new CriCallMetrics(metrics.registry()), idleCollector);
        MetricsServer metricsServer = null;
        if (config.metrics().enabled()) {
            try {
                metricsServer = MetricsServer.start(config.metrics().host(), config.metrics().port(), metrics, new Health(readiness));
            } catch (RuntimeException e) {
                local.close();
                server.shutdown(config.grpc().shutdownTimeout());
                metrics.close();
                probes.close();
                idleCollector.close();
                throw e;
            }
        }
        LOG.info("berth ready in {} ms", ManagementFactory.getRuntimeMXBean().getUptime());
        return new Running(config, server, local, metricsServer, metrics, streaming, containers, images, probes, network,
                warmUp(registry), idleCollector);
    }

    /**
     * Probes in the background, so that start-up does not wait, which handlers run containers
     * here (Status offers only those) and what each supports, and whether CRIU could checkpoint
     * (Status verbose "checkpoint"). The probes are returned for {@link Running#close} to close:
     * a probe under way then releases what it made before berth stops.
     */
    private static HandlerProbes probeHandlers(BerthConfig config, Cgroups cgroups, RuntimeHandlers runtimes,
            RuntimeInfoRpcs runtimeInfo) {
        java.util.concurrent.Executor background = work -> {
            Thread t = new Thread(work, "berth-handler-probes");
            t.setDaemon(true);
            t.start();
        };
        // the per-handler features (recursive read-only mounts, user namespaces): what the handler's
        // probe containers are seen to do, unless the kernel or the runtime's features document
        // rules them out; until probed, neither
        HandlerProbes probes = HandlerProbes.start(runtimes.names(), HandlerProbes.containers(runtimes,
                config.runRoot().resolve("handler-probes"), cgroups::remove, RuntimeFeatures::probe), background);
        runtimeInfo.withHandlerProbes(probes);
        CompletableFuture<String> checkpoint = CompletableFuture.supplyAsync(CheckpointSupport::describe, background);
        runtimeInfo.withLiveVerboseInfo("checkpoint", () -> checkpoint.getNow(
                "unsupported: CheckpointContainer is not implemented (UNIMPLEMENTED); CRIU is being checked"));
        return probes;
    }

    /** Rounds of the warm-up at start ({@code -Dberth.warmup.rounds}, 0 turns it off). */
    static final String WARMUP_ROUNDS = "berth.warmup.rounds";

    /**
     * Warms the status and list calls in the background (see {@link Warmup}), then gives the
     * heap the warm-up and start-up left behind back: one full collection shrinks it (the
     * launcher's MaxHeapFreeRatio) to about what is live.
     */
    private static Warmup warmUp(CriRegistry registry) {
        int rounds = Integer.getInteger(WARMUP_ROUNDS, Warmup.DEFAULT_ROUNDS);
        if (rounds <= 0) {
            return null;
        }
        return Warmup.start(registry, rounds, System::gc);
    }

    /** Numbers the in-process servers of this JVM (tests may start several). */
    private static final java.util.concurrent.atomic.AtomicInteger LOCAL_SERVERS = new java.util.concurrent.atomic.AtomicInteger();

    /**
     * One OCI runtime per configured handler, for pods' infra processes and (under conmon) for
     * containers, with its state under {@code <run root>/runtimes/<handler>}. A configured binary
     * must be found at start-up; a sandbox's recorded binary is run as it was recorded.
     */
    private static RuntimeHandlers runtimeHandlers(BerthConfig config) {
        Map<String, String> binaries = new java.util.TreeMap<>();
        config.runtime().handlers().forEach((name, h) -> {
            executable(h.binary()); // not on PATH: berth does not start
            binaries.put(name, h.binary());
        });
        return new RuntimeHandlers(binaries, config.runtime().defaultHandler(), ConmonRuntime.factory(CONMON,
                config.runRoot().resolve("runtimes"), RUNTIME_COMMAND_TIMEOUT, Daemon::executableOrAsIs));
    }

    /**
     * The container engine over the runtime handlers, records under {@code <root>/containers},
     * writable layers under {@code <root>/container-layers} (what ImageFsInfo reports as the
     * container filesystem), root filesystems mounted under {@code <run root>/rootfs}, image
     * volumes staged under {@code <run root>/image-volumes}.
     */
    private static ContainerService containers(BerthConfig config, Cgroups cgroups, ImageService images,
            RuntimeHandlers runtimes) {
        ContainerManager manager = new ContainerManager(config.root(), config.runRoot(), runtimes, HostFacts.current(),
                rec -> oomKilled(cgroups, rec.cgroupsPath()), ContainerManager.Options.defaults());
        ContainerImages containerImages = ContainerImages.of(images);
        ContainerService containers = new ContainerService(manager, new ContainerRootfs(config.root().resolve(CONTAINER_LAYERS),
                config.runRoot().resolve("rootfs")), containerImages,
                new ImageVolumes(config.runRoot().resolve("image-volumes"), containerImages), cgroups);
        containers.recover();
        return containers;
    }

    private static boolean oomKilled(Cgroups cgroups, String cgroupsPath) {
        if (cgroupsPath == null || cgroupsPath.isEmpty()) {
            return false;
        }
        try {
            return cgroups.oomKills(cgroupsPath) > 0;
        } catch (RuntimeException e) {
            LOG.debug("cannot read the OOM kills of {}: {}", cgroupsPath, e.getMessage());
            return false;
        }
    }

    /**
     * The configuration without the built-in handlers whose runtime is not installed: a node with
     * runc alone runs, and Status lists the handlers it has. The default handler and every handler
     * the configuration names stay, so a missing binary of theirs still stops berth at start-up.
     */
    static BerthConfig withAvailableHandlers(BerthConfig config, java.util.function.Predicate<String> installed) {
        java.util.Set<String> missing = new java.util.TreeSet<>();
        config.runtime().handlers().forEach((name, h) -> {
            if (h.builtIn() && !name.equals(config.runtime().defaultHandler()) && !installed.test(h.binary())) {
                missing.add(name);
            }
        });
        if (missing.isEmpty()) {
            return config;
        }
        LOG.warn("runtime handlers {} left out: their runtime is not on PATH (install it, or name its binary under [runtime.handlers])",
                missing);
        return config.withRuntime(config.runtime().without(missing));
    }

    private static boolean onPath(String binary) {
        try {
            return Files.isExecutable(executable(binary));
        } catch (BerthException e) {
            return false;
        }
    }

    /** {@link #executable}, or the name as it is when it is not on PATH (any more). */
    private static Path executableOrAsIs(String binary) {
        try {
            return executable(binary);
        } catch (BerthException e) {
            return Path.of(binary);
        }
    }

    /** A binary named in the configuration: a path as it is, a bare name looked up on PATH. */
    private static Path executable(String binary) {
        if (binary.contains("/")) {
            return Path.of(binary);
        }
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin").split(":")) {
            Path p = Path.of(dir.isEmpty() ? "." : dir, binary);
            if (Files.isExecutable(p)) {
                return p.toAbsolutePath();
            }
        }
        throw BerthException.failedPrecondition("runtime binary %s is not on PATH", binary);
    }

    /** CNI networking on the configured directories; follows the kubelet's pod CIDR for the default network. */
    private static PodNetwork podNetwork(BerthConfig.Network n, PodCidrs state) {
        CniPodNetwork.DefaultNetworkSettings defaultNetwork = n.defaultNetwork()
                ? new CniPodNetwork.DefaultNetworkSettings("berth", n.defaultBridge(), n.defaultSubnet(), n.ipamDataDir(),
                        "99-berth-default.conflist")
                : null;
        CniPodNetwork network = new CniPodNetwork(new CniPodNetwork.Settings(n.cniConfigDir(), n.cniBinDirs(), n.cacheDir(),
                n.pluginTimeout(), defaultNetwork));
        network.setPodCidrs(state.podCidrs());
        state.onPodCidrChange(network::setPodCidrs);
        // pods that come and go one at a time do not remove and set up the rules again each time
        network.lingerMasquerades(n.masqueradeLinger());
        return network;
    }

    /** Starts the streaming server the {@code [streaming]} section describes. */
    private static StreamingServer streamingServer(StreamingSettings settings, ExecBackend exec) {
        StreamingServer.Tls tls = settings.tlsCertFile() == null ? null
                : new StreamingServer.Tls(settings.tlsCertFile(), settings.tlsKeyFile());
        return StreamingServer.start(settings.host(), settings.port(), new StreamingServer.Options(settings.tokenTtl(),
                settings.maxStreams(), settings.idleTimeout(), tls), exec, Clock.systemUTC());
    }

    private void onSignal(Signal signal) {
        LOG.info("received SIG{}, shutting down", signal.getName());
        stop.countDown();
    }

    /**
     * The state root and the run root: {@code 0711} whatever the umask (and also when an older
     * berth left them open), so that a container's own, possibly mapped, user may traverse them
     * while listing them is for root alone; everything below is closed by its owner.
     */
    private static void createStateDirectory(Path dir) {
        try {
            PrivateFiles.directory(dir, PrivateFiles.TRAVERSABLE);
        } catch (IOException e) {
            throw BerthException.failedPrecondition("cannot create state directory %s: %s", dir, e.getMessage());
        }
        if (!Files.isWritable(dir)) {
            throw BerthException.failedPrecondition("state directory %s is not writable", dir);
        }
    }
}
