package dev.berth.agent.pod;

import com.google.protobuf.ByteString;
import dev.berth.cri.v1.Capability;
import dev.berth.cri.v1.ContainerConfig;
import dev.berth.cri.v1.ContainerMetadata;
import dev.berth.cri.v1.DNSConfig;
import dev.berth.cri.v1.ImageSpec;
import dev.berth.cri.v1.Int64Value;
import dev.berth.cri.v1.KeyValue;
import dev.berth.cri.v1.LinuxContainerConfig;
import dev.berth.cri.v1.LinuxContainerResources;
import dev.berth.cri.v1.LinuxContainerSecurityContext;
import dev.berth.cri.v1.LinuxPodSandboxConfig;
import dev.berth.cri.v1.LinuxSandboxSecurityContext;
import dev.berth.cri.v1.NamespaceMode;
import dev.berth.cri.v1.NamespaceOption;
import dev.berth.cri.v1.PodSandboxConfig;
import dev.berth.cri.v1.PodSandboxMetadata;
import dev.berth.cri.v1.PortMapping;
import dev.berth.cri.v1.Protocol;
import dev.berth.cri.v1.SecurityProfile;
import dev.berth.cri.v1.SupplementalGroupsPolicy;
import dev.berth.agent.volume.DownwardApi;
import dev.berth.agent.volume.NodeAllocatable;
import dev.berth.agent.volume.ObjectSource;
import dev.berth.agent.volume.PodVolumes;
import dev.berth.agent.volume.VolumeException;
import dev.berth.cri.v1.Mount;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.EnvFromSource;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.EnvVarSource;
import io.fabric8.kubernetes.api.model.ObjectFieldSelector;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodDNSConfig;
import io.fabric8.kubernetes.api.model.PodDNSConfigOption;
import io.fabric8.kubernetes.api.model.PodSecurityContext;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SeccompProfile;
import io.fabric8.kubernetes.api.model.SecurityContext;
import io.fabric8.kubernetes.api.model.Sysctl;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.function.Function;
import java.util.function.Supplier;
import java.util.regex.Pattern;

/**
 * A pod's spec as CRI requests, the way the kubelet builds them: the sandbox config (metadata,
 * hostname, log directory, DNS, host ports, labels and annotations, namespaces, pod security
 * context, sysctls, cgroup parent) and each container's config (command and args with {@code $(VAR)}
 * expansion, env, working directory, resources by the kubelet's formulas, security context,
 * labels and annotations, log path). Pure: the same pod gives the same requests.
 */
public final class PodTranslation {
    /** The CFS period the kubelet uses for every container's quota. */
    static final long CPU_PERIOD = 100_000;
    static final long MIN_SHARES = 2;
    static final long MIN_QUOTA = 1000;
    static final long DEFAULT_GRACE_SECONDS = 30;
    static final String DEFAULT_TERMINATION_MESSAGE_PATH = "/dev/termination-log";

    /** Paths the kubelet asks the runtime to mask and to make read-only in every unprivileged container. */
    static final List<String> MASKED_PATHS = List.of("/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
            "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
            "/sys/devices/virtual/powercap");
    static final List<String> READONLY_PATHS = List.of("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger");

    /** An env name the kubelet passes on from envFrom; other keys are skipped. */
    private static final Pattern ENV_NAME = Pattern.compile("[-._a-zA-Z][-._a-zA-Z0-9]*");

    private final NodeFacts node;
    private final Path podLogsDir;
    private final ObjectSource objects;
    private final NodeAllocatable allocatable;
    private final PodCgroups cgroups;
    /** The cluster's DNS servers and domain (the kubelet's --cluster-dns and --cluster-domain); none: ClusterFirst falls back to Default. */
    private List<String> clusterDns = List.of();
    private String clusterDomain = "";
    /** Allocates the user namespaces of pods that do not use the host's users; null: none can be had. */
    private UserNamespaces userNamespaces;

    /**
     * Without an API server and without pod cgroups of the agent's own: env from configMaps and
     * secrets is refused; the node's processors and memory are its allocatable; no cgroup parent.
     */
    public PodTranslation(NodeFacts node, Path podLogsDir) {
        this(node, podLogsDir, ObjectSource.standalone(),
                new NodeAllocatable(Runtime.getRuntime().availableProcessors() * 1000L, node.memoryBytes(), 0), PodCgroups.NONE);
    }

