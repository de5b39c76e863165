package dev.berth.networking.cni;

import static dev.berth.networking.cni.CniRuntimeConfig.capabilityArgs;
import static dev.berth.networking.cni.CniRuntimeConfig.cniArgs;
import static dev.berth.networking.cni.CniRuntimeConfig.status;

import com.fasterxml.jackson.databind.JsonNode;
import dev.berth.common.BerthException;
import dev.berth.common.PrivateFiles;
import dev.berth.common.StepTimer;
import dev.berth.networking.PodNetwork;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
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
 *
 * <p>This class orders the steps of a pod's attachment under its lock; the jobs live in
 * {@link CniReadiness}, {@link DefaultNetworkPolicy}, {@link Masquerades}, {@link PluginChain}
 * and {@link CniRuntimeConfig}.
 */
public final class CniPodNetwork implements PodNetwork, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(CniPodNetwork.class);
    static final String IF_NAME = CniRuntimeConfig.IF_NAME;
    private static final Pattern CONTAINER_ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.\\-]{0,252}");

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

    private final CniConfigDirectory configDir;
    private final AttachmentCache cache;
    private final DefaultNetworkPolicy defaultNetwork;
    private final Masquerades masquerades;
    private final PluginChain chain;
    private final CniReadiness readiness;
    private final Object[] locks = new Object[64];
    private final Set<String> inFlight = ConcurrentHashMap.newKeySet();

    public CniPodNetwork(Settings settings) {
        this.configDir = new CniConfigDirectory(settings.configDir());
        CniPluginExec exec = new CniPluginExec(settings.binDirs(), settings.pluginTimeout());
        this.cache = new AttachmentCache(settings.cacheDir());
        this.defaultNetwork = new DefaultNetworkPolicy(configDir,
                settings.defaultNetwork() == null ? null : new DefaultNetwork(settings.defaultNetwork()), cache);
        this.masquerades = new Masquerades(settings.cacheDir().toAbsolutePath().toString(), defaultNetwork, cache);
        this.chain = new PluginChain(exec);
        this.readiness = new CniReadiness(configDir, defaultNetwork, exec, chain);
        for (int i = 0; i < locks.length; i++) {
            locks[i] = new Object();
        }
        try {
            // closed to other users, also when an older berth left it open: a cached attachment
            // holds the pod's CNI arguments and results
            PrivateFiles.directory(settings.cacheDir());
            cache.sweepTemporaries();
        } catch (IOException e) {
            throw BerthException.failedPrecondition("cannot create the CNI result cache directory %s: %s", settings.cacheDir(), e.getMessage());
        }
    }

    /**
     * Keeps a network's masquerade rules for {@code linger} after its last pod went (zero, the
     * default: they go with it), so pods that come and go one at a time do not remove and set
     * them up again each time.
     */
    public void lingerMasquerades(Duration linger) {
        masquerades.linger(linger);
    }

    /** Removes idle masquerade rules now (a linger ends); what attached pods need stays. */
    @Override
    public void close() {
        masquerades.close();
    }

    /** Tells {@code listener} about every ADD, DEL, CHECK, STATUS and GC run from now on (replacing the previous one). */
    public void listen(CniOperationListener listener) {
        chain.listen(listener);
    }

    private Object lock(String sandboxId) {
        return locks[Math.floorMod(sandboxId.hashCode(), locks.length)];
    }

    // ---------------------------------------------------------------- configuration and readiness

    @Override
    public NetworkReadiness readiness() {
        return readiness.readiness();
    }

    @Override
    public void setPodCidrs(List<String> cidrs) {
        defaultNetwork.setPodCidrs(cidrs);
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
        NetworkReadiness ready = readiness.readiness();
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
                masquerades.of(net.name()).ensure(net.masqueradeSubnets());
                times.mark("masquerade");
            }
            loopbackUp(entry);
            times.mark("loopback");
            JsonNode result = chain.add(entry, times);
            cache.put(entry.withResult(result), false);
            times.mark("cache result");
            PodNetworkStatus status = status(result);
            chain.completed(CniOperationListener.Operation.ADD, net.name(), start, true);
            LOG.debug("sandbox {} attached to network {}: {} ({})", a.sandboxId(), net.name(), status.ips(), times.summary());
            return status;
        } catch (RuntimeException e) {
            chain.completed(CniOperationListener.Operation.ADD, net.name(), start, false);
            try {
                teardown(entry, null);
                cache.remove(a.sandboxId());
                masquerades.releaseIfIdle();
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
                StepTimer times = new StepTimer(LOG.isDebugEnabled());
                Optional<AttachmentCache.Entry> entry = cache.get(a.sandboxId());
                if (entry.isEmpty()) {
                    return;
                }
                times.mark("cache lookup");
                teardown(entry.get(), a.netnsPath(), times);
                cache.remove(a.sandboxId());
                times.mark("cache removed");
                LOG.debug("sandbox {} detached from network {} ({})", a.sandboxId(), entry.get().network().name(), times.summary());
            } finally {
                inFlight.remove(a.sandboxId());
            }
        }
        masquerades.releaseIfIdle();
    }

    /** DEL through the cached chain in reverse (see {@link PluginChain#delete}); the network's masquerade rules are known from then on. */
    private void teardown(AttachmentCache.Entry entry, Path netnsNow) {
        teardown(entry, netnsNow, new StepTimer(false));
    }

    private void teardown(AttachmentCache.Entry entry, Path netnsNow, StepTimer times) {
        if (!entry.network().masqueradeSubnets().isEmpty()) {
            masquerades.of(entry.network().name()); // known from now on, so its rules go with the last pod
        }
        chain.delete(entry, netnsNow, times);
    }

    /** CHECK through the chain of an attached pod; throws what the first failing plugin says. */
    public void check(PodAttachment a) {
        validate(a);
        synchronized (lock(a.sandboxId())) {
            AttachmentCache.Entry entry = cache.get(a.sandboxId()).filter(e -> e.result() != null).orElseThrow(() ->
                    BerthException.notFound("sandbox %s is not attached to a CNI network", a.sandboxId()));
            chain.check(entry);
        }
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
        defaultNetwork.releaseOrphanLeases(keep);
        try {
            masquerades.releaseNowIfIdle();
        } catch (BerthException e) {
            failures.add(e.getMessage());
        }
        Optional<NetworkConfigList> current = defaultNetwork.snapshot().network();
        if (current.isPresent()) {
            chain.gc(current.get(), cache, failures);
        }
        if (!failures.isEmpty()) {
            throw BerthException.failedPrecondition("CNI garbage collection left work undone: %s", String.join("; ", failures));
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
}
