package dev.berth.cgroups;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Tells listeners when the OOM killer struck inside a watched cgroup. It polls the kill
 * counter of each watched cgroup (v2 memory.events oom_kill, v1 memory.oom_control oom_kill)
 * on one daemon thread; one small file read per cgroup per period. A last poll runs when a
 * watch is closed or its cgroup removed, so a kill just before a container exits is not lost.
 */
final class OomMonitor {
    private static final Logger LOG = LoggerFactory.getLogger(OomMonitor.class);

    private final CgroupManager cgroups;
    private final long periodMillis;
    private final Map<String, Watched> watched = new ConcurrentHashMap<>();
    private ScheduledExecutorService executor;

    private static final class Watched {
        final CopyOnWriteArrayList<Cgroups.OomListener> listeners = new CopyOnWriteArrayList<>();
        long seen;

        Watched(long seen) {
            this.seen = seen;
        }
    }

    OomMonitor(CgroupManager cgroups, long periodMillis) {
        this.cgroups = cgroups;
        this.periodMillis = periodMillis;
    }

    AutoCloseable watch(String path, Cgroups.OomListener listener) {
        Watched w = watched.computeIfAbsent(path, p -> new Watched(cgroups.oomKillsResolved(p)));
        w.listeners.add(listener);
        start();
        return () -> {
            poll(path);
            watched.computeIfPresent(path, (p, w2) -> {
                w2.listeners.remove(listener);
                return w2.listeners.isEmpty() ? null : w2;
            });
        };
    }

    /** Delivers pending kills of {@code path} (and of cgroups below it) and stops watching them. */
    void forget(String path) {
        for (String p : watched.keySet()) {
            if (p.equals(path) || p.startsWith(path + "/")) {
                poll(p);
                watched.remove(p);
            }
        }
    }

    private synchronized void start() {
        if (executor == null) {
            executor = Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, "berth-oom-monitor");
                t.setDaemon(true);
                return t;
            });
            executor.scheduleWithFixedDelay(this::pollAll, periodMillis, periodMillis, TimeUnit.MILLISECONDS);
        }
    }

    private void pollAll() {
        for (String path : watched.keySet()) {
            try {
                poll(path);
            } catch (RuntimeException e) {
                LOG.warn("cannot read OOM events of cgroup {}: {}", path, e.getMessage());
            }
        }
    }

    private void poll(String path) {
        Watched w = watched.get(path);
        if (w == null) {
            return;
        }
        long total;
        long fresh;
        synchronized (w) {
            total = cgroups.oomKillsResolved(path);
            fresh = total - w.seen;
            if (fresh <= 0) {
                return;
            }
            w.seen = total;
        }
        for (Cgroups.OomListener l : w.listeners) {
            try {
                l.oomKilled(path, fresh, total);
            } catch (RuntimeException e) {
                LOG.warn("OOM listener of cgroup {} failed", path, e);
            }
        }
    }

    synchronized void close() {
        if (executor != null) {
            executor.shutdownNow();
            executor = null;
        }
        watched.clear();
    }
}