    /** Without an API server, with {@code cgroups} naming each pod's cgroup (the sandbox's cgroup parent) and keeping it. */
    public PodTranslation(NodeFacts node, Path podLogsDir, PodCgroups cgroups) {
        this(node, podLogsDir, ObjectSource.standalone(),
                new NodeAllocatable(Runtime.getRuntime().availableProcessors() * 1000L, node.memoryBytes(), 0), cgroups);
    }

    /** Without pod cgroups of the agent's own. */
    public PodTranslation(NodeFacts node, Path podLogsDir, ObjectSource objects, NodeAllocatable allocatable) {
        this(node, podLogsDir, objects, allocatable, PodCgroups.NONE);
    }

    /**
     * @param objects where env from configMapKeyRef, secretKeyRef and envFrom is read
     * @param allocatable what resourceFieldRef gives for a limit the container does not set
     * @param cgroups names each pod's cgroup (the sandbox's cgroup parent) and keeps it
     */
    public PodTranslation(NodeFacts node, Path podLogsDir, ObjectSource objects, NodeAllocatable allocatable, PodCgroups cgroups) {
        this.node = node;
        this.podLogsDir = podLogsDir;
        this.objects = objects;
        this.allocatable = allocatable;
        this.cgroups = cgroups;
    }

    /**
     * Pods of DNS policy ClusterFirst (ClusterFirstWithHostNet on the host network) resolve
     * through {@code servers} with the search path of {@code domain}, as the kubelet's
     * --cluster-dns and --cluster-domain give them. Called once, before the first pod.
     */
    public PodTranslation withClusterDns(List<String> servers, String domain) {
        this.clusterDns = List.copyOf(servers);
        this.clusterDomain = domain == null ? "" : domain;
        return this;
    }

    /** Pods with {@code hostUsers: false} get their user namespace from {@code u}; without it such pods are refused. */
    public PodTranslation withUserNamespaces(UserNamespaces u) {
        this.userNamespaces = u;
        return this;
    }

    /** The user namespaces of pods that do not use the host's users, or null. */
    public UserNamespaces userNamespaces() {
        return userNamespaces;
    }

    /** Where API objects (configMaps, secrets) come from. */
    public ObjectSource objects() {
        return objects;
    }

    /** The pods' cgroups. */
    public PodCgroups cgroups() {
        return cgroups;
    }

    /** The pod's log directory: {@code <pod logs dir>/<namespace>_<name>_<uid>}. */
    public Path logDirectory(Pod pod) {
        return podLogsDir.resolve(pod.getMetadata().getNamespace() + "_" + pod.getMetadata().getName() + "_" + pod.getMetadata().getUid());
    }

    /**
     * The log directories of the pod {@code uid} ({@code <namespace>_<name>_<uid>} under the pod
     * logs directory, whatever its name was), for removal with the pod.
     */
    public List<Path> logDirectories(String uid) {
        List<Path> out = new ArrayList<>();
        try (java.nio.file.DirectoryStream<Path> dirs = java.nio.file.Files.newDirectoryStream(podLogsDir)) {
            for (Path d : dirs) {
                if (d.getFileName().toString().endsWith("_" + uid)) {
                    out.add(d);
                }
            }
        } catch (java.io.IOException e) {
            // no logs directory (yet): nothing of the pod's
        }
        return out;
    }

    /** The pod's termination grace period in seconds (30 when the spec says none). */
    public static long gracePeriodSeconds(Pod pod) {
        Long g = pod.getSpec().getTerminationGracePeriodSeconds();
        return g == null ? DEFAULT_GRACE_SECONDS : Math.max(0, g);
    }

    /** The labels that find every sandbox of the pod. */
    public static Map<String, String> podSelector(String uid) {
        return Map.of(KubeletKeys.POD_UID, uid);
    }

