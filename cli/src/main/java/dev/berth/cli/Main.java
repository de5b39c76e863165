package dev.berth.cli;

import dev.berth.common.BerthVersion;
import dev.berth.cli.config.BerthConfig;
import dev.berth.cli.config.ConfigException;
import dev.berth.cli.config.ConfigLoader;
import dev.berth.cli.logging.Logging;
import dev.berth.common.BerthException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** The {@code berth} command. */
@Command(name = "berth", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = {"berth: a Kubernetes node runtime serving the CRI on a UNIX socket, its node agent, and a CRI client.",
            "The client commands (version, ps, pods, images, exec, ...) talk to berth or any CRI runtime, as crictl does."})
public final class Main {
    /** Exit status for configuration errors. */
    public static final int EXIT_CONFIG = 2;
    /** Exit status when the daemon cannot start or fails. */
    public static final int EXIT_FAILURE = 1;

    public static void main(String[] args) {
        System.exit(commandLine(args).setOut(dev.berth.cli.client.ByteOutput.stdout()).setErr(dev.berth.cli.client.ByteOutput.stderr())
                .execute(args));
    }

    /** The {@code berth} command line with every subcommand and the exit codes of its failures; tests run commands through it in process. */
    public static CommandLine commandLine() {
        return build(null);
    }

    /**
     * The command line for these arguments: when the first names a subcommand, only that one is
     * built. picocli builds a command's model by reflection over its class, and building all of
     * them took about 0.7 s of a client call's 1.3 s; {@code --help}, {@code help} and
     * {@code completion} (which describe every command) get the whole command line, {@code --version} none.
     */
    public static CommandLine commandLine(String[] args) {
        String first = args.length > 0 ? args[0] : "";
        Map<String, Class<?>> all = subcommands();
        if (first.equals("-V") || first.equals("--version")) {
            return build("");
        }
        boolean wholeLine = first.equals("help") || first.equals("completion") || !all.containsKey(first);
        return build(wholeLine ? null : first);
    }

    /** Every subcommand by name, in the order --help lists them. */
    static Map<String, Class<?>> subcommands() {
        Map<String, Class<?>> m = new LinkedHashMap<>();
        for (Class<?> c : List.of(DaemonCommand.class, AgentCommand.class, ImageCommand.class, dev.berth.cli.bench.BenchCommand.class)) {
            m.put(c.getAnnotation(Command.class).name(), c);
        }
        for (Class<?> c : dev.berth.cli.client.ClientCommands.all()) {
            m.put(c.getAnnotation(Command.class).name(), c);
        }
        m.put("help", CommandLine.HelpCommand.class);
        return m;
    }

