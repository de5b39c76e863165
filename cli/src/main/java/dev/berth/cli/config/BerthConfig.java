package dev.berth.cli.config;

import dev.berth.agent.eviction.EvictionSettings;
import dev.berth.agent.gc.GcSettings;
import dev.berth.agent.node.EvictionThreshold;
import dev.berth.agent.node.NodeSettings;
import dev.berth.agent.pod.RestartSettings;
import dev.berth.agent.server.ServerSettings;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * berth's whole configuration: one typed tree, each section reading and validating its own
 * keys. Defaults here are the documented ones (see manifests/config.toml and README.md).
 */
public record BerthConfig(
        Path root,
        Path runRoot,
        Log log,
        Grpc grpc,
        Cgroup cgroup,
        Runtime runtime,
        Network network,
        Metrics metrics,
        Registry registry,
        Images images,
        StreamingSettings streaming,
        Agent agent,
        String source) {

    public static final Path DEFAULT_FILE = Path.of("/etc/berth/config.toml");

    /** The same configuration, said to come from elsewhere. */
    public BerthConfig withSource(String newSource) {
        return new BerthConfig(root, runRoot, log, grpc, cgroup, runtime, network, metrics, registry, images, streaming, agent, newSource);
    }

    /** The same configuration with other runtime handlers. */
    public BerthConfig withRuntime(Runtime newRuntime) {
        return new BerthConfig(root, runRoot, log, grpc, cgroup, newRuntime, network, metrics, registry, images, streaming, agent, source);
    }

    /** The same configuration with another {@code [agent]} table (the agent's flags applied). */
    public BerthConfig withAgent(Agent newAgent) {
        return new BerthConfig(root, runRoot, log, grpc, cgroup, runtime, network, metrics, registry, images, streaming, newAgent, source);
    }

    /**
     * The node agent ({@code berth agent}). Empty strings mean: the machine's host name
     * ({@code nodeName}), no static pods ({@code podManifestPath}), no API server
     * ({@code kubeconfig}), berth's own runtime in the same process ({@code containerRuntimeEndpoint}).
     * @param manifestRescanInterval how often the manifest directory is read whole (changes are also watched)
     * @param runtimeRequestTimeout the deadline of each CRI call but image pulls
     * @param imagePullTimeout the deadline of one image pull
     * @param podLogsDir where each pod's container logs go ({@code <dir>/<namespace>_<name>_<uid>/<container>/<attempt>.log})
     * @param node how the Node is presented in connected mode (labels, taints, address, capacity, reservations, thresholds)
     * @param inCluster connected mode through the pod's service account instead of a kubeconfig
     * @param gc garbage collection of dead containers and unused images (the kubelet's image-gc and dead-container settings)
     * @param restart the crash back-off of containers that keep exiting (restart_backoff_initial, _max, _reset)
     */
    public record Agent(String nodeName, Path podManifestPath, Path kubeconfig, String containerRuntimeEndpoint,
                        Path podLogsDir, Duration manifestRescanInterval, Duration runtimeRequestTimeout, Duration imagePullTimeout,
                        NodeSettings node, boolean inCluster, boolean cgroupsPerQos, String cgroupRoot, List<String> clusterDns,
                        String clusterDomain, ServerSettings server, GcSettings gc,
                        EvictionSettings eviction, RestartSettings restart) {
        public Agent {
            if (eviction == null) {
                eviction = EvictionSettings.defaults();
            }
            if (server == null) {
                server = ServerSettings.defaults();
            }
            if (node == null) {
                node = NodeSettings.defaults();
            }
            if (gc == null) {
                gc = GcSettings.defaults();
            }
            if (restart == null) {
                restart = RestartSettings.defaults();
            }
            if (inCluster && kubeconfig != null) {
                throw new ConfigException("agent.kubeconfig (--kubeconfig) and agent.in_cluster (--in-cluster) exclude each other: give one");
            }
        }

        /** With the kubelet's defaults for the Node, no in-cluster configuration and no cgroups per QoS class. */
        public Agent(String nodeName, Path podManifestPath, Path kubeconfig, String containerRuntimeEndpoint,
                     Path podLogsDir, Duration manifestRescanInterval, Duration runtimeRequestTimeout, Duration imagePullTimeout) {
            this(nodeName, podManifestPath, kubeconfig, containerRuntimeEndpoint, podLogsDir, manifestRescanInterval, runtimeRequestTimeout,
                    imagePullTimeout, NodeSettings.defaults(), false, false, "/", List.of(), "", null, GcSettings.defaults(), EvictionSettings.defaults(),
                    RestartSettings.defaults());
        }

        /** The Node's keys of the {@code [agent]} table. */
        static NodeSettings readNode(ConfigSection s) {
            Map<String, String> labels = s.stringMap("node_labels", Map.of());
            List<String> taints = s.strings("register_with_taints", List.of());
            String nodeIp = s.string("node_ip", "");
            int maxPods = (int) s.integer("max_pods", NodeSettings.DEFAULT_MAX_PODS, 1, 1_000_000);
            Map<String, String> system = s.stringMap("system_reserved", Map.of());
            Map<String, String> kube = s.stringMap("kube_reserved", Map.of());
            Map<String, String> eviction = s.stringMap("eviction_hard", EvictionThreshold.DEFAULTS);
            Duration update = s.duration("node_status_update_frequency", NodeSettings.DEFAULT_STATUS_UPDATE_FREQUENCY);
            Duration report = s.duration("node_status_report_frequency", NodeSettings.DEFAULT_STATUS_REPORT_FREQUENCY);
            return node(labels, taints, ips(nodeIp), maxPods, system, kube, eviction, update, report, "config key 'agent.%s'");
        }

        private static List<String> ips(String nodeIp) {
            return nodeIp.isBlank() ? List.of() : List.of(nodeIp.trim().split("\\s*,\\s*"));
        }

        /** NodeSettings, its complaint turned into one naming the setting ({@code setting}: a format for the key). */
        private static NodeSettings node(Map<String, String> labels, List<String> taints, List<String> ips, int maxPods,
                                         Map<String, String> system, Map<String, String> kube, Map<String, String> eviction,
                                         Duration update, Duration report, String setting) {
            try {
                return new NodeSettings(labels, taints, ips, maxPods, system, kube, eviction, update, report);
            } catch (IllegalArgumentException e) {
                String[] keyAndText = e.getMessage().split(": ", 2);
                String key = setting.startsWith("option") ? keyAndText[0].replace('_', '-') : keyAndText[0];
                throw new ConfigException(String.format(setting, key) + " " + (keyAndText.length > 1 ? keyAndText[1] : e.getMessage()));
            }
        }

        /**
         * These settings with the Node's command-line flags applied (each non-null one wins):
         * --node-ip, --node-labels (k=v,…, replacing the table), --register-with-taints, --max-pods, --in-cluster.
         */
        public Agent withNodeFlags(String flagNodeIp, Map<String, String> flagLabels, List<String> flagTaints, Integer flagMaxPods,
                                   boolean flagInCluster) {
            return withNodeFlags(flagNodeIp, flagLabels, flagTaints, flagMaxPods, flagInCluster, null, null, null, null);
        }

        /**
         * The same with the kubelet's resource flags too: --system-reserved and --kube-reserved
         * (cpu=500m,memory=1Gi), --eviction-hard (memory.available<100Mi,nodefs.available<10%, replacing the
         * table whole) and --node-status-update-frequency (a duration such as 10s).
         */
        public Agent withNodeFlags(String flagNodeIp, Map<String, String> flagLabels, List<String> flagTaints, Integer flagMaxPods,
                                   boolean flagInCluster, Map<String, String> flagSystemReserved, Map<String, String> flagKubeReserved,
                                   String flagEvictionHard, String flagStatusUpdateFrequency) {
            Duration update = node.statusUpdateFrequency();
            if (flagStatusUpdateFrequency != null) {
                try {
                    update = Durations.parse(flagStatusUpdateFrequency);
                } catch (IllegalArgumentException e) {
                    throw new ConfigException("option --node-status-update-frequency must be a duration such as \"10s\", got \""
                            + flagStatusUpdateFrequency + "\"");
                }
            }
            NodeSettings n = node(flagLabels != null ? flagLabels : node.labels(),
                    flagTaints != null ? flagTaints : node.registerWithTaints(),
                    flagNodeIp != null ? ips(flagNodeIp) : node.nodeIps(),
                    flagMaxPods != null ? flagMaxPods : node.maxPods(),
                    flagSystemReserved != null ? flagSystemReserved : node.systemReserved(),
                    flagKubeReserved != null ? flagKubeReserved : node.kubeReserved(),
                    flagEvictionHard != null ? evictionFlag(flagEvictionHard) : node.evictionHard(),
                    update, node.statusReportFrequency(), "option --%s");
            return new Agent(nodeName, podManifestPath, kubeconfig, containerRuntimeEndpoint, podLogsDir, manifestRescanInterval,
                    runtimeRequestTimeout, imagePullTimeout, n, inCluster || flagInCluster, cgroupsPerQos, cgroupRoot, clusterDns,
                    clusterDomain, server, gc, eviction, restart);
        }

        /** The kubelet's --eviction-hard notation: "signal<value" pairs separated by commas. */
        static Map<String, String> evictionFlag(String text) {
            Map<String, String> out = new LinkedHashMap<>();
            for (String part : text.split(",")) {
                if (part.isBlank()) {
                    continue;
                }
                int lt = part.indexOf('<');
                if (lt <= 0) {
                    throw new ConfigException("option --eviction-hard must be signal<value pairs such as \"memory.available<100Mi\", got \""
                            + part.trim() + "\"");
                }
                out.put(part.substring(0, lt).trim(), part.substring(lt + 1).trim());
            }
            return out;
        }

        /** The garbage collection keys of the {@code [agent]} table (the kubelet's flags' names with underscores). */
        static GcSettings readGc(ConfigSection s) {
            GcSettings d = GcSettings.defaults();
            return gc((int) s.integer("image_gc_high_threshold", d.imageGcHighThresholdPercent(), 0, 100),
                    (int) s.integer("image_gc_low_threshold", d.imageGcLowThresholdPercent(), 0, 100),
                    s.duration("image_minimum_gc_age", d.imageMinimumGcAge()),
                    s.duration("image_maximum_gc_age", d.imageMaximumGcAge()),
                    (int) s.integer("maximum_dead_containers_per_container", d.maxPerPodContainer(), Integer.MIN_VALUE, Integer.MAX_VALUE),
                    (int) s.integer("maximum_dead_containers", d.maxContainers(), Integer.MIN_VALUE, Integer.MAX_VALUE),
                    s.duration("minimum_container_ttl_duration", d.minimumContainerTtl()),
                    s.duration("container_gc_period", d.containerGcPeriod()),
                    s.duration("image_gc_period", d.imageGcPeriod()), "config key 'agent.%s'");
        }

        /** GcSettings, its complaint turned into one naming the setting ({@code setting}: a format for the key). */
        private static GcSettings gc(int high, int low, Duration minAge, Duration maxAge, int perContainer, int max, Duration ttl,
                                     Duration containerPeriod, Duration imagePeriod, String setting) {
            try {
                return new GcSettings(high, low, minAge, maxAge, perContainer, max, ttl, containerPeriod, imagePeriod);
            } catch (IllegalArgumentException e) {
                String[] keyAndText = e.getMessage().split(": ", 2);
                String key = setting.startsWith("option") ? keyAndText[0].replace('_', '-') : keyAndText[0];
                throw new ConfigException(String.format(setting, key) + " " + keyAndText[1]);
            }
        }

        /**
         * These settings with the kubelet's garbage collection flags applied (each non-null one wins):
         * --image-gc-high-threshold, --image-gc-low-threshold, --image-minimum-gc-age, --image-maximum-gc-age,
         * --maximum-dead-containers-per-container, --maximum-dead-containers, --minimum-container-ttl-duration.
         */
        public Agent withGcFlags(Integer high, Integer low, String minAge, String maxAge, Integer perContainer, Integer max, String ttl) {
            GcSettings g = gc(high != null ? high : gc.imageGcHighThresholdPercent(), low != null ? low : gc.imageGcLowThresholdPercent(),
                    minAge != null ? flagDuration("image-minimum-gc-age", minAge) : gc.imageMinimumGcAge(),
                    maxAge != null ? flagDuration("image-maximum-gc-age", maxAge) : gc.imageMaximumGcAge(),
                    perContainer != null ? perContainer : gc.maxPerPodContainer(), max != null ? max : gc.maxContainers(),
                    ttl != null ? flagDuration("minimum-container-ttl-duration", ttl) : gc.minimumContainerTtl(),
                    gc.containerGcPeriod(), gc.imageGcPeriod(), "option --%s");
            return new Agent(nodeName, podManifestPath, kubeconfig, containerRuntimeEndpoint, podLogsDir, manifestRescanInterval,
                    runtimeRequestTimeout, imagePullTimeout, node, inCluster, cgroupsPerQos, cgroupRoot, clusterDns, clusterDomain, server, g,
                    eviction, restart);
        }

        private static Duration flagDuration(String flag, String text) {
            try {
                return Durations.parse(text);
            } catch (IllegalArgumentException e) {
                throw new ConfigException("option --" + flag + " must be a duration such as \"2m\", got \"" + text + "\"");
            }
        }

        static Agent read(ConfigSection s) {
            String nodeName = s.string("node_name", "");
            String manifests = s.string("pod_manifest_path", "");
            String kubeconfig = s.string("kubeconfig", "");
            String endpoint = s.string("container_runtime_endpoint", "");
            Agent a = new Agent(nodeName,
                    manifests.isEmpty() ? null : absolute(s, "agent.pod_manifest_path", manifests),
                    kubeconfig.isEmpty() ? null : absolute(s, "agent.kubeconfig", kubeconfig),
                    endpoint,
                    absolute(s, "agent.pod_logs_dir", s.string("pod_logs_dir", "/var/log/pods")),
                    positive(s.duration("manifest_rescan_interval", Duration.ofSeconds(20)), "agent.manifest_rescan_interval"),
                    positive(s.duration("runtime_request_timeout", Duration.ofMinutes(2)), "agent.runtime_request_timeout"),
                    positive(s.duration("image_pull_timeout", Duration.ofHours(1)), "agent.image_pull_timeout"),
                    readNode(s),
                    s.bool("in_cluster", false),
                    s.bool("cgroups_per_qos", true), cgroupRoot(s.string("cgroup_root", "/")),
                    clusterDns(s.strings("cluster_dns", List.of()), "config key 'agent.cluster_dns'"),
                    clusterDomain(s.string("cluster_domain", ""), "config key 'agent.cluster_domain'"),
                    AgentServerConfig.read(s), readGc(s), readEviction(s), readRestart(s));
            a.checkNames("config key 'agent.node_name'", "config key 'agent.container_runtime_endpoint'");
            return a;
        }

        /** These settings with the agent's command-line flags applied (each non-null one wins). */
        public Agent withFlags(String flagNodeName, Path flagManifests, Path flagKubeconfig, String flagEndpoint) {
            Agent a = new Agent(flagNodeName != null ? flagNodeName : nodeName,
                    flagManifests != null ? flagManifests.toAbsolutePath() : podManifestPath,
                    flagKubeconfig != null ? flagKubeconfig.toAbsolutePath() : kubeconfig,
                    flagEndpoint != null ? flagEndpoint : containerRuntimeEndpoint,
                    podLogsDir, manifestRescanInterval, runtimeRequestTimeout, imagePullTimeout, node, inCluster, cgroupsPerQos, cgroupRoot,
                    clusterDns, clusterDomain, server, gc, eviction, restart);
            a.checkNames("option --node-name", "option --container-runtime-endpoint");
            return a;
        }

        private void checkNames(String nodeNameSetting, String endpointSetting) {
            // a node name is a DNS subdomain (lower case); the kubelet lower-cases the host name likewise
            if (!nodeName.isEmpty() && !nodeName.matches("[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")) {
                throw new ConfigException(nodeNameSetting + " must be a DNS subdomain (lower-case letters, digits, '-', '.'), got \""
                        + nodeName + "\"");
            }
            if (!containerRuntimeEndpoint.isEmpty() && !containerRuntimeEndpoint.matches("unix:///.+")) {
                throw new ConfigException(endpointSetting + " must be a unix:///path endpoint, got \"" + containerRuntimeEndpoint + "\"");
            }
        }

        /** These settings with the kubelet's --cluster-dns (addresses, comma-separated) and --cluster-domain applied (each non-null one wins). */
        public Agent withClusterDnsFlags(String flagClusterDns, String flagClusterDomain) {
            List<String> dns = flagClusterDns == null ? clusterDns
                    : clusterDns(flagClusterDns.isBlank() ? List.of() : List.of(flagClusterDns.trim().split("\\s*,\\s*")), "option --cluster-dns");
            String domain = flagClusterDomain == null ? clusterDomain : clusterDomain(flagClusterDomain, "option --cluster-domain");
            return new Agent(nodeName, podManifestPath, kubeconfig, containerRuntimeEndpoint, podLogsDir, manifestRescanInterval,
                    runtimeRequestTimeout, imagePullTimeout, node, inCluster, cgroupsPerQos, cgroupRoot, dns, domain, server, gc, eviction,
                    restart);
        }

        /** These settings with another HTTP API ({@link AgentServerConfig#withFlags}: the kubelet's server flags applied). */
        public Agent withServer(ServerSettings newServer) {
            return new Agent(nodeName, podManifestPath, kubeconfig, containerRuntimeEndpoint, podLogsDir, manifestRescanInterval,
                    runtimeRequestTimeout, imagePullTimeout, node, inCluster, cgroupsPerQos, cgroupRoot, clusterDns, clusterDomain, newServer,
                    gc, eviction, restart);
        }

        // ---- eviction: the [agent] keys eviction_soft, eviction_soft_grace_period, eviction_max_pod_grace_period,
        // eviction_pressure_transition_period, eviction_minimum_reclaim, housekeeping_interval and their kubelet flags

        /** The eviction keys of the {@code [agent]} table (the hard thresholds are the Node's eviction_hard). */
        static EvictionSettings readEviction(ConfigSection s) {
            Map<String, String> soft = s.stringMap("eviction_soft", Map.of());
            Map<String, Duration> grace = new LinkedHashMap<>();
            s.stringMap("eviction_soft_grace_period", Map.of()).forEach((signal, text) -> grace.put(signal,
                    duration(text, "config key 'agent.eviction_soft_grace_period' \"" + signal + "\"")));
            long maxPodGrace = s.integer("eviction_max_pod_grace_period", 0, -1, Integer.MAX_VALUE);
            Duration transition = s.duration("eviction_pressure_transition_period", EvictionSettings.DEFAULT_PRESSURE_TRANSITION_PERIOD);
            Map<String, String> reclaim = s.stringMap("eviction_minimum_reclaim", Map.of());
            Duration housekeeping = s.duration("housekeeping_interval", EvictionSettings.DEFAULT_HOUSEKEEPING_INTERVAL);
            return eviction(soft, grace, maxPodGrace, transition, reclaim, housekeeping, "config key 'agent.%s'");
        }

        private static EvictionSettings eviction(Map<String, String> soft, Map<String, Duration> grace, long maxPodGrace, Duration transition,
                                                 Map<String, String> reclaim, Duration housekeeping, String setting) {
            try {
                return new EvictionSettings(soft, grace, maxPodGrace, transition, reclaim, housekeeping);
            } catch (IllegalArgumentException e) {
                String[] keyAndText = e.getMessage().split(": ", 2);
                String key = setting.startsWith("option") ? keyAndText[0].replace('_', '-') : keyAndText[0];
                throw new ConfigException(String.format(setting, key) + " " + (keyAndText.length > 1 ? keyAndText[1] : e.getMessage()));
            }
        }

        private static Duration duration(String text, String setting) {
            try {
                return Durations.parse(text.trim());
            } catch (IllegalArgumentException e) {
                throw new ConfigException(setting + " must be a duration such as \"1m30s\", got \"" + text + "\"");
            }
        }

        /**
         * These settings with the kubelet's eviction flags applied (each non-null one wins):
         * --eviction-soft (memory.available<1.5Gi,…), --eviction-soft-grace-period (memory.available=1m30s,…),
         * --eviction-max-pod-grace-period (seconds), --eviction-pressure-transition-period (5m),
         * --eviction-minimum-reclaim (memory.available=0Mi,nodefs.available=500Mi,…) and --housekeeping-interval (10s).
         */
        public Agent withEvictionFlags(String flagSoft, String flagSoftGrace, Long flagMaxPodGrace, String flagTransition, String flagReclaim,
                                       String flagHousekeeping) {
            EvictionSettings e = eviction;
            Map<String, Duration> grace = e.softGracePeriod();
            if (flagSoftGrace != null) {
                grace = new LinkedHashMap<>();
                for (Map.Entry<String, String> kv : pairs(flagSoftGrace, '=', "eviction-soft-grace-period", "memory.available=1m30s").entrySet()) {
                    grace.put(kv.getKey(), duration(kv.getValue(), "option --eviction-soft-grace-period \"" + kv.getKey() + "\""));
                }
            }
            EvictionSettings out = eviction(
                    flagSoft != null ? pairs(flagSoft, '<', "eviction-soft", "memory.available<1.5Gi") : e.soft(),
                    grace,
                    flagMaxPodGrace != null ? flagMaxPodGrace : e.maxPodGracePeriodSeconds(),
                    flagTransition != null ? duration(flagTransition, "option --eviction-pressure-transition-period") : e.pressureTransitionPeriod(),
                    flagReclaim != null ? pairs(flagReclaim, '=', "eviction-minimum-reclaim", "memory.available=0Mi") : e.minimumReclaim(),
                    flagHousekeeping != null ? duration(flagHousekeeping, "option --housekeeping-interval") : e.housekeepingInterval(),
                    "option --%s");
            return new Agent(nodeName, podManifestPath, kubeconfig, containerRuntimeEndpoint, podLogsDir, manifestRescanInterval,
                    runtimeRequestTimeout, imagePullTimeout, node, inCluster, cgroupsPerQos, cgroupRoot, clusterDns, clusterDomain, server, gc, out,
                    restart);
        }

        /** "key<sep>value" pairs separated by commas, as the kubelet's map flags take them. */
        private static Map<String, String> pairs(String text, char sep, String flag, String example) {
            Map<String, String> out = new LinkedHashMap<>();
            for (String part : text.split(",")) {
                if (part.isBlank()) {
                    continue;
                }
                int at = part.indexOf(sep);
                if (at <= 0) {
                    throw new ConfigException("option --" + flag + " must be pairs such as \"" + example + "\", got \"" + part.trim() + "\"");
                }
                out.put(part.substring(0, at).trim(), part.substring(at + 1).trim());
            }
            return out;
        }

        /** IP addresses only (the pods' resolv.conf gets them as nameserver lines). */
        private static List<String> clusterDns(List<String> servers, String setting) {
            for (String server : servers) {
                if (!server.matches("[0-9.]{7,15}|[0-9A-Fa-f.]{0,40}:[0-9A-Fa-f:.]{1,44}") || !isIpLiteral(server)) {
                    throw new ConfigException(setting + " must list IP addresses, got \"" + server + "\"");
                }
            }
            return List.copyOf(servers);
        }

        /** An IPv4 dotted quad, or an IPv6 literal (which InetAddress parses without a lookup, since it holds ':'). */
        private static boolean isIpLiteral(String text) {
            if (text.indexOf(':') < 0) {
                String[] octets = text.split("\\.", -1);
                if (octets.length != 4) {
                    return false;
                }
                for (String o : octets) {
                    if (o.isEmpty() || o.length() > 3 || Integer.parseInt(o) > 255) {
                        return false;
                    }
                }
                return true;
            }
            try {
                return java.net.InetAddress.getByName(text) instanceof java.net.Inet6Address;
            } catch (java.net.UnknownHostException e) {
                return false;
            }
        }

        /** A DNS domain (lower case, dot-separated labels) or empty. */
        private static String clusterDomain(String domain, String setting) {
            String d = domain.trim();
            if (!d.isEmpty() && !d.matches("[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*")) {
                throw new ConfigException(setting + " must be a DNS domain such as \"cluster.local\", got \"" + domain + "\"");
            }
            return d;
        }

        /** The crash back-off keys: restart_backoff_initial (10s), restart_backoff_max (5m), restart_backoff_reset (twice the max). */
        static RestartSettings readRestart(ConfigSection s) {
            Duration initial = s.duration("restart_backoff_initial", RestartSettings.DEFAULT_INITIAL);
            Duration max = s.duration("restart_backoff_max", RestartSettings.DEFAULT_MAX);
            Duration reset = s.duration("restart_backoff_reset", max.multipliedBy(2));
            try {
                return new RestartSettings(initial, max, reset);
            } catch (IllegalArgumentException e) {
                String[] keyAndText = e.getMessage().split(": ", 2);
                throw new ConfigException("config key 'agent." + keyAndText[0] + "' " + keyAndText[1]);
            }
        }

        private static String cgroupRoot(String root) {
            if (!root.matches("/|(/[A-Za-z0-9_.:@+-]+)+") || root.matches(".*/\\.{1,2}(/.*)?")) {
                throw new ConfigException("config key 'agent.cgroup_root' must be an absolute cgroup path such as \"/\" or"
                        + " \"/berth\", got \"" + root + "\"");
            }
            return root;
        }

        private static Duration positive(Duration d, String key) {
            if (d.isZero() || d.isNegative()) {
                throw new ConfigException("config key '" + key + "' must be positive");
            }
            return d;
        }
    }

    /** Logging: level and format of the daemon's own log on stderr. */
    public record Log(String level, String format) {
        static Log read(ConfigSection s) {
            return new Log(
                    s.oneOf("level", "info", "error", "warn", "info", "debug", "trace"),
                    s.oneOf("format", "text", "text", "json"));
        }
    }

    /** The CRI endpoint. {@code maxConcurrentCalls}: CRI handlers run at once (as many more may wait). */
    public record Grpc(Path socket, int maxMessageSize, Duration shutdownTimeout, int maxConcurrentCalls) {
        public static final int DEFAULT_MAX_CONCURRENT_CALLS = 64;

        public Grpc(Path socket, int maxMessageSize, Duration shutdownTimeout) {
            this(socket, maxMessageSize, shutdownTimeout, DEFAULT_MAX_CONCURRENT_CALLS);
        }

        static Grpc read(ConfigSection s, Path runRoot) {
            String socket = s.string("socket", "");
            return new Grpc(
                    socket.isEmpty() ? runRoot.resolve("berth.sock") : absolute(s, "socket", socket),
                    (int) s.integer("max_message_size", 16 * 1024 * 1024, 4096, Integer.MAX_VALUE),
                    s.duration("shutdown_timeout", Duration.ofSeconds(10)),
                    (int) s.integer("max_concurrent_calls", DEFAULT_MAX_CONCURRENT_CALLS, 1, 1024));
        }
    }

    /** How pod and container cgroups are named; reported to the kubelet by RuntimeConfig. */
    public record Cgroup(String driver) {
        static Cgroup read(ConfigSection s) {
            return new Cgroup(s.oneOf("driver", "cgroupfs", "cgroupfs", "systemd"));
        }
    }

    /** OCI runtimes, one per CRI runtime handler. */
    public record Runtime(String defaultHandler, Map<String, Handler> handlers) {
        static Runtime read(ConfigSection s) {
            String defaultHandler = s.string("default_handler", "runc");
            Map<String, Handler> handlers = new LinkedHashMap<>();
            handlers.put("runc", new Handler("runc", "runc", true));
            handlers.put("crun", new Handler("crun", "crun", true));
            ConfigSection table = s.section("handlers");
            table.namedSections().forEach((name, h) -> handlers.put(name, Handler.read(name, h)));
            if (!handlers.containsKey(defaultHandler)) {
                throw new ConfigException("config key 'runtime.default_handler' names \"" + defaultHandler
                        + "\", which is not a configured handler (known: " + String.join(", ", handlers.keySet()) + ")");
            }
            return new Runtime(defaultHandler, Map.copyOf(handlers));
        }

        public Handler handler(String name) {
            return handlers.get(name.isEmpty() ? defaultHandler : name);
        }

        /** The same runtimes without these handlers. */
        public Runtime without(java.util.Set<String> names) {
            Map<String, Handler> kept = new LinkedHashMap<>(handlers);
            kept.keySet().removeAll(names);
            return new Runtime(defaultHandler, Map.copyOf(kept));
        }
    }

    /**
     * One runtime handler: the OCI runtime binary (a name looked up on PATH, or a path);
     * {@code builtIn} for runc and crun as berth defines them when the configuration does not.
     */
    public record Handler(String name, String binary, boolean builtIn) {
        public Handler(String name, String binary) {
            this(name, binary, false);
        }

        static Handler read(String name, ConfigSection s) {
            return new Handler(name, s.string("binary", name));
        }
    }

    /**
     * Pod networking through CNI: where network configurations and plugins live, berth's default
     * network (written into the config directory when it holds none), the per-call plugin timeout
     * and where attachments are cached for DEL.
     */
    public record Network(Path cniConfigDir, List<Path> cniBinDirs, boolean defaultNetwork, String defaultSubnet,
                          String defaultBridge, Duration pluginTimeout, Path cacheDir, Path ipamDataDir,
                          Duration masqueradeLinger) {
        /** How long the default network's masquerade rules stay after its last pod went. */
        public static final Duration DEFAULT_MASQUERADE_LINGER = Duration.ofSeconds(30);

        static Network read(ConfigSection s, Path root) {
            String cacheDir = s.string("cache_dir", "");
            String subnet = s.string("default_subnet", "10.88.0.0/16");
            if (!subnet.matches("[0-9.]+/[0-9]{1,2}|[0-9a-fA-F:]+/[0-9]{1,3}")) {
                throw new ConfigException("config key 'network.default_subnet' must be a CIDR such as \"10.88.0.0/16\", got \""
                        + subnet + "\"");
            }
            String bridge = s.string("default_bridge", "berth0");
            if (!bridge.matches("[A-Za-z0-9_.\\-]{1,15}")) {
                throw new ConfigException("config key 'network.default_bridge' must be an interface name of 1 to 15 letters, digits,"
                        + " '_', '.' or '-', got \"" + bridge + "\"");
            }
            Duration timeout = s.duration("plugin_timeout", Duration.ofMinutes(1));
            if (timeout.isZero() || timeout.isNegative()) {
                throw new ConfigException("config key 'network.plugin_timeout' must be positive, got \"" + timeout + "\"");
            }
            Duration linger = s.duration("masquerade_linger", DEFAULT_MASQUERADE_LINGER);
            if (linger.isNegative()) {
                throw new ConfigException("config key 'network.masquerade_linger' must not be negative, got \"" + linger + "\"");
            }
            return new Network(
                    absolute(s, "cni_config_dir", s.string("cni_config_dir", "/etc/cni/net.d")),
                    s.strings("cni_bin_dirs", List.of("/opt/cni/bin", "/usr/lib/cni")).stream()
                            .map(d -> absolute(s, "cni_bin_dirs", d)).toList(),
                    s.bool("default_network", true),
                    subnet,
                    bridge,
                    timeout,
                    cacheDir.isEmpty() ? root.resolve("cni/results") : absolute(s, "cache_dir", cacheDir),
                    root.resolve("cni/ipam"),
                    linger);
        }
    }

    /**
     * The Prometheus endpoint ({@code /metrics}, {@code /healthz}): {@code host:port}, where
     * host is an IP address, a name, {@code [v6 address]}, or empty for every interface. An
     * empty address turns the endpoint off. {@code containerInterval}: how long one measurement
     * of the pods and containers is reused for the per-container series (0: every scrape measures).
     */
    public record Metrics(String address, String host, int port, Duration containerInterval) {
        public static final String DEFAULT_ADDRESS = "127.0.0.1:9464";
        public static final Duration DEFAULT_CONTAINER_INTERVAL = Duration.ofSeconds(10);

        public Metrics(String address, String host, int port) {
            this(address, host, port, DEFAULT_CONTAINER_INTERVAL);
        }

        static Metrics read(ConfigSection s) {
            Duration interval = s.duration("container_interval", DEFAULT_CONTAINER_INTERVAL);
            if (interval.isNegative()) {
                throw new ConfigException("config key 'metrics.container_interval' must not be negative");
            }
            return parse(s.string("address", DEFAULT_ADDRESS), "config key 'metrics.address'").withContainerInterval(interval);
        }

        /** The same endpoint with another container measurement interval. */
        public Metrics withContainerInterval(Duration interval) {
            return new Metrics(address, host, port, interval);
        }

        /** Parses {@code host:port} (or "" for off); {@code setting} names it in the error. */
        public static Metrics parse(String address, String setting) {
            if (address.isEmpty()) {
                return new Metrics("", "", 0);
            }
            int colon = address.lastIndexOf(':');
            if (colon < 0) {
                throw new ConfigException(setting + " must be host:port (e.g. \"" + DEFAULT_ADDRESS
                        + "\"), or empty to turn the endpoint off, got \"" + address + "\"");
            }
            String host = address.substring(0, colon);
            String port = address.substring(colon + 1);
            if (host.startsWith("[") && host.endsWith("]")) {
                host = host.substring(1, host.length() - 1);
                if (!host.matches("[0-9a-fA-F:.]+(%[A-Za-z0-9_.-]+)?") || !host.contains(":")) {
                    throw new ConfigException(setting + " has an invalid IPv6 address in brackets, got \"" + address + "\"");
                }
            } else if (host.contains(":")) {
                throw new ConfigException(setting + " must write an IPv6 address in brackets ([::1]:9464), got \""
                        + address + "\"");
            } else if (!host.matches("[A-Za-z0-9.-]*")) {
                throw new ConfigException(setting + " has an invalid host name, got \"" + address + "\"");
            }
            int n;
            try {
                n = port.matches("[0-9]{1,5}") ? Integer.parseInt(port) : -1;
            } catch (NumberFormatException e) {
                n = -1;
            }
            if (n < 1 || n > 65535) {
                throw new ConfigException(setting + " must end in a port between 1 and 65535, got \"" + address + "\"");
            }
            return new Metrics(address, host, n);
        }

        public boolean enabled() {
            return !address.isEmpty();
        }
    }

    /** How images are fetched from registries. */
    public record Registry(Path configPath, Path authFile, Duration requestTimeout, Duration pullProgressTimeout,
                           int maxConcurrentDownloads, int maxConcurrentPulls) {
        public static final int DEFAULT_MAX_CONCURRENT_PULLS = 8;

        public Registry(Path configPath, Path authFile, Duration requestTimeout, Duration pullProgressTimeout,
                        int maxConcurrentDownloads) {
            this(configPath, authFile, requestTimeout, pullProgressTimeout, maxConcurrentDownloads, DEFAULT_MAX_CONCURRENT_PULLS);
        }

        static Registry read(ConfigSection s) {
            Duration progress = s.duration("pull_progress_timeout", Duration.ofMinutes(5));
            if (progress.isZero() || progress.isNegative()) {
                throw new ConfigException("config key 'registry.pull_progress_timeout' must be positive");
            }
            Duration request = s.duration("request_timeout", Duration.ofSeconds(30));
            if (request.isZero() || request.isNegative()) {
                throw new ConfigException("config key 'registry.request_timeout' must be positive");
            }
            return new Registry(
                    absolute(s, "config_path", s.string("config_path", "/etc/berth/certs.d")),
                    absolute(s, "auth_file", s.string("auth_file", "/etc/berth/auth.json")),
                    request,
                    progress,
                    (int) s.integer("max_concurrent_downloads", 3, 1, 64),
                    (int) s.integer("max_concurrent_pulls", DEFAULT_MAX_CONCURRENT_PULLS, 1, 256));
        }
    }

    /**
     * The image store.
     * @param unpack the caps on what one layer and one image may unpack (uncompressed bytes, entries)
     */
    public record Images(List<String> pinnedImages, dev.berth.images.layer.UnpackLimits unpack) {
        static Images read(ConfigSection s) {
            List<String> pinned = new java.util.ArrayList<>();
            for (String ref : s.strings("pinned_images", List.of())) {
                try {
                    pinned.add(dev.berth.images.reference.Reference.parse(ref).toString());
                } catch (dev.berth.common.BerthException e) {
                    throw new ConfigException("config key 'images.pinned_images': " + e.getMessage());
                }
            }
            dev.berth.images.layer.UnpackLimits d = dev.berth.images.layer.UnpackLimits.DEFAULTS;
            dev.berth.images.layer.UnpackLimits unpack = new dev.berth.images.layer.UnpackLimits(
                    s.integer("max_layer_bytes", d.layerBytes(), 1L << 20, Long.MAX_VALUE),
                    s.integer("max_layer_entries", d.layerEntries(), 1, Integer.MAX_VALUE),
                    s.integer("max_image_bytes", d.imageBytes(), 1L << 20, Long.MAX_VALUE),
                    s.integer("max_image_entries", d.imageEntries(), 1, Integer.MAX_VALUE));
            return new Images(List.copyOf(pinned), unpack);
        }
    }

    /** Values given on the command line; each non-null one wins over the file. */
    public record Overrides(Path root, Path runRoot, Path socket, String logLevel, String logFormat, String metricsAddress) {
        /** Without a metrics address flag. */
        public Overrides(Path root, Path runRoot, Path socket, String logLevel, String logFormat) {
            this(root, runRoot, socket, logLevel, logFormat, null);
        }

        public static Overrides none() {
            return new Overrides(null, null, null, null, null, null);
        }
    }

    static BerthConfig read(ConfigSection top, Overrides o, String source) {
        // the file's values are read (and so validated) even when a flag overrides them
        Path root = absolute(top, "root", top.string("root", "/var/lib/berth"));
        Path runRoot = absolute(top, "run_root", top.string("run_root", "/run/berth"));
        root = o.root() != null ? o.root().toAbsolutePath() : root;
        runRoot = o.runRoot() != null ? o.runRoot().toAbsolutePath() : runRoot;
        Log log = Log.read(top.section("log"));
        if (o.logLevel() != null || o.logFormat() != null) {
            log = new Log(
                    o.logLevel() == null ? log.level() : flagOneOf("--log-level", o.logLevel(), "error", "warn", "info", "debug", "trace"),
                    o.logFormat() == null ? log.format() : flagOneOf("--log-format", o.logFormat(), "text", "json"));
        }
        Metrics metrics = Metrics.read(top.section("metrics"));
        if (o.metricsAddress() != null) {
            metrics = Metrics.parse(o.metricsAddress(), "option --metrics-address").withContainerInterval(metrics.containerInterval());
        }
        Grpc grpc = Grpc.read(top.section("grpc"), runRoot);
        if (o.socket() != null) {
            grpc = new Grpc(o.socket().toAbsolutePath(), grpc.maxMessageSize(), grpc.shutdownTimeout(), grpc.maxConcurrentCalls());
        }
        BerthConfig config = new BerthConfig(root, runRoot, log, grpc,
                Cgroup.read(top.section("cgroup")),
                Runtime.read(top.section("runtime")),
                Network.read(top.section("network"), root),
                metrics,
                Registry.read(top.section("registry")),
                Images.read(top.section("images")),
                StreamingSettings.read(top.section("streaming")),
                Agent.read(top.section("agent")),
                source);
        top.requireNoUnknownKeys();
        return config;
    }

    private static String flagOneOf(String flag, String value, String... allowed) {
        if (!List.of(allowed).contains(value)) {
            throw new ConfigException("option " + flag + " must be one of " + String.join(", ", allowed) + ", got \"" + value + "\"");
        }
        return value;
    }

    private static Path absolute(ConfigSection s, String key, String value) {
        Path p = Path.of(value);
        if (!p.isAbsolute()) {
            throw new ConfigException("config key '" + key + "' must be an absolute path, got \"" + value + "\"");
        }
        return p;
    }
}