    /** The RunPodSandbox config of the pod's {@code attempt}th sandbox. */
    public PodSandboxConfig sandboxConfig(Pod pod, int attempt, String source) {
        PodSpec spec = pod.getSpec();
        var meta = pod.getMetadata();
        PodSandboxConfig.Builder b = PodSandboxConfig.newBuilder()
                .setMetadata(PodSandboxMetadata.newBuilder().setName(meta.getName()).setNamespace(meta.getNamespace())
                        .setUid(meta.getUid()).setAttempt(attempt))
                .setLogDirectory(logDirectory(pod).toString())
                .putAllLabels(sandboxLabels(pod, source))
                .putAllAnnotations(nullToEmpty(meta.getAnnotations()));
        if (!Boolean.TRUE.equals(spec.getHostNetwork())) {
            b.setHostname(hostname(pod));
        }
        DNSConfig dns = dnsConfig(spec, meta.getNamespace());
        if (dns != null) {
            b.setDnsConfig(dns);
        }
        for (Container c : spec.getContainers()) {
            for (ContainerPort p : c.getPorts()) {
                if (p.getHostPort() != null && p.getHostPort() > 0) {
                    b.addPortMappings(PortMapping.newBuilder().setProtocol(protocol(p.getProtocol()))
                            .setContainerPort(p.getContainerPort()).setHostPort(p.getHostPort())
                            .setHostIp(Objects.requireNonNullElse(p.getHostIP(), "")));
                }
            }
        }
        PodSecurityContext psc = spec.getSecurityContext();
        LinuxSandboxSecurityContext.Builder sc = LinuxSandboxSecurityContext.newBuilder()
                .setNamespaceOptions(namespaces(pod, true))
                .setPrivileged(allContainers(spec).stream().anyMatch(c -> c.getSecurityContext() != null
                        && Boolean.TRUE.equals(c.getSecurityContext().getPrivileged())))
                .setSeccomp(seccomp(psc == null ? null : psc.getSeccompProfile()));
        LinuxPodSandboxConfig.Builder linux = LinuxPodSandboxConfig.newBuilder();
        if (psc != null) {
            if (psc.getRunAsUser() != null) {
                sc.setRunAsUser(Int64Value.newBuilder().setValue(psc.getRunAsUser()));
            }
            if (psc.getRunAsGroup() != null) {
                sc.setRunAsGroup(Int64Value.newBuilder().setValue(psc.getRunAsGroup()));
            }
            sc.addAllSupplementalGroups(supplementalGroups(psc));
            sc.setSupplementalGroupsPolicy(supplementalGroupsPolicy(psc));
            for (Sysctl s : psc.getSysctls()) {
                linux.putSysctls(s.getName(), s.getValue());
            }
        }
        linux.setCgroupParent(cgroups.parent(pod));
        return b.setLinux(linux.setSecurityContext(sc)).build();
    }

    private static Map<String, String> sandboxLabels(Pod pod, String source) {
        Map<String, String> labels = new LinkedHashMap<>(nullToEmpty(pod.getMetadata().getLabels()));
        labels.put(KubeletKeys.POD_NAME, pod.getMetadata().getName());
        labels.put(KubeletKeys.POD_NAMESPACE, pod.getMetadata().getNamespace());
        labels.put(KubeletKeys.POD_UID, pod.getMetadata().getUid());
        labels.put(KubeletKeys.POD_SOURCE, source);
        return labels;
    }

    /** spec.hostname, or the pod's name, cut to 63 characters without a trailing '-' or '.'. */
    static String hostname(Pod pod) {
        String h = pod.getSpec().getHostname();
        if (h == null || h.isEmpty()) {
            h = pod.getMetadata().getName();
        }
        if (h.length() > 63) {
            h = h.substring(0, 63).replaceAll("[-.]+$", "");
        }
        return h;
    }

