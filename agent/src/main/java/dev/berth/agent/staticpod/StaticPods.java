package dev.berth.agent.staticpod;

import dev.berth.agent.cri.CriClient;
import dev.berth.agent.pod.KubeletKeys;
import dev.berth.agent.pod.PodTranslation;
import dev.berth.agent.pod.PodWorkers;
import dev.berth.common.DaemonThreads;
import dev.berth.cri.v1.PodSandbox;
import io.fabric8.kubernetes.api.model.Pod;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Static pods: the manifest directory is the desired state. Each reconcile reads the directory
 * (files whose names start with "." are skipped; a file that no longer parses keeps its last
 * good pods, so a half-written edit stops nothing), lists the sandboxes the agent made for
 * static pods, and tells the pod workers: every pod of a manifest should run, every other
 * static pod must go (with its grace period). A changed document is a new uid, so its old pod
 * is stopped and the new one started, the new one only once the old one is gone when they
 * share a name (as the kubelet does: two static pods of one name never run at once).
 * Reconciles run at start (adopting what a previous agent left running), every
 * {@code rescanInterval}, and shortly after an inotify event in the directory.
 */
public final class StaticPods implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(StaticPods.class);
    /** Manifests larger than this are refused, not read. */
    static final long MAX_MANIFEST_BYTES = 10L << 20;
    /** Events come in bursts (an editor writes, renames, changes modes): one reconcile after the burst. */
    static final Duration SETTLE = Duration.ofMillis(200);

    private final Path dir;
    private final ManifestParser parser;
    private final PodWorkers workers;
    private final CriClient cri;
    private final Duration rescanInterval;
    private final ScheduledExecutorService scheduler;
    /** The last good pods of each manifest file. */
    private final Map<Path, List<Pod>> files = new TreeMap<>();
    /** The pods handed to the workers, by uid: what a pod that must go is stopped with. */
    private final Map<String, Pod> dispatched = new HashMap<>();
    /** Told the static pods after each reconcile (the mirror pods, when connected). */
    private volatile Consumer<List<Pod>> listener = pods -> { };
    private WatchService watch;
    private Thread watcher;
    private volatile boolean closed;
    private boolean reconcileScheduled;

    public StaticPods(Path dir, ManifestParser parser, PodWorkers workers, CriClient cri, Duration rescanInterval) {
        this.dir = dir;
        this.parser = parser;
        this.workers = workers;
        this.cri = cri;
        this.rescanInterval = rescanInterval;
        this.scheduler = DaemonThreads.scheduler("static-pods");
    }

    /** {@code listener} is told the static pods after each reconcile (set it before {@link #start()}). */
    public void onReconcile(Consumer<List<Pod>> listener) {
        this.listener = listener;
    }

    /** Reconciles once now (in the background), then on every change and every rescan interval. */
    public void start() {
        LOG.info("static pods from {} (rescanned every {})", dir, rescanInterval);
        scheduler.scheduleWithFixedDelay(this::reconcileSafely, 0, rescanInterval.toMillis(), TimeUnit.MILLISECONDS);
    }

    private void reconcileSafely() {
        synchronized (this) {
            reconcileScheduled = false;
        }
        try {
            ensureWatching();
            reconcile();
        } catch (RuntimeException | LinkageError e) {
            // caught whole: an escaping throwable would end the periodic rescans for good
            LOG.warn("static pods: reconcile failed, retrying in {}: {}", rescanInterval, e.toString());
        }
    }

    /** Schedules one reconcile soon, coalescing requests that arrive in the meantime. */
    void reconcileSoon() {
        synchronized (this) {
            if (reconcileScheduled || closed) {
                return;
            }
            reconcileScheduled = true;
        }
        try {
            scheduler.schedule(this::reconcileSafely, SETTLE.toMillis(), TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.RejectedExecutionException e) {
            // closing
        }
    }

    /** One pass: the directory against the runtime's static pods; see the class comment. */
    synchronized void reconcile() {
        if (closed) {
            return;
        }
        readDirectory();
        Map<String, Pod> desired = new LinkedHashMap<>();
        files.values().forEach(pods -> pods.forEach(p -> desired.put(p.getMetadata().getUid(), p)));
        List<PodSandbox> actual;
        try {
            actual = cri.listPodSandboxes(Map.of(KubeletKeys.POD_SOURCE, KubeletKeys.SOURCE_FILE));
        } catch (StatusRuntimeException e) {
            LOG.warn("static pods: cannot list the runtime's sandboxes ({}); trying again later", e.getStatus());
            return;
        }
        // every uid alive in the runtime or in a worker, with its pod's full name
        Map<String, String> alive = new HashMap<>();
        for (PodSandbox s : actual) {
            String uid = s.getLabelsOrDefault(KubeletKeys.POD_UID, "");
            if (!uid.isEmpty()) {
                alive.put(uid, s.getMetadata().getNamespace() + "/" + s.getMetadata().getName());
            }
        }
        for (String uid : workers.uids()) {
            Pod p = dispatched.get(uid);
            if (p != null) {
                alive.putIfAbsent(uid, fullName(p));
            }
        }
        Set<String> blockedNames = new HashSet<>();
        for (Map.Entry<String, String> e : alive.entrySet()) {
            String uid = e.getKey();
            if (desired.containsKey(uid)) {
                continue;
            }
            blockedNames.add(e.getValue());
            if (!workers.terminating(uid)) {
                Pod last = dispatched.get(uid);
                long grace = last != null ? PodTranslation.gracePeriodSeconds(last) : -1;
                LOG.info("static pod {} (uid {}) is no longer in {}; stopping it", e.getValue(), uid, dir);
                workers.terminate(uid, grace, () -> {
                    synchronized (this) {
                        dispatched.remove(uid);
                    }
                    reconcileSoon();
                });
            }
        }
        for (Pod pod : desired.values()) {
            if (blockedNames.contains(fullName(pod))) {
                LOG.info("static pod {} (uid {}) waits for its previous version to stop", fullName(pod), pod.getMetadata().getUid());
                continue;
            }
            dispatched.put(pod.getMetadata().getUid(), pod);
            workers.update(pod);
        }
        listener.accept(List.copyOf(desired.values()));
    }

    private void readDirectory() {
        if (!Files.isDirectory(dir)) {
            LOG.warn("static pods: {} is not a directory; keeping the pods as they are", dir);
            return;
        }
        Set<Path> seen = new HashSet<>();
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir)) {
            for (Path f : entries) {
                if (f.getFileName().toString().startsWith(".") || !Files.isRegularFile(f)) {
                    continue; // hidden (editors' temporaries), directories, dangling links
                }
                seen.add(f);
                read(f);
            }
        } catch (IOException e) {
            LOG.warn("static pods: cannot list {}: {}; keeping the pods as they are", dir, e.getMessage());
            return;
        }
        files.keySet().retainAll(seen);
    }

    private void read(Path f) {
        try {
            if (Files.size(f) > MAX_MANIFEST_BYTES) {
                throw new ManifestException(f + " is larger than " + MAX_MANIFEST_BYTES + " bytes");
            }
            List<Pod> pods = parser.parse(f, Files.readString(f, StandardCharsets.UTF_8));
            List<Pod> before = files.put(f, pods);
            if (before == null || !uids(before).equals(uids(pods))) {
                LOG.info("static pods: {} holds {}", f, pods.stream().map(p -> fullName(p) + " (uid " + p.getMetadata().getUid() + ")").toList());
            }
        } catch (NoSuchFileException e) {
            files.remove(f);
        } catch (IOException | ManifestException e) {
            // a file being written, or a wrong one: its pods stay as they were
            LOG.warn("static pods: {} is ignored: {}", f, e.getMessage());
        }
    }

    private static List<String> uids(List<Pod> pods) {
        return pods.stream().map(p -> p.getMetadata().getUid()).toList();
    }

    private static String fullName(Pod p) {
        return p.getMetadata().getNamespace() + "/" + p.getMetadata().getName();
    }

    /** Watches the directory for changes once it exists. */
    private synchronized void ensureWatching() {
        if (watch != null || closed || !Files.isDirectory(dir)) {
            return;
        }
        try {
            WatchService ws = dir.getFileSystem().newWatchService();
            dir.register(ws, StandardWatchEventKinds.ENTRY_CREATE, StandardWatchEventKinds.ENTRY_MODIFY,
                    StandardWatchEventKinds.ENTRY_DELETE);
            watch = ws;
        } catch (IOException e) {
            LOG.warn("static pods: cannot watch {} ({}); changes are seen at the next rescan", dir, e.getMessage());
            return;
        }
        WatchService ws = watch;
        watcher = new Thread(() -> {
            try {
                while (!closed) {
                    WatchKey key = ws.take();
                    key.pollEvents();
                    reconcileSoon();
                    if (!key.reset()) {
                        synchronized (this) {
                            watch = null; // the directory went away: watch it again when it is back
                        }
                        ws.close();
                        return;
                    }
                }
            } catch (InterruptedException | ClosedWatchServiceException | IOException e) {
                // closing
            }
        }, "static-pods-watch");
        watcher.setDaemon(true);
        watcher.start();
    }

    /** Stops reading the directory; the pods keep running. */
    @Override
    public void close() {
        synchronized (this) {
            closed = true;
        }
        scheduler.shutdownNow();
        WatchService ws;
        synchronized (this) {
            ws = watch;
        }
        if (ws != null) {
            try {
                ws.close();
            } catch (IOException e) {
                // closing anyway
            }
        }
    }
}
