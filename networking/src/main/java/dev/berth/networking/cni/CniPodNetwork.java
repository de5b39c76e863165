package dev.berth.networking.cni;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.berth.common.BerthException;
import dev.berth.common.Json;
import dev.berth.common.StepTimer;
import dev.berth.host.Command;
import dev.berth.networking.PodNetwork;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Pod networking through CNI plugins. The network is the first valid configuration in the
 * CNI configuration directory (re-read whenever the directory changes); each pod gets
 * {@code lo} up (in-process, what the loopback plugin would do) and then the network's plugin chain, ADD in order with
 * each plugin's result passed to the next as prevResult, DEL in reverse. Every attachment is
 * cached on disk before its first plugin runs, so DEL after a restart, after a config change
 * or after a crash half-way through ADD uses exactly what ADD used.
 */
public final class CniPodNetwork implements PodNetwork {
    private static final Logger LOG = LoggerFactory.getLogger(CniPodNetwork.class);
    static final String IF_NAME = "eth0";
    private static final Pattern CONTAINER_ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.\\-]{0,252}");
    private static final String REASON = "NetworkPluginNotReady";

    /** Where configs, plugins and the result cache are, and the default network (null: berth writes none). */
    public record Settings(Path configDir, List<Path> binDirs, Path cacheDir, Duration pluginTimeout,
                           DefaultNetworkSettings defaultNetwork) {
        public Settings {
            binDirs = List.copyOf(binDirs);
            if (pluginTimeout.isNegative() || pluginTimeout.isZero()) {
                throw BerthException.invalidArgument("the CNI plugin timeout must be positive, got %s", pluginTimeout);
            }
        }
    }

    /**
     * berth's default network: bridge {@code bridge} with host-local IPAM on {@code subnet}
     * (replaced by the kubelet's pod CIDR when it sends one), leases kept in {@code ipamDataDir},
     * written as {@code fileName} into the config directory when the directory holds no network.
     */
    public record DefaultNetworkSettings(String networkName, String bridge, String subnet, Path ipamDataDir, String fileName) {
        public static DefaultNetworkSettings of(String subnet, Path ipamDataDir) {
            return new DefaultNetworkSettings("berth", "berth0", subnet, ipamDataDir, "99-berth-default.conflist");
        }
    }

    private final Settings settings;
    private final CniConfigDirectory configDir;
    private final CniPluginExec exec;
    private final AttachmentCache cache;
    private final DefaultNetwork defaultNetwork;
    private final Object[] locks = new Object[64];
    private final Set<String> inFlight = ConcurrentHashMap.newKeySet();
    private final Map<String, String> versionProblems = new ConcurrentHashMap<>();
    private final Map<String, SubnetMasquerade> masquerades = new ConcurrentHashMap<>();
    private volatile List<String> podCidrs = List.of();
    private volatile CniOperationListener listener = CniOperationListener.NONE;

    public CniPodNetwork(Settings settings) {
        this.settings = settings;
        this.configDir = new CniConfigDirectory(settings.configDir());
        this.exec = new CniPluginExec(settings.binDirs(), settings.pluginTimeout());
        this.cache = new AttachmentCache(settings.cacheDir());
        this.defaultNetwork = settings.defaultNetwork() == null ? null : new DefaultNetwork(settings.defaultNetwork());
        for (int i = 0; i < locks.length; i++) {
            locks[i] = new Object();
        }
        try {
            Files.createDirectories(settings.cacheDir());
        } catch (IOException e) {
            throw BerthException.failedPrecondition("cannot create the CNI result cache directory %s: %s", settings.cacheDir(), e.getMessage());
        }
    }

    /** Tells {@code listener} about every ADD, DEL, CHECK, STATUS and GC run from now on (replacing the previous one). */
    public void listen(CniOperationListener listener) {
        this.listener = listener == null ? CniOperationListener.NONE : listener;
    }

    /** Reports one chain operation that started at {@code startNanos} (System.nanoTime) to the listener. */
    private void completed(CniOperationListener.Operation op, String network, long startNanos, boolean success) {
        try {
            listener.completed(op, network, System.nanoTime() - startNanos, success);
        } catch (RuntimeException e) {
            LOG.debug("the CNI operation listener failed: {}", e.toString());
        }
    }

    private Object lock(String sandboxId) {
        return locks[Math.floorMod(sandboxId.hashCode(), locks.length)];
    }

    // ---------------------------------------------------------------- configuration and readiness

    /** The directory as it is now, after writing the default network into an empty one. */
    private CniConfigDirectory.Snapshot snapshot() {
        if (defaultNetwork != null && configDir.candidates().isEmpty()) {
            if (defaultNetwork.writeIfAbsent(configDir, podCidrs)) {
                LOG.info("no CNI network in {}: wrote berth's default network {}", configDir.dir(),
                        defaultNetwork.file(configDir.dir()));
            }
        }
        return configDir.current();
    }

    @Override
    public NetworkReadiness readiness() {
        CniConfigDirectory.Snapshot snap = snapshot();
        if (snap.network().isEmpty()) {
            if (snap.candidateFiles() == 0) {
                return new NetworkReadiness(false, REASON, "no CNI network config (.conflist, .conf, .json) in "
                        + configDir.dir() + (defaultNetwork == null ? " and berth's default network is turned off" : ""));
            }
            return new NetworkReadiness(false, REASON, "no valid CNI network config in " + configDir.dir() + ": "
                    + String.join("; ", snap.problems()));
        }
        NetworkConfigList net = snap.network().get();
        List<String> missing = new ArrayList<>();
        for (String type : net.pluginTypes()) {
            if (exec.find(type).isEmpty() && !missing.contains(type)) {
                missing.add(type);
            }
        }
        if (!missing.isEmpty()) {
            return new NetworkReadiness(false, REASON, "CNI plugin" + (missing.size() > 1 ? "s " : " ")
                    + String.join(", ", missing) + " of network \"" + net.name() + "\" (" + net.source() + ") not found in "
                    + exec.binDirs());
        }
        for (String type : net.pluginTypes()) {
            String problem = versionProblem(type, net.cniVersion());
            if (problem != null) {
                return new NetworkReadiness(false, REASON, problem + " (network \"" + net.name() + "\", " + net.source() + ")");
            }
        }
        if (CniVersion.atLeast(net.cniVersion(), "1.1.0")) {
            long start = System.nanoTime();
            for (ObjectNode plugin : net.plugins()) {
                try {
                    exec.run(plugin.get("type").asText(), CniPluginExec.Call.simple("STATUS", net.name()),
                            bytes(pluginConfig(plugin, net, null, JsonNodeFactory.instance.objectNode())));
                } catch (BerthException e) {
                    completed(CniOperationListener.Operation.STATUS, net.name(), start, false);
                    return new NetworkReadiness(false, REASON, e.getMessage());
                }
            }
            completed(CniOperationListener.Operation.STATUS, net.name(), start, true);
        }
        return new NetworkReadiness(true, "", "");
    }

    /** Asks the plugin (VERSION) whether it speaks {@code version}; remembered per binary and version. */
    private String versionProblem(String type, String version) {
        Optional<Path> bin = exec.find(type);
        if (bin.isEmpty()) {
            return "CNI plugin " + type + " not found in " + exec.binDirs();
        }
        String key;
        try {
            key = bin.get() + "|" + Files.getLastModifiedTime(bin.get()) + "|" + version;
        } catch (IOException e) {
            return "cannot read CNI plugin " + bin.get() + ": " + e.getMessage();
        }
        String cached = versionProblems.get(key);
        if (cached != null) {
            return cached.isEmpty() ? null : cached;
        }
        String problem = "";
        try {
            ObjectNode in = JsonNodeFactory.instance.objectNode().put("cniVersion", version);
            JsonNode out = exec.run(type, CniPluginExec.Call.simple("VERSION", "(version check)"), bytes(in));
            List<String> supported = new ArrayList<>();
            if (out != null) {
                out.path("supportedVersions").forEach(v -> supported.add(v.asText()));
            }
            if (!supported.isEmpty() && !supported.contains(version)) {
                problem = "CNI plugin " + bin.get() + " supports versions " + supported + ", not cniVersion " + version;
            }
        } catch (BerthException e) {
            // a plugin that does not answer VERSION may still work; ADD will tell
            LOG.debug("VERSION of CNI plugin {} failed: {}", bin.get(), e.getMessage());
        }
        versionProblems.put(key, problem);
        return problem.isEmpty() ? null : problem;
    }

    @Override
    public void setPodCidrs(List<String> cidrs) {
        this.podCidrs = List.copyOf(cidrs);
        if (defaultNetwork != null && defaultNetwork.updateIfOurs(configDir.dir(), podCidrs)) {
            LOG.info("berth's default network now uses the pod CIDRs {}", podCidrs);
            resetDefaultBridge();
        }
    }

    /**
     * The bridge plugin refuses a gateway address on a bridge that has another one, so after
     * the subnet changed the default bridge is removed (it is made again, with the new gateway,
     * by the next pod) when no attached pod uses it; otherwise it stays until those pods are gone.
     */
    private void resetDefaultBridge() {
        String network = defaultNetwork.settings().networkName();
        String bridge = defaultNetwork.settings().bridge();
        Path sys = Path.of("/sys/class/net", bridge);
        if (!Files.exists(sys.resolve("bridge"))) {
            return;
        }
        for (String id : cache.sandboxIds()) {
            try {
                if (cache.get(id).map(e -> e.network().name().equals(network)).orElse(false)) {
                    LOG.warn("pods still use bridge {} with the old subnet; new pods of the default network fail until they are "
                            + "removed and the bridge is deleted", bridge);
                    return;
                }
            } catch (BerthException e) {
                return;
            }
        }
        try {
            Command.Result r = Command.of("ip", "link", "delete", "dev", bridge).mergeStderr().timeout(Duration.ZERO).execute();
            if (r.exitCode() != 0) {
                LOG.warn("cannot delete bridge {} after the pod CIDR changed: {}", bridge, r.stdout().trim());
            }
        } catch (IOException e) {
            LOG.warn("cannot delete bridge {} after the pod CIDR changed: {}", bridge, e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    // ---------------------------------------------------------------- ADD

    @Override
    public PodNetworkStatus attach(PodAttachment a) {
        validate(a);
        if (a.netnsPath() == null) {
            throw BerthException.invalidArgument("sandbox %s has no network namespace path to attach", a.sandboxId());
        }
        synchronized (lock(a.sandboxId())) {
            inFlight.add(a.sandboxId());
            try {
                return attachLocked(a);
            } finally {
                inFlight.remove(a.sandboxId());
            }
        }
    }

    private PodNetworkStatus attachLocked(PodAttachment a) {
        StepTimer times = new StepTimer(LOG.isDebugEnabled());
        Optional<AttachmentCache.Entry> existing = cache.get(a.sandboxId());
        if (existing.isPresent()) {
            AttachmentCache.Entry e = existing.get();
            if (e.result() != null && e.netns().equals(a.netnsPath().toString()) && NetnsPaths.isNetns(a.netnsPath())) {
                return status(e.result());
            }
            LOG.info("sandbox {} has an unfinished or stale CNI attachment; removing it before attaching again", a.sandboxId());
            teardown(e, null);
            cache.remove(a.sandboxId());
        }
        times.mark("cache lookup");
        NetworkReadiness ready = readiness();
        times.mark("readiness");
        if (!ready.ready()) {
            throw BerthException.failedPrecondition("cannot network sandbox %s: %s", a.sandboxId(), ready.message());
        }
        NetworkConfigList net = configDir.current().network().orElseThrow(() -> BerthException.failedPrecondition(
                "cannot network sandbox %s: the CNI network config in %s disappeared", a.sandboxId(), configDir.dir()));
        if (!NetnsPaths.isNetns(a.netnsPath())) {
            throw BerthException.failedPrecondition("cannot network sandbox %s: %s is not a network namespace", a.sandboxId(), a.netnsPath());
        }
        AttachmentCache.Entry entry = new AttachmentCache.Entry(a.sandboxId(), IF_NAME, a.netnsPath().toString(), cniArgs(a),
                capabilityArgs(a), net, null);
        times.mark("netns check");
        cache.put(entry);
        times.mark("cache entry");
        long start = System.nanoTime();
        try {
            if (!net.masqueradeSubnets().isEmpty()) {
                // after the cache entry: a detach that finds no attachment left removes the rules only
                // before this pod was recorded, and then this call puts them back
                masquerade(net.name()).ensure(net.masqueradeSubnets());
                times.mark("masquerade");
            }
            loopbackUp(entry);
            times.mark("loopback");
            JsonNode result = null;
            for (ObjectNode plugin : net.plugins()) {
                String type = plugin.get("type").asText();
                JsonNode out = exec.run(type, call("ADD", entry), bytes(pluginConfig(plugin, net, result, entry.capabilityArgs())));
                times.mark(type);
                if (out == null || !out.isObject()) {
                    throw BerthException.failedPrecondition("CNI plugin \"%s\" of network \"%s\" returned no result for ADD of container %s",
                            type, net.name(), a.sandboxId());
                }
                result = out;
            }
            cache.put(entry.withResult(result), false);
            times.mark("cache result");
            PodNetworkStatus status = status(result);
            completed(CniOperationListener.Operation.ADD, net.name(), start, true);
            LOG.debug("sandbox {} attached to network {}: {} ({})", a.sandboxId(), net.name(), status.ips(), times.summary());
            return status;
        } catch (RuntimeException e) {
            completed(CniOperationListener.Operation.ADD, net.name(), start, false);
            try {
                teardown(entry, null);
                cache.remove(a.sandboxId());
                releaseMasqueradeIfIdle();
            } catch (RuntimeException undo) {
                LOG.warn("undoing the failed CNI ADD of sandbox {} failed too (GC will retry): {}", a.sandboxId(), undo.getMessage());
                e.addSuppressed(undo);
            }
            throw e;
        }
    }

    /** What the loopback plugin's ADD does (lo up), done in-process: one thread instead of a plugin process. */
    private static void loopbackUp(AttachmentCache.Entry entry) {
        LoopbackInterface.up(Path.of(entry.netns()));
    }

    // ---------------------------------------------------------------- DEL, CHECK, GC

    @Override
    public void detach(PodAttachment a) {
        validate(a);
        synchronized (lock(a.sandboxId())) {
            inFlight.add(a.sandboxId());
            try {
                Optional<AttachmentCache.Entry> entry = cache.get(a.sandboxId());
                if (entry.isEmpty()) {
                    return;
                }
                teardown(entry.get(), a.netnsPath());
                cache.remove(a.sandboxId());
            } finally {
                inFlight.remove(a.sandboxId());
            }
        }
        releaseMasqueradeIfIdle();
    }

    private SubnetMasquerade masquerade(String network) {
        return masquerades.computeIfAbsent(network, n -> new SubnetMasquerade(n, settings.cacheDir().toAbsolutePath().toString()));
    }

    /**
     * Removes the networks' masquerade rules once no pod is attached any more. Only the default network's rules are looked for when berth has not set up any
     * since it started (rules left by an earlier run).
     */
    private void releaseMasqueradeIfIdle() {
        if (defaultNetwork != null) {
            masquerade(defaultNetwork.settings().networkName());
        }
        for (SubnetMasquerade m : masquerades.values()) {
            synchronized (m) {
                // under the rules' lock, which an attach takes only after writing its cache entry
                if (cache.sandboxIds().isEmpty()) {
                    m.removeAll();
                }
            }
        }
    }

    /**
     * DEL through the cached chain in reverse. Every plugin gets its DEL even when an earlier
     * one failed, so one broken plugin does not strand the others' resources; the first failure
     * is thrown (the cache entry stays, for a retry or GC).
     */
    private void teardown(AttachmentCache.Entry entry, Path netnsNow) {
        if (!entry.network().masqueradeSubnets().isEmpty()) {
            masquerade(entry.network().name()); // known from now on, so its rules go with the last pod
        }
        Path netns = netnsNow != null ? netnsNow : (entry.netns().isEmpty() ? null : Path.of(entry.netns()));
        String netnsArg = netns != null && NetnsPaths.isNetns(netns) ? netns.toString() : "";
        AttachmentCache.Entry call = new AttachmentCache.Entry(entry.sandboxId(), entry.ifName(), netnsArg, entry.cniArgs(),
                entry.capabilityArgs(), entry.network(), entry.result());
        NetworkConfigList net = entry.network();
        JsonNode prev = CniVersion.atLeast(net.cniVersion(), "0.4.0") ? entry.result() : null;
        BerthException first = null;
        long start = System.nanoTime();
        List<ObjectNode> plugins = new ArrayList<>(net.plugins());
        for (int i = plugins.size() - 1; i >= 0; i--) {
            ObjectNode plugin = plugins.get(i);
            try {
                exec.run(plugin.get("type").asText(), call("DEL", call), bytes(pluginConfig(plugin, net, prev, entry.capabilityArgs())));
            } catch (BerthException e) {
                if (BridgeMasqueradeRules.applies(plugin) && BridgeMasqueradeRules.isMissingChainError(e, net.name(), entry.sandboxId())) {
                    // the bridge plugin released the lease and the veth, then stumbled over a masquerade
                    // chain that ADD never made; berth makes sure none of its rules are left
                    BridgeMasqueradeRules.remove(net.name(), entry.sandboxId());
                    continue;
                }
                if (first == null) {
                    first = e;
                } else {
                    first.addSuppressed(e);
                }
            }
        }
        if (netnsArg.isEmpty() && net.plugins().stream().anyMatch(BridgeMasqueradeRules::applies)) {
            try {
                BridgeMasqueradeRules.remove(net.name(), entry.sandboxId());
            } catch (BerthException e) {
                if (first == null) {
                    first = e;
                } else {
                    first.addSuppressed(e);
                }
            }
        }
        completed(CniOperationListener.Operation.DEL, net.name(), start, first == null);
        if (first != null) {
            throw first;
        }
    }

    /** CHECK through the chain of an attached pod; throws what the first failing plugin says. */
    public void check(PodAttachment a) {
        validate(a);
        synchronized (lock(a.sandboxId())) {
            AttachmentCache.Entry entry = cache.get(a.sandboxId()).filter(e -> e.result() != null).orElseThrow(() ->
                    BerthException.notFound("sandbox %s is not attached to a CNI network", a.sandboxId()));
            NetworkConfigList net = entry.network();
            if (!CniVersion.atLeast(net.cniVersion(), "0.4.0") || net.disableCheck()) {
                return;
            }
            long start = System.nanoTime();
            boolean ok = false;
            try {
                for (ObjectNode plugin : net.plugins()) {
                    exec.run(plugin.get("type").asText(), call("CHECK", entry),
                            bytes(pluginConfig(plugin, net, entry.result(), entry.capabilityArgs())));
                }
                ok = true;
            } finally {
                completed(CniOperationListener.Operation.CHECK, net.name(), start, ok);
            }
        }
    }

    /** The cached result of an attached pod, if any (for verbose sandbox status). */
    public Optional<PodNetworkStatus> cachedStatus(String sandboxId) {
        return cache.get(sandboxId).filter(e -> e.result() != null).map(e -> status(e.result()));
    }

    @Override
    public void garbageCollect(Set<String> liveSandboxIds) {
        List<String> failures = new ArrayList<>();
        for (String id : cache.sandboxIds()) {
            if (liveSandboxIds.contains(id) || inFlight.contains(id)) {
                continue;
            }
            synchronized (lock(id)) {
                if (inFlight.contains(id)) {
                    continue;
                }
                try {
                    Optional<AttachmentCache.Entry> e = cache.get(id);
                    if (e.isPresent()) {
                        teardown(e.get(), null);
                        cache.remove(id);
                        LOG.info("removed the CNI attachment of sandbox {}, which no longer exists", id);
                    }
                } catch (BerthException ex) {
                    failures.add(ex.getMessage());
                }
            }
        }
        Set<String> keep = new HashSet<>(liveSandboxIds);
        keep.addAll(inFlight);
        keep.addAll(cache.sandboxIds());
        releaseOrphanLeases(keep);
        try {
            releaseMasqueradeIfIdle();
        } catch (BerthException e) {
            failures.add(e.getMessage());
        }
        gcVerb(failures);
        if (!failures.isEmpty()) {
            throw BerthException.failedPrecondition("CNI garbage collection left work undone: %s", String.join("; ", failures));
        }
    }

    /** The CNI GC verb (spec 1.1) on every plugin of the current network, naming the attachments still valid. */
    private void gcVerb(List<String> failures) {
        Optional<NetworkConfigList> current = snapshot().network();
        if (current.isEmpty()) {
            return;
        }
        NetworkConfigList net = current.get();
        if (!CniVersion.atLeast(net.cniVersion(), "1.1.0") || net.disableGc()) {
            return;
        }
        ArrayNode valid = JsonNodeFactory.instance.arrayNode();
        for (String id : cache.sandboxIds()) {
            try {
                cache.get(id).filter(e -> e.network().name().equals(net.name()))
                        .ifPresent(e -> valid.addObject().put("containerID", e.sandboxId()).put("ifname", e.ifName()));
            } catch (BerthException e) {
                failures.add(e.getMessage());
            }
        }
        long start = System.nanoTime();
        boolean ok = true;
        for (ObjectNode plugin : net.plugins()) {
            ObjectNode conf = pluginConfig(plugin, net, null, JsonNodeFactory.instance.objectNode());
            conf.set("cni.dev/valid-attachments", valid.deepCopy());
            try {
                exec.run(plugin.get("type").asText(), CniPluginExec.Call.simple("GC", net.name()), bytes(conf));
            } catch (BerthException e) {
                failures.add(e.getMessage());
                ok = false;
            }
        }
        completed(CniOperationListener.Operation.GC, net.name(), start, ok);
    }

    /**
     * Leases in berth's own host-local directory held by containers berth no longer knows (e.g.
     * the cache entry was lost): the lease file names the container on its first line.
     */
    private void releaseOrphanLeases(Set<String> keep) {
        if (defaultNetwork == null) {
            return;
        }
        Path dir = defaultNetwork.settings().ipamDataDir().resolve(defaultNetwork.settings().networkName());
        if (!Files.isDirectory(dir)) {
            return;
        }
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
            for (Path p : ds) {
                String n = p.getFileName().toString();
                if (n.equals("lock") || n.startsWith("last_reserved_ip") || !(n.contains(".") || n.contains(":"))) {
                    continue;
                }
                String owner = Files.readString(p, StandardCharsets.UTF_8).lines().findFirst().orElse("").trim();
                if (!owner.isEmpty() && !keep.contains(owner)) {
                    Files.deleteIfExists(p);
                    LOG.info("released IP lease {} of sandbox {}, which no longer exists", n, owner);
                }
            }
        } catch (IOException e) {
            LOG.warn("cannot scan the IP leases in {}: {}", dir, e.getMessage());
        }
    }

    // ---------------------------------------------------------------- helpers

    private static void validate(PodAttachment a) {
        if (a.sandboxId() == null || !CONTAINER_ID.matcher(a.sandboxId()).matches()) {
            throw BerthException.invalidArgument("sandbox id \"%s\" is not usable as a CNI container id "
                    + "(letters, digits, '_', '.', '-'; starting with a letter or digit)", a.sandboxId());
        }
        for (String v : new String[] {a.podName(), a.podNamespace(), a.podUid()}) {
            if (v != null && (v.contains(";") || v.contains("="))) {
                throw BerthException.invalidArgument("pod metadata \"%s\" contains ';' or '=', which CNI_ARGS cannot carry", v);
            }
        }
    }

    static String cniArgs(PodAttachment a) {
        return "IgnoreUnknown=1;K8S_POD_NAMESPACE=" + nz(a.podNamespace()) + ";K8S_POD_NAME=" + nz(a.podName())
                + ";K8S_POD_INFRA_CONTAINER_ID=" + a.sandboxId() + ";K8S_POD_UID=" + nz(a.podUid());
    }

    private static String nz(String s) {
        return s == null ? "" : s;
    }

    /** The runtimeConfig values berth can give; each reaches only plugins declaring that capability. */
    static ObjectNode capabilityArgs(PodAttachment a) {
        ObjectNode caps = JsonNodeFactory.instance.objectNode();
        ArrayNode ports = caps.putArray("portMappings");
        for (PortMapping pm : a.portMappings()) {
            if (pm.hostPort() <= 0) {
                continue;
            }
            if (pm.hostPort() > 65535 || pm.containerPort() <= 0 || pm.containerPort() > 65535) {
                throw BerthException.invalidArgument("port mapping %d->%d is outside 1..65535", pm.hostPort(), pm.containerPort());
            }
            String proto = pm.protocol() == null || pm.protocol().isEmpty() ? "tcp" : pm.protocol().toLowerCase();
            if (!List.of("tcp", "udp", "sctp").contains(proto)) {
                throw BerthException.invalidArgument("port mapping protocol \"%s\" is not tcp, udp or sctp", pm.protocol());
            }
            ObjectNode m = ports.addObject();
            m.put("hostPort", pm.hostPort());
            m.put("containerPort", pm.containerPort());
            m.put("protocol", proto);
            if (pm.hostIp() != null && !pm.hostIp().isEmpty()) {
                m.put("hostIP", pm.hostIp());
            }
        }
        String ingress = a.annotations().get("kubernetes.io/ingress-bandwidth");
        String egress = a.annotations().get("kubernetes.io/egress-bandwidth");
        if (ingress != null || egress != null) {
            ObjectNode bw = caps.putObject("bandwidth");
            if (ingress != null) {
                bw.put("ingressRate", Bandwidth.bitsPerSecond(ingress));
                bw.put("ingressBurst", Integer.MAX_VALUE);
            }
            if (egress != null) {
                bw.put("egressRate", Bandwidth.bitsPerSecond(egress));
                bw.put("egressBurst", Integer.MAX_VALUE);
            }
        }
        if (a.cgroupParent() != null && !a.cgroupParent().isEmpty()) {
            caps.put("cgroupPath", a.cgroupParent());
        }
        return caps;
    }

    /** A plugin's stdin: its config with the network's name and version, prevResult and its capabilities' runtimeConfig. */
    static ObjectNode pluginConfig(ObjectNode plugin, NetworkConfigList net, JsonNode prevResult, ObjectNode capabilityArgs) {
        ObjectNode conf = plugin.deepCopy();
        conf.put("name", net.name());
        conf.put("cniVersion", net.cniVersion());
        if (prevResult != null) {
            conf.set("prevResult", prevResult);
        } else {
            conf.remove("prevResult");
        }
        JsonNode declared = plugin.path("capabilities");
        ObjectNode rc = JsonNodeFactory.instance.objectNode();
        capabilityArgs.fieldNames().forEachRemaining(k -> {
            if (declared.path(k).asBoolean(false)) {
                rc.set(k, capabilityArgs.get(k));
            }
        });
        if (!rc.isEmpty()) {
            conf.set("runtimeConfig", rc);
        }
        return conf;
    }

    private static CniPluginExec.Call call(String command, AttachmentCache.Entry e) {
        return new CniPluginExec.Call(command, e.sandboxId(), e.netns(), e.ifName(), e.cniArgs(), e.network().name());
    }

    /** The pod's addresses from a result: those on interfaces inside the sandbox (or unattributed), IPv4 first. */
    static PodNetworkStatus status(JsonNode result) {
        JsonNode ifaces = result.path("interfaces");
        List<String> v4 = new ArrayList<>();
        List<String> v6 = new ArrayList<>();
        for (JsonNode ip : result.path("ips")) {
            JsonNode idx = ip.get("interface");
            if (idx != null && idx.canConvertToInt()) {
                JsonNode iface = ifaces.path(idx.asInt());
                if (!iface.isMissingNode() && iface.path("sandbox").asText("").isEmpty()) {
                    continue;
                }
            }
            String addr = ip.path("address").asText("");
            int slash = addr.indexOf('/');
            String bare = slash < 0 ? addr : addr.substring(0, slash);
            if (!bare.isEmpty()) {
                (bare.contains(":") ? v6 : v4).add(bare);
            }
        }
        List<String> ips = new ArrayList<>(v4);
        ips.addAll(v6);
        return new PodNetworkStatus(ips, IF_NAME);
    }

    private static byte[] bytes(JsonNode n) {
        return Json.write(n).getBytes(StandardCharsets.UTF_8);
    }
}