    /**
     * DNS by policy, as the kubelet decides it: None takes only the pod's dnsConfig; Default
     * takes the machine's resolver; ClusterFirst (and ClusterFirstWithHostNet) takes the
     * cluster's DNS servers with the search path {@code <namespace>.svc.<domain>},
     * {@code svc.<domain>}, {@code <domain>} before the machine's, and {@code ndots:5}; it
     * falls back to Default for a host-network pod under plain ClusterFirst and when no cluster
     * DNS is configured. The pod's dnsConfig is added to any of them (options by name: the
     * pod's value wins).
     */
    DNSConfig dnsConfig(PodSpec spec, String namespace) {
        String policy = spec.getDnsPolicy() == null ? "ClusterFirst" : spec.getDnsPolicy();
        boolean hostNetwork = Boolean.TRUE.equals(spec.getHostNetwork());
        boolean cluster = !clusterDns.isEmpty() && (policy.equals("ClusterFirstWithHostNet")
                || policy.equals("ClusterFirst") && !hostNetwork);
        DNSConfig.Builder b = DNSConfig.newBuilder();
        List<String> options = new ArrayList<>();
        if (cluster) {
            b.addAllServers(clusterDns);
            if (!clusterDomain.isEmpty()) {
                b.addSearches(namespace + ".svc." + clusterDomain).addSearches("svc." + clusterDomain).addSearches(clusterDomain);
            }
            for (String search : node.dnsSearches()) {
                if (!b.getSearchesList().contains(search)) {
                    b.addSearches(search);
                }
            }
            options.add("ndots:5");
        } else if (!policy.equals("None")) {
            b.addAllServers(node.dnsServers()).addAllSearches(node.dnsSearches());
            options.addAll(node.dnsOptions());
        }
        PodDNSConfig extra = spec.getDnsConfig();
        if (extra != null) {
            for (String server : extra.getNameservers()) {
                if (!b.getServersList().contains(server)) {
                    b.addServers(server);
                }
            }
            for (String search : extra.getSearches()) {
                if (!b.getSearchesList().contains(search)) {
                    b.addSearches(search);
                }
            }
            for (PodDNSConfigOption o : extra.getOptions()) {
                options.removeIf(existing -> existing.equals(o.getName()) || existing.startsWith(o.getName() + ":"));
                options.add(o.getValue() == null ? o.getName() : o.getName() + ":" + o.getValue());
            }
        }
        return b.addAllOptions(options).build();
    }

    /**
     * The pod's namespaces; its user namespace as the kubelet sends it: NODE, or for
     * {@code hostUsers: false} POD with the pod's own id range.
     * @throws UserNamespaces.UserNamespaceException when the pod needs a user namespace it cannot have
     */
    private NamespaceOption namespaces(Pod pod, boolean sandbox) {
        PodSpec spec = pod.getSpec();
        NamespaceOption.Builder b = NamespaceOption.newBuilder();
        if (userNamespaces != null) {
            String handler = Objects.requireNonNullElse(spec.getRuntimeClassName(), "");
            // a container repeats its sandbox's user namespace, checked against the handler when the sandbox got it
            b.setUsernsOptions(sandbox ? userNamespaces.forPod(pod, handler) : userNamespaces.forContainer(pod, handler));
        } else if (Boolean.FALSE.equals(spec.getHostUsers())) {
            throw new UserNamespaces.UserNamespaceException("can't set `spec.hostUsers: false`: this agent allocates no user namespaces");
        }
        return b
                .setNetwork(Boolean.TRUE.equals(spec.getHostNetwork()) ? NamespaceMode.NODE : NamespaceMode.POD)
                .setPid(Boolean.TRUE.equals(spec.getHostPID()) ? NamespaceMode.NODE
                        : Boolean.TRUE.equals(spec.getShareProcessNamespace()) ? NamespaceMode.POD : NamespaceMode.CONTAINER)
                .setIpc(Boolean.TRUE.equals(spec.getHostIPC()) ? NamespaceMode.NODE : NamespaceMode.POD)
                .build();
    }

    private static Protocol protocol(String p) {
        if (p == null) {
            return Protocol.TCP;
        }
        return switch (p) {
            case "UDP" -> Protocol.UDP;
            case "SCTP" -> Protocol.SCTP;
            default -> Protocol.TCP;
        };
    }

    /** The kubelet's default without a profile is Unconfined (CRI's zero value would be RuntimeDefault). */
    private static SecurityProfile seccomp(SeccompProfile p) {
        if (p == null || p.getType() == null) {
            return SecurityProfile.newBuilder().setProfileType(SecurityProfile.ProfileType.Unconfined).build();
        }
        return switch (p.getType()) {
            case "RuntimeDefault" -> SecurityProfile.newBuilder().setProfileType(SecurityProfile.ProfileType.RuntimeDefault).build();
            case "Localhost" -> SecurityProfile.newBuilder().setProfileType(SecurityProfile.ProfileType.Localhost)
                    .setLocalhostRef(Objects.requireNonNullElse(p.getLocalhostProfile(), "")).build();
            default -> SecurityProfile.newBuilder().setProfileType(SecurityProfile.ProfileType.Unconfined).build();
        };
    }

    private static List<Long> supplementalGroups(PodSecurityContext psc) {
        List<Long> groups = new ArrayList<>();
        if (psc.getFsGroup() != null) {
            groups.add(psc.getFsGroup());
        }
        for (Long g : psc.getSupplementalGroups()) {
            if (!groups.contains(g)) {
                groups.add(g);
            }
        }
        return groups;
    }

