package dev.berth.networking.cni;

import dev.berth.common.DaemonThreads;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The masquerade rules of the networks that ask for them, one {@link SubnetMasquerade} per
 * network: set up before a pod's plugins run, removed when no pod has been attached for the
 * linger time (none by default: with the last pod). A linger spares a node whose pods come and
 * go one at a time an {@code iptables-save} and {@code iptables-restore} on every ADD and every
 * DEL; {@link #close()} and the start-up garbage collection remove idle rules at once.
 */
final class Masquerades implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Masquerades.class);

    private final Map<String, SubnetMasquerade> masquerades = new ConcurrentHashMap<>();
    private final String lockDir;
    private final DefaultNetworkPolicy defaultNetwork;
    private final AttachmentCache cache;
    private Duration linger = Duration.ZERO;
    private ScheduledThreadPoolExecutor timer;
    private ScheduledFuture<?> pending;

    Masquerades(String lockDir, DefaultNetworkPolicy defaultNetwork, AttachmentCache cache) {
        this.lockDir = lockDir;
        this.defaultNetwork = defaultNetwork;
        this.cache = cache;
    }

    /** The rules of {@code network}, known from now on (so they go with its last pod). */
    SubnetMasquerade of(String network) {
        return masquerades.computeIfAbsent(network, n -> new SubnetMasquerade(n, lockDir));
    }

    /** How long idle rules stay before they are removed (zero: at once). */
    synchronized void linger(Duration d) {
        if (d.isNegative()) {
            throw new IllegalArgumentException("negative linger " + d);
        }
        linger = d;
    }

    /**
     * Removes the networks' masquerade rules once no pod is attached any more: at once, or after
     * the linger time when one is set (a pod attached meanwhile keeps them).
     */
    void releaseIfIdle() {
        synchronized (this) {
            if (!linger.isZero()) {
                if (pending == null || pending.isDone()) {
                    if (timer == null) {
                        timer = new ScheduledThreadPoolExecutor(1, DaemonThreads.named("berth-masquerade-linger"));
                        timer.setKeepAliveTime(10, TimeUnit.SECONDS);
                        timer.allowCoreThreadTimeOut(true);
                        timer.setRemoveOnCancelPolicy(true);
                    }
                    pending = timer.schedule(this::releaseLingered, linger.toMillis(), TimeUnit.MILLISECONDS);
                }
                return;
            }
        }
        releaseNowIfIdle();
    }

    private void releaseLingered() {
        try {
            releaseNowIfIdle();
        } catch (RuntimeException e) {
            // the next DEL or garbage collection tries again
            LOG.warn("removing idle masquerade rules failed: {}", e.getMessage());
        }
    }

    /**
     * Removes the networks' masquerade rules now if no pod is attached. Only the default
     * network's rules are looked for when berth has not set up any since it started (rules left
     * by an earlier run).
     */
    void releaseNowIfIdle() {
        if (defaultNetwork.enabled()) {
            of(defaultNetwork.networkName());
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

    /** Ends the linger: idle rules go now, rules of attached pods stay. */
    @Override
    public void close() {
        synchronized (this) {
            if (pending != null) {
                pending.cancel(false);
                pending = null;
            }
            if (timer != null) {
                timer.shutdown();
                timer = null;
            }
            linger = Duration.ZERO;
        }
        releaseNowIfIdle();
    }
}