    private static CommandLine build(String only) {
        CommandLine cli = new CommandLine(new Main());
        for (Map.Entry<String, Class<?>> e : subcommands().entrySet()) {
            if (only == null || only.equals(e.getKey())) {
                CommandLine sub = new CommandLine(e.getValue());
                dev.berth.cli.client.ClientCommands.describe(sub);
                cli.addSubcommand(e.getKey(), sub);
            }
        }
        cli.setExecutionExceptionHandler((e, cmd, parsed) -> {
            Integer client = dev.berth.cli.client.ClientCommands.handle(e, cmd);
            if (client != null) {
                return client;
            }
            if (e instanceof ConfigException) {
                cmd.getErr().println("berth: " + e.getMessage());
                return EXIT_CONFIG;
            }
            if (e instanceof BerthException) {
                cmd.getErr().println("berth: " + e.getMessage());
                return EXIT_FAILURE;
            }
            throw e;
        });
        return cli;
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {"berth " + BerthVersion.get()};
        }
    }

    /** The options of every command that runs berth's runtime: {@code berth daemon} and {@code berth agent}. */
    static final class RuntimeOptions {
        @Option(names = "--config", paramLabel = "FILE",
                description = "configuration file (default: /etc/berth/config.toml if it exists)")
        Path config;

        @Option(names = "--socket", paramLabel = "PATH", description = "CRI socket (default: <run-root>/berth.sock)")
        Path socket;

        @Option(names = "--root", paramLabel = "DIR", description = "persistent state (default: /var/lib/berth)")
        Path root;

        @Option(names = "--run-root", paramLabel = "DIR", description = "runtime state (default: /run/berth)")
        Path runRoot;

        @Option(names = "--log-level", paramLabel = "LEVEL", description = "error, warn, info, debug or trace (default: info)")
        String logLevel;

        @Option(names = "--log-format", paramLabel = "FORMAT", description = "text or json (default: text)")
        String logFormat;

        @Option(names = "--metrics-address", paramLabel = "HOST:PORT",
                description = "Prometheus endpoint (/metrics, /healthz); empty turns it off (default: 127.0.0.1:9464)")
        String metricsAddress;

        /** The configuration with these flags applied, and logging set up by it. */
        BerthConfig load() {
            BerthConfig cfg = ConfigLoader.load(config, new BerthConfig.Overrides(root, runRoot, socket, logLevel, logFormat, metricsAddress));
            Logging.configure(cfg.log().level(), cfg.log().format());
            return cfg;
        }
    }

    @Command(name = "daemon", mixinStandardHelpOptions = true,
            description = "Serve the CRI (RuntimeService and ImageService) on a UNIX socket until SIGTERM or SIGINT.",
            footerHeading = "%nExamples:%n",
            footer = {"  berth daemon                                   # embedded defaults: /run/berth/berth.sock, /var/lib/berth",
                "  berth daemon --config /etc/berth/config.toml --log-level debug",
                "  berth daemon --root /tmp/b --run-root /tmp/b-run --socket /tmp/b.sock --metrics-address ''   # a second daemon"})
    static final class DaemonCommand implements Callable<Integer> {
        @CommandLine.Mixin
        RuntimeOptions options;

        @Override
        public Integer call() throws Exception {
            return new Daemon(options.load()).run();
        }
    }

    @Command(name = "agent", mixinStandardHelpOptions = true,
            description = {"Run the node agent until SIGTERM or SIGINT: static pods from --pod-manifest-path, through the CRI.",
                "By default berth's own runtime runs in the same process (serving the CRI socket and /metrics as berth daemon does);"
                    + " with --container-runtime-endpoint the agent drives that runtime instead.",
                "The agent leaves its pods running when it stops and adopts them when it starts again."},
            footerHeading = "%nExamples:%n",
            footer = {"  berth agent --pod-manifest-path /etc/berth/manifests",
                "  berth agent --kubeconfig /etc/berth/kubelet.conf --node-name node-1 --cluster-dns 10.96.0.10 --cluster-domain cluster.local",
                "  berth agent --container-runtime-endpoint unix:///run/containerd/containerd.sock --pod-manifest-path /etc/berth/manifests"})
    static final class AgentCommand implements Callable<Integer> {
        @CommandLine.Mixin
        RuntimeOptions options;

        @Option(names = "--container-runtime-endpoint", paramLabel = "unix:///PATH",
                description = "drive the CRI runtime on this socket instead of starting berth's own (default: in process)")
        String endpoint;

        @Option(names = "--kubeconfig", paramLabel = "FILE", description = "the API server to register the node with (connected mode)")
        Path kubeconfig;

        @Option(names = "--node-name", paramLabel = "NAME", description = "the node's name (default: the host name)")
        String nodeName;

        @Option(names = "--pod-manifest-path", paramLabel = "DIR", description = "directory of static pod manifests (YAML or JSON)")
        Path podManifestPath;

        @Option(names = "--in-cluster", description = "connected mode through the service account of the pod the agent runs in")
        boolean inCluster;

        @Option(names = "--node-ip", paramLabel = "IP[,IP]", description = "the node's InternalIP (default: the address of the default route's interface)")
        String nodeIp;

        @Option(names = "--node-labels", split = ",", paramLabel = "KEY=VALUE", description = "labels of the Node besides the kubelet's own")
        java.util.Map<String, String> nodeLabels;

        @Option(names = "--register-with-taints", split = ",", paramLabel = "KEY=VALUE:EFFECT",
                description = "taints the Node is created with (only when the agent creates it)")
        List<String> registerWithTaints;

        @Option(names = "--max-pods", paramLabel = "N", description = "the node's pod capacity (default: 110)")
        Integer maxPods;

        @Option(names = "--system-reserved", split = ",", paramLabel = "RESOURCE=QUANTITY",
                description = "cpu, memory, ephemeral-storage, pid held back from allocatable for the system")
        java.util.Map<String, String> systemReserved;

        @Option(names = "--kube-reserved", split = ",", paramLabel = "RESOURCE=QUANTITY",
                description = "cpu, memory, ephemeral-storage, pid held back from allocatable for berth")
        java.util.Map<String, String> kubeReserved;

        @Option(names = "--eviction-hard", paramLabel = "SIGNAL<VALUE,...",
                description = "hard eviction thresholds, e.g. memory.available<100Mi,nodefs.available<10%% (replaces the defaults)")
        String evictionHard;

        @Option(names = "--eviction-soft", paramLabel = "SIGNAL<VALUE,...",
                description = "soft eviction thresholds, e.g. memory.available<1.5Gi (each needs a grace period)")
        String evictionSoft;

        @Option(names = "--eviction-soft-grace-period", paramLabel = "SIGNAL=DURATION,...",
                description = "how long each soft threshold must be met before pods are evicted, e.g. memory.available=1m30s")
        String evictionSoftGracePeriod;

        @Option(names = "--eviction-max-pod-grace-period", paramLabel = "SECONDS",
                description = "the longest grace period of a pod evicted for a soft threshold (negative: the pod's own; default: 0)")
        Long evictionMaxPodGracePeriod;

        @Option(names = "--eviction-pressure-transition-period", paramLabel = "DURATION",
                description = "how long a pressure condition stays after its signal cleared (default: 5m)")
        String evictionPressureTransitionPeriod;

        @Option(names = "--eviction-minimum-reclaim", paramLabel = "SIGNAL=VALUE,...",
                description = "how far above a threshold met evicting goes on, e.g. memory.available=0Mi,nodefs.available=500Mi")
        String evictionMinimumReclaim;

        @Option(names = "--housekeeping-interval", paramLabel = "DURATION",
                description = "how often eviction signals are measured and at most one pod is evicted (default: 10s)")
        String housekeepingInterval;

        @Option(names = "--node-status-update-frequency", paramLabel = "DURATION",
                description = "how often the node's status is computed and, when changed, written (default: 10s)")
        String nodeStatusUpdateFrequency;

        @Option(names = "--cluster-dns", paramLabel = "IP[,IP]", description = "the cluster's DNS servers, for pods of dnsPolicy ClusterFirst")
        String clusterDns;

        @Option(names = "--cluster-domain", paramLabel = "DOMAIN", description = "the cluster's domain, e.g. cluster.local (the pods' DNS search path)")
        String clusterDomain;

        @Option(names = "--address", paramLabel = "IP", description = "where the HTTP API (kubelet API) listens (default: 0.0.0.0)")
        String address;

        @Option(names = "--port", paramLabel = "PORT", description = "the HTTP API's TLS port (default: 10250; 0: off)")
        Integer port;

        @Option(names = "--read-only-port", paramLabel = "PORT",
                description = "the read-only plain-HTTP port (0: off; default: off when connected, 10255 on 127.0.0.1 when standalone)")
        Integer readOnlyPort;

        @Option(names = "--tls-cert-file", paramLabel = "FILE", description = "the HTTP API's serving certificate, PEM (default: self-signed)")
        Path tlsCertFile;

        @Option(names = "--tls-private-key-file", paramLabel = "FILE", description = "the serving certificate's private key, PEM")
        Path tlsPrivateKeyFile;

        @Option(names = "--client-ca-file", paramLabel = "FILE", description = "CA bundle that client certificates of the HTTP API must chain to")
        Path clientCaFile;

        @Option(names = "--authentication-token-webhook", arity = "0..1", paramLabel = "BOOL",
                description = "check bearer tokens through the API server's TokenReview (default: true)")
        Boolean authenticationTokenWebhook;

        @Option(names = "--authorization-mode", paramLabel = "MODE",
                description = "Webhook (SubjectAccessReview, when connected) or AlwaysAllow (default: Webhook)")
        String authorizationMode;

        @Option(names = "--anonymous-auth", arity = "0..1", paramLabel = "BOOL",
                description = "serve unauthenticated requests as system:anonymous (default: false)")
        Boolean anonymousAuth;

        @Option(names = "--image-gc-high-threshold", paramLabel = "PERCENT",
                description = "image filesystem usage at which unused images are removed (default: 85; 100 switches it off)")
        Integer imageGcHighThreshold;

        @Option(names = "--image-gc-low-threshold", paramLabel = "PERCENT",
                description = "image filesystem usage image garbage collection frees down to (default: 80)")
        Integer imageGcLowThreshold;

        @Option(names = "--image-minimum-gc-age", paramLabel = "DURATION", description = "unused images younger than this stay (default: 2m)")
        String imageMinimumGcAge;

        @Option(names = "--image-maximum-gc-age", paramLabel = "DURATION",
                description = "images unused for longer than this are removed whatever the usage (default: 0, off)")
        String imageMaximumGcAge;

        @Option(names = "--maximum-dead-containers-per-container", paramLabel = "N",
                description = "dead runs kept per container of a pod (default: 1; negative: no limit)")
        Integer maximumDeadContainersPerContainer;

        @Option(names = "--maximum-dead-containers", paramLabel = "N", description = "dead containers kept on the node (default: -1, no limit)")
        Integer maximumDeadContainers;

        @Option(names = "--minimum-container-ttl-duration", paramLabel = "DURATION",
                description = "dead containers younger than this stay (default: 0)")
        String minimumContainerTtlDuration;

        @Override
        public Integer call() throws Exception {
            BerthConfig cfg = options.load();
            cfg = cfg.withAgent(cfg.agent().withGcFlags(imageGcHighThreshold, imageGcLowThreshold, imageMinimumGcAge, imageMaximumGcAge,
                    maximumDeadContainersPerContainer, maximumDeadContainers, minimumContainerTtlDuration));
            cfg = cfg.withAgent(cfg.agent().withFlags(nodeName, podManifestPath, kubeconfig, endpoint)
                    .withNodeFlags(nodeIp, nodeLabels, registerWithTaints, maxPods, inCluster, systemReserved, kubeReserved, evictionHard,
                            nodeStatusUpdateFrequency)
                    .withClusterDnsFlags(clusterDns, clusterDomain)
                    .withEvictionFlags(evictionSoft, evictionSoftGracePeriod, evictionMaxPodGracePeriod, evictionPressureTransitionPeriod,
                            evictionMinimumReclaim, housekeepingInterval));
            cfg = cfg.withAgent(cfg.agent().withServer(dev.berth.cli.config.AgentServerConfig.withFlags(cfg.agent().server(), address, port,
                    readOnlyPort, tlsCertFile, tlsPrivateKeyFile, clientCaFile, authenticationTokenWebhook, authorizationMode, anonymousAuth)));
            return new NodeAgent(cfg).run();
        }
    }

    @Command(name = "image", mixinStandardHelpOptions = true, description = "Manage berth's image store offline.",
            footerHeading = "%nExamples:%n",
            footer = {"  berth image import busybox.tar", "  berth image build-rootfs /tmp/rootfs --tag local/busybox:1"},
            subcommands = {ImageImportCommand.class, ImageBuildRootfsCommand.class})
    static final class ImageCommand {
    }

    /** The options of the offline image commands: which configuration and which store. */
    static final class StoreOptions {
        @Option(names = "--config", paramLabel = "FILE", description = "configuration file (default: /etc/berth/config.toml if it exists)")
        Path config;

        @Option(names = "--root", paramLabel = "DIR", description = "persistent state (default: /var/lib/berth)")
        Path root;

        dev.berth.images.ImageService openImages() {
            BerthConfig cfg = ConfigLoader.load(config, new BerthConfig.Overrides(root, null, null, null, null));
            Logging.configure("warn", "text");
            return dev.berth.cli.Images.open(cfg);
        }
    }

    @Command(name = "import", mixinStandardHelpOptions = true,
            description = "Load an OCI image layout (directory or tar) or a docker save archive (tar, optionally gzipped) into the image store.",
            footerHeading = "%nExamples:%n",
            footer = {"  berth image import busybox.tar.gz          # docker save, gzipped", "  berth image import ./oci-layout/",
                "  berth image import app.tar --root /tmp/b    # another daemon's store"})
    static final class ImageImportCommand implements Callable<Integer> {
        @CommandLine.Parameters(paramLabel = "FILE", description = "the archive or OCI layout directory")
        Path file;

        @CommandLine.Mixin
        StoreOptions store;

        @Override
        public Integer call() throws Exception {
            try (dev.berth.images.ImageService images = store.openImages()) {
                for (dev.berth.images.store.ImageRecord r : dev.berth.images.archive.ImageArchive.importFile(images, file.toAbsolutePath(),
                        dev.berth.images.registry.Platform.host())) {
                    System.out.println(r.id() + (r.repoTags().isEmpty() ? "" : " " + String.join(" ", r.repoTags())));
                }
            }
            return 0;
        }
    }

    @Command(name = "build-rootfs", mixinStandardHelpOptions = true,
            description = "Make a one-layer image from a root filesystem directory and store it under a tag.",
            footerHeading = "%nExamples:%n",
            footer = {"  berth image build-rootfs /tmp/rootfs --tag local/busybox:1",
                "  berth image build-rootfs ./root --tag local/tools:1 --entrypoint /bin/sh,-c --cmd 'echo hi' --env PATH=/bin --user 1000"})
    static final class ImageBuildRootfsCommand implements Callable<Integer> {
        @CommandLine.Parameters(paramLabel = "DIR", description = "the root filesystem")
        Path dir;

        @Option(names = "--tag", required = true, paramLabel = "NAME", description = "the image reference, e.g. local/tools:1")
        String tag;

        @Option(names = "--entrypoint", split = ",", paramLabel = "ARG", description = "the image's entrypoint (comma-separated)")
        List<String> entrypoint;

        @Option(names = "--cmd", split = ",", paramLabel = "ARG", description = "the image's default command (comma-separated)")
        List<String> cmd;

        @Option(names = "--env", paramLabel = "NAME=VALUE", description = "an environment variable (repeatable; default: a PATH)")
        List<String> env;

        @Option(names = "--user", paramLabel = "USER", description = "the user the image runs as")
        String user;

        @Option(names = "--workdir", paramLabel = "DIR", description = "the working directory")
        String workdir;

        @CommandLine.Mixin
        StoreOptions store;

        @Override
        public Integer call() throws Exception {
            try (dev.berth.images.ImageService images = store.openImages()) {
                dev.berth.images.store.ImageRecord r = dev.berth.images.archive.RootfsImage.build(images, dir.toAbsolutePath(), tag,
                        new dev.berth.images.archive.RootfsImage.RunConfig(entrypoint, cmd, env, user, workdir));
                System.out.println(r.id() + " " + String.join(" ", r.repoTags()));
            }
            return 0;
        }
    }
}