    /** Strict: only the pod's groups and the primary gid; Merge (the default): also the image's groups of the user. */
    private static SupplementalGroupsPolicy supplementalGroupsPolicy(PodSecurityContext psc) {
        return "Strict".equals(psc.getSupplementalGroupsPolicy()) ? SupplementalGroupsPolicy.Strict : SupplementalGroupsPolicy.Merge;
    }

    private static List<Container> allContainers(PodSpec spec) {
        List<Container> all = new ArrayList<>(spec.getInitContainers());
        all.addAll(spec.getContainers());
        return all;
    }

    /**
     * The CreateContainer config of {@code container} in its {@code attempt}th run.
     * @param imageRef the image as the runtime knows it (what the pull or ImageStatus answered)
     * @param podIps the sandbox's IPs, for env from {@code status.podIP(s)}
     * @throws ContainerConfigException when an env source cannot be resolved
     */
    public ContainerConfig containerConfig(Pod pod, Container container, int attempt, String imageRef, List<String> podIps) {
        return containerConfig(pod, container, attempt, imageRef, podIps, env -> List.of());
    }

    /**
     * The CreateContainer config with the container's mounts, which {@code mounts} makes from
     * its environment (for subPathExpr), e.g. {@link PodVolumes#containerMounts}.
     * @throws ContainerConfigException when an env source or a mount cannot be resolved
     */
    public ContainerConfig containerConfig(Pod pod, Container container, int attempt, String imageRef, List<String> podIps,
            Function<Function<String, String>, List<Mount>> mounts) {
        PodSpec spec = pod.getSpec();
        Map<String, String> env = environment(pod, container, podIps);
        List<Mount> containerMounts;
        try {
            containerMounts = mounts.apply(env::get);
        } catch (VolumeException e) {
            throw new ContainerConfigException("CreateContainerConfigError", "container " + container.getName() + ": " + e.getMessage());
        }
        ContainerConfig.Builder b = ContainerConfig.newBuilder()
                .setMetadata(ContainerMetadata.newBuilder().setName(container.getName()).setAttempt(attempt))
                .setImage(ImageSpec.newBuilder().setImage(imageRef).setUserSpecifiedImage(container.getImage()))
                .addAllCommand(container.getCommand().stream().map(a -> Expansion.expand(a, env::get)).toList())
                .addAllArgs(container.getArgs().stream().map(a -> Expansion.expand(a, env::get)).toList())
                .setWorkingDir(Objects.requireNonNullElse(container.getWorkingDir(), ""))
                .putLabels(KubeletKeys.POD_NAME, pod.getMetadata().getName())
                .putLabels(KubeletKeys.POD_NAMESPACE, pod.getMetadata().getNamespace())
                .putLabels(KubeletKeys.POD_UID, pod.getMetadata().getUid())
                .putLabels(KubeletKeys.CONTAINER_NAME, container.getName())
                .putAllAnnotations(containerAnnotations(pod, container, attempt))
                .setLogPath(container.getName() + "/" + attempt + ".log")
                .setStdin(Boolean.TRUE.equals(container.getStdin()))
                .setStdinOnce(Boolean.TRUE.equals(container.getStdinOnce()))
                .setTty(Boolean.TRUE.equals(container.getTty()));
        env.forEach((k, v) -> b.addEnvs(KeyValue.newBuilder().setKey(k).setValue(ByteString.copyFromUtf8(v))));
        b.addAllMounts(containerMounts);
        return b.setLinux(LinuxContainerConfig.newBuilder()
                .setResources(resources(container, QosClass.of(spec)))
                .setSecurityContext(securityContext(pod, container)))
                .build();
    }

    private static Map<String, String> containerAnnotations(Pod pod, Container c, int attempt) {
        Map<String, String> a = new LinkedHashMap<>();
        a.put(KubeletKeys.CONTAINER_HASH, hash(c));
        a.put(KubeletKeys.CONTAINER_RESTART_COUNT, Integer.toString(attempt));
        a.put(KubeletKeys.CONTAINER_TERMINATION_MESSAGE_PATH,
                Objects.requireNonNullElse(c.getTerminationMessagePath(), DEFAULT_TERMINATION_MESSAGE_PATH));
        a.put(KubeletKeys.CONTAINER_TERMINATION_MESSAGE_POLICY, Objects.requireNonNullElse(c.getTerminationMessagePolicy(), "File"));
        a.put(KubeletKeys.POD_TERMINATION_GRACE_PERIOD, Long.toString(gracePeriodSeconds(pod)));
        if (!c.getPorts().isEmpty()) {
            a.put(KubeletKeys.CONTAINER_PORTS, portsJson(c.getPorts()));
        }
        return a;
    }

    /** The ports annotation as the kubelet writes it: a JSON list of {name, containerPort, protocol, hostPort}. */
    private static String portsJson(List<ContainerPort> ports) {
        StringBuilder s = new StringBuilder("[");
        for (ContainerPort p : ports) {
            if (s.length() > 1) {
                s.append(',');
            }
            s.append('{');
            if (p.getName() != null) {
                s.append("\"name\":\"").append(p.getName().replace("\"", "")).append("\",");
            }
            if (p.getHostPort() != null && p.getHostPort() > 0) {
                s.append("\"hostPort\":").append(p.getHostPort()).append(',');
            }
            s.append("\"containerPort\":").append(p.getContainerPort())
                    .append(",\"protocol\":\"").append(p.getProtocol() == null ? "TCP" : p.getProtocol().replace("\"", "")).append("\"}");
        }
        return s.append(']').toString();
    }

    /** A stable hash of the container's spec, hex: a changed spec has another. */
    static String hash(Container c) {
        try {
            byte[] d = MessageDigest.getInstance("SHA-256").digest(c.toString().getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(d, 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * The container's environment in the kubelet's order: each envFrom source (its keys with
     * the source's prefix; keys that are no valid env name skipped), then each env entry, a
     * later definition replacing an earlier one. An env value is expanded with the variables
     * defined before it; valueFrom reads the pod's fields, the container's resources, or a key
     * of a configMap or secret. An optional source that is missing sets nothing.
     * @throws ContainerConfigException when a source that is not optional is missing or cannot be read
     */
    Map<String, String> environment(Pod pod, Container c, List<String> podIps) {
        Map<String, String> env = new LinkedHashMap<>();
        String ns = pod.getMetadata().getNamespace();
        for (EnvFromSource from : c.getEnvFrom()) {
            String prefix = Objects.requireNonNullElse(from.getPrefix(), "");
            Map<String, String> data = new LinkedHashMap<>();
            if (from.getConfigMapRef() != null) {
                String name = from.getConfigMapRef().getName();
                Optional<ConfigMap> cm = lookup(c, "envFrom", () -> objects.configMap(ns, name));
                if (cm.isEmpty()) {
                    if (Boolean.TRUE.equals(from.getConfigMapRef().getOptional())) {
                        continue;
                    }
                    throw configError(c, "envFrom", "configmap \"" + name + "\" not found");
                }
                data.putAll(nullToEmpty(cm.get().getData()));
            } else if (from.getSecretRef() != null) {
                String name = from.getSecretRef().getName();
                Optional<Secret> secret = lookup(c, "envFrom", () -> objects.secret(ns, name));
                if (secret.isEmpty()) {
                    if (Boolean.TRUE.equals(from.getSecretRef().getOptional())) {
                        continue;
                    }
                    throw configError(c, "envFrom", "secret \"" + name + "\" not found");
                }
                PodVolumes.secretData(secret.get()).forEach((k, v) -> data.put(k, new String(v, StandardCharsets.UTF_8)));
            }
            data.forEach((k, v) -> {
                if (ENV_NAME.matcher(prefix + k).matches()) {
                    env.remove(prefix + k);
                    env.put(prefix + k, v);
                }
            });
        }
        for (EnvVar v : c.getEnv()) {
            String value;
            EnvVarSource from = v.getValueFrom();
            if (from == null) {
                value = Expansion.expand(Objects.requireNonNullElse(v.getValue(), ""), env::get);
            } else if (from.getFieldRef() != null) {
                value = fieldValue(pod, from.getFieldRef(), podIps);
            } else if (from.getResourceFieldRef() != null) {
                value = resourceValue(pod, c, v.getName(), from.getResourceFieldRef());
            } else if (from.getConfigMapKeyRef() != null) {
                var ref = from.getConfigMapKeyRef();
                Optional<ConfigMap> cm = lookup(c, v.getName(), () -> objects.configMap(ns, ref.getName()));
                value = cm.map(m -> nullToEmpty(m.getData()).get(ref.getKey())).orElse(null);
                if (value == null) {
                    if (Boolean.TRUE.equals(ref.getOptional())) {
                        continue;
                    }
                    throw configError(c, v.getName(), cm.isEmpty() ? "configmap \"" + ref.getName() + "\" not found"
                            : "configmap \"" + ref.getName() + "\" has no key \"" + ref.getKey() + "\"");
                }
            } else if (from.getSecretKeyRef() != null) {
                var ref = from.getSecretKeyRef();
                Optional<Secret> secret = lookup(c, v.getName(), () -> objects.secret(ns, ref.getName()));
                byte[] bytes = secret.map(s -> PodVolumes.secretData(s).get(ref.getKey())).orElse(null);
                if (bytes == null) {
                    if (Boolean.TRUE.equals(ref.getOptional())) {
                        continue;
                    }
                    throw configError(c, v.getName(), secret.isEmpty() ? "secret \"" + ref.getName() + "\" not found"
                            : "secret \"" + ref.getName() + "\" has no key \"" + ref.getKey() + "\"");
                }
                value = new String(bytes, StandardCharsets.UTF_8);
            } else {
                throw configError(c, v.getName(), "valueFrom names no source");
            }
            env.remove(v.getName()); // a later definition wins, at its own place
            env.put(v.getName(), value);
        }
        return env;
    }

    private String resourceValue(Pod pod, Container c, String variable, io.fabric8.kubernetes.api.model.ResourceFieldSelector ref) {
        Container target = c;
        if (ref.getContainerName() != null && !ref.getContainerName().isEmpty()) {
            target = allContainers(pod.getSpec()).stream().filter(x -> x.getName().equals(ref.getContainerName())).findFirst()
                    .orElseThrow(() -> configError(c, variable, "resourceFieldRef names no container \"" + ref.getContainerName() + "\""));
        }
        try {
            return DownwardApi.resource(target, ref, allocatable);
        } catch (VolumeException e) {
            throw configError(c, variable, e.getMessage());
        }
    }

    private static <T> T lookup(Container c, String variable, Supplier<T> get) {
        try {
            return get.get();
        } catch (VolumeException e) {
            throw configError(c, variable, e.getMessage());
        }
    }

    /** A CreateContainerConfigError naming the variable (or "envFrom") and the container. */
    private static ContainerConfigException configError(Container c, String variable, String message) {
        String what = variable.equals("envFrom") ? "envFrom" : "env " + variable;
        return new ContainerConfigException("CreateContainerConfigError", what + " of container " + c.getName() + ": " + message);
    }

    private static String fieldValue(Pod pod, ObjectFieldSelector ref, List<String> podIps) {
        String path = ref.getFieldPath();
        var meta = pod.getMetadata();
        if (path.startsWith("metadata.labels['") && path.endsWith("']")) {
            return nullToEmpty(meta.getLabels()).getOrDefault(path.substring(17, path.length() - 2), "");
        }
        if (path.startsWith("metadata.annotations['") && path.endsWith("']")) {
            return nullToEmpty(meta.getAnnotations()).getOrDefault(path.substring(22, path.length() - 2), "");
        }
        return switch (path) {
            case "metadata.name" -> meta.getName();
            case "metadata.namespace" -> meta.getNamespace();
            case "metadata.uid" -> meta.getUid();
            case "spec.nodeName" -> Objects.requireNonNullElse(pod.getSpec().getNodeName(), "");
            case "spec.serviceAccountName" -> Objects.requireNonNullElse(pod.getSpec().getServiceAccountName(), "");
            case "status.podIP" -> podIps.isEmpty() ? "" : podIps.get(0);
            case "status.podIPs" -> String.join(",", podIps);
            default -> throw new ContainerConfigException("CreateContainerConfigError", "env fieldRef " + path + " is not supported");
        };
    }

    /**
     * The kubelet's resources: cpu shares from the request (the limit when only that is set;
     * at least 2), the CFS quota from the limit over a 100 ms period (at least 1 ms, none
     * without a limit), the memory limit, and oom_score_adj by QoS class.
     */
    LinuxContainerResources resources(Container c, QosClass qos) {
        Map<String, Quantity> requests = QosClass.requests(c.getResources());
        Map<String, Quantity> limits = QosClass.limits(c.getResources());
        long cpuRequest = milli(requests.get("cpu"));
        long cpuLimit = milli(limits.get("cpu"));
        long shares = cpuRequest == 0 && cpuLimit != 0 ? cpuLimit * 1024 / 1000 : cpuRequest * 1024 / 1000;
        LinuxContainerResources.Builder b = LinuxContainerResources.newBuilder()
                .setCpuPeriod(CPU_PERIOD)
                .setCpuShares(Math.max(MIN_SHARES, shares))
                .setCpuQuota(cpuLimit == 0 ? 0 : Math.max(MIN_QUOTA, cpuLimit * CPU_PERIOD / 1000))
                .setOomScoreAdj(oomScoreAdj(qos, bytes(requests.getOrDefault("memory", limits.get("memory")))));
        long memoryLimit = bytes(limits.get("memory"));
        if (memoryLimit > 0) {
            b.setMemoryLimitInBytes(memoryLimit);
        }
        return b.build();
    }

    /** Guaranteed -997, BestEffort 1000, Burstable 1000 less the memory request's share of the machine, within [2, 999]. */
    long oomScoreAdj(QosClass qos, long memoryRequest) {
        return switch (qos) {
            case GUARANTEED -> -997;
            case BEST_EFFORT -> 1000;
            case BURSTABLE -> {
                long adj = node.memoryBytes() <= 0 ? 999 : 1000 - (1000 * memoryRequest) / node.memoryBytes();
                yield Math.min(999, Math.max(2, adj));
            }
        };
    }

    private static long milli(Quantity q) {
        if (q == null) {
            return 0;
        }
        return QosClass.amount(q).multiply(BigDecimal.valueOf(1000)).setScale(0, RoundingMode.CEILING).longValueExact();
    }

    private static long bytes(Quantity q) {
        if (q == null) {
            return 0;
        }
        return QosClass.amount(q).setScale(0, RoundingMode.CEILING).longValueExact();
    }

    private LinuxContainerSecurityContext securityContext(Pod pod, Container c) {
        PodSpec spec = pod.getSpec();
        SecurityContext sc = c.getSecurityContext();
        PodSecurityContext psc = spec.getSecurityContext();
        LinuxContainerSecurityContext.Builder b = LinuxContainerSecurityContext.newBuilder().setNamespaceOptions(namespaces(pod, false));
        boolean privileged = sc != null && Boolean.TRUE.equals(sc.getPrivileged());
        b.setPrivileged(privileged);
        Long user = sc != null && sc.getRunAsUser() != null ? sc.getRunAsUser() : psc != null ? psc.getRunAsUser() : null;
        Long group = sc != null && sc.getRunAsGroup() != null ? sc.getRunAsGroup() : psc != null ? psc.getRunAsGroup() : null;
        if (user != null) {
            b.setRunAsUser(Int64Value.newBuilder().setValue(user));
        }
        if (group != null) {
            b.setRunAsGroup(Int64Value.newBuilder().setValue(group));
        }
        if (psc != null) {
            b.addAllSupplementalGroups(supplementalGroups(psc));
            b.setSupplementalGroupsPolicy(supplementalGroupsPolicy(psc));
        }
        SeccompProfile seccomp = sc != null && sc.getSeccompProfile() != null ? sc.getSeccompProfile()
                : psc != null ? psc.getSeccompProfile() : null;
        b.setSeccomp(seccomp(seccomp));
        if (sc != null) {
            b.setReadonlyRootfs(Boolean.TRUE.equals(sc.getReadOnlyRootFilesystem()));
            b.setNoNewPrivs(Boolean.FALSE.equals(sc.getAllowPrivilegeEscalation()));
            if (sc.getCapabilities() != null) {
                b.setCapabilities(Capability.newBuilder()
                        .addAllAddCapabilities(sc.getCapabilities().getAdd().stream().map(PodTranslation::capability).toList())
                        .addAllDropCapabilities(sc.getCapabilities().getDrop().stream().map(PodTranslation::capability).toList()));
            }
        }
        if (!privileged && !(sc != null && "Unmasked".equals(sc.getProcMount()))) {
            b.addAllMaskedPaths(MASKED_PATHS).addAllReadonlyPaths(READONLY_PATHS);
        }
        return b.build();
    }

    /** Capability names as the runtime takes them: upper case, without the CAP_ prefix ("ALL" stays). */
    private static String capability(String name) {
        String n = name.toUpperCase(Locale.ROOT);
        return n.startsWith("CAP_") ? n.substring(4) : n;
    }

    private static Map<String, String> nullToEmpty(Map<String, String> m) {
        return m == null ? Map.of() : m;
    }
}
