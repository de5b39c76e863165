package dev.berth.agent.api;

import dev.berth.agent.cri.CriClient;
import dev.berth.agent.pod.KubeletKeys;
import dev.berth.agent.pod.PodTranslation;
import dev.berth.agent.pod.PodWorkers;
import dev.berth.common.DaemonThreads;
import dev.berth.cri.v1.PodSandbox;
import io.fabric8.kubernetes.api.model.DeleteOptionsBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The pods the API server binds to this node: an informer lists and watches them in every
 * namespace with the field selector {@code spec.nodeName=<node>} (re-listing and re-watching
 * with back-off after errors and expired resource versions), and each pod goes to the pod
 * workers. The agent checks {@code spec.nodeName} itself too, and never runs a mirror pod (the
 * API's copy of one of its own static pods). A pod in a terminal phase is not started again.
 * A pod with a deletionTimestamp is stopped with its deletion grace period, then its object
 * is deleted with grace 0 and a uid precondition (so a new pod of the same name is never
 * deleted); a pod that vanishes from the API (force-deleted) is stopped all the same. Once the
 * first list has synced, and on every resync, the sandboxes the agent made for API pods
 * (label {@code berth.dev/pod-source=api}) whose pod is neither in the API nor in a worker are
 * stopped and removed; static pods' sandboxes and sandboxes made by others are never touched.
 */
public final class ApiPods implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ApiPods.class);
    /** How often every pod is handed to its worker again and orphan sandboxes are looked for. */
    public static final Duration RESYNC = Duration.ofMinutes(1);

    private final KubernetesClient api;
    private final String nodeName;
    private final PodWorkers workers;
    private final CriClient cri;
    private final Duration resync;
    private final ScheduledExecutorService scheduler;
    /** Uids whose object the agent deletes (or has deleted) after stopping the pod. */
    private final Set<String> deleting = ConcurrentHashMap.newKeySet();
    private final MirrorPods mirrors;
    private volatile SharedIndexInformer<Pod> informer;
    private volatile boolean closed;

    public ApiPods(KubernetesClient api, String nodeName, PodWorkers workers, CriClient cri) {
        this(api, nodeName, workers, cri, RESYNC);
    }

    ApiPods(KubernetesClient api, String nodeName, PodWorkers workers, CriClient cri, Duration resync) {
        this.api = api;
        this.nodeName = nodeName;
        this.workers = workers;
        this.cri = cri;
        this.resync = resync;
        this.scheduler = DaemonThreads.scheduler("api-pods");
        this.mirrors = new MirrorPods(api, nodeName, this::boundPods, resync);
    }

    /** The mirror pods of this node's static pods, kept by this source's informer. */
    public MirrorPods mirrorPods() {
        return mirrors;
    }

    /** Starts watching; the first list and everything after it happen in the background. */
    public void start() {
        SharedIndexInformer<Pod> inf = api.pods().inAnyNamespace().withField("spec.nodeName", nodeName)
                .runnableInformer(resync.toMillis());
        inf.exceptionHandler((started, t) -> {
            // every error is retried (the informer backs off): the API server may come later or come back
            LOG.warn("pods of node {}: listing or watching failed ({}); retrying", nodeName, t.toString());
            return !closed;
        });
        inf.addEventHandler(new Handler());
        informer = inf;
        LOG.info("pods of node {}: watching the API server ({})", nodeName, api.getMasterUrl());
        inf.start().whenComplete((v, e) -> {
            if (e == null) {
                LOG.info("pods of node {}: first list synced ({} pods)", nodeName, inf.getStore().list().size());
                submit(this::sweepOrphansSafely);
                mirrors.changed();
            }
        });
        scheduler.scheduleWithFixedDelay(this::sweepOrphansSafely, resync.toMillis(), resync.toMillis(), TimeUnit.MILLISECONDS);
        mirrors.start();
    }

    /** Whether the first list has synced: before it, nothing is known to be absent from the API. */
    boolean synced() {
        SharedIndexInformer<Pod> inf = informer;
        return inf != null && inf.hasSynced();
    }

    /** The pods the informer holds (bound to this node, unless the API server ignored the selector); null before the first sync. */
    List<Pod> boundPods() {
        SharedIndexInformer<Pod> inf = informer;
        return inf != null && inf.hasSynced() ? inf.getStore().list() : null;
    }

    private boolean ours(Pod pod) {
        return pod.getSpec() != null && nodeName.equals(pod.getSpec().getNodeName());
    }

    static boolean mirror(Pod pod) {
        Map<String, String> a = pod.getMetadata().getAnnotations();
        return a != null && a.containsKey(MirrorPods.CONFIG_MIRROR);
    }

    private static boolean terminal(Pod pod) {
        String phase = pod.getStatus() == null ? null : pod.getStatus().getPhase();
        return "Succeeded".equals(phase) || "Failed".equals(phase);
    }

    private static String name(Pod pod) {
        return pod.getMetadata().getNamespace() + "/" + pod.getMetadata().getName();
    }

    /** The grace period of a pod's deletion: the one it was deleted with, else its spec's. */
    static long deletionGrace(Pod pod) {
        Long g = pod.getMetadata().getDeletionGracePeriodSeconds();
        return g != null ? Math.max(0, g) : PodTranslation.gracePeriodSeconds(pod);
    }

    /** A pod added or changed in the API. */
    void seen(Pod pod) {
        if (closed || !ours(pod)) {
            return; // the field selector should have left it out; another node's pod never runs here
        }
        if (mirror(pod)) {
            mirrors.changed();
            return;
        }
        if (pod.getMetadata().getDeletionTimestamp() != null) {
            stopAndDelete(pod);
            return;
        }
        if (terminal(pod)) {
            return; // its containers have ended for good: nothing to start again
        }
        workers.update(fromApi(pod));
    }

    /**
     * The pod as its worker gets it: marked as the API's ({@code kubernetes.io/config.source}
     * {@code api}) whatever its own annotations say, so that a pod of the API never passes for a
     * static pod (whose reconcile would stop it).
     */
    static Pod fromApi(Pod pod) {
        Map<String, String> a = pod.getMetadata().getAnnotations();
        String source = a == null ? null : a.get(KubeletKeys.CONFIG_SOURCE);
        if (source == null || source.equals(KubeletKeys.SOURCE_API)) {
            return pod;
        }
        return new PodBuilder(pod).editMetadata().addToAnnotations(KubeletKeys.CONFIG_SOURCE, KubeletKeys.SOURCE_API).endMetadata().build();
    }

    /** A pod gone from the API: deleted by the agent after it stopped it, or force-deleted by someone else. */
    void gone(Pod pod) {
        if (closed || !ours(pod)) {
            return;
        }
        if (mirror(pod)) {
            mirrors.changed();
            return;
        }
        String uid = pod.getMetadata().getUid();
        if (deleting.remove(uid)) {
            return; // stopped before the agent deleted it
        }
        LOG.info("pod {} (uid {}) was deleted from the API; stopping it", name(pod), uid);
        workers.terminate(uid, deletionGrace(pod), null);
    }

    private void stopAndDelete(Pod pod) {
        String uid = pod.getMetadata().getUid();
        if (!deleting.add(uid)) {
            return; // already on its way
        }
        long grace = deletionGrace(pod);
        LOG.info("pod {} (uid {}) is being deleted; stopping it with a grace period of {} s", name(pod), uid, grace);
        workers.terminate(uid, grace, () -> submit(() -> deleteObject(pod)));
    }

    /** Deletes the stopped pod's object with grace 0, only if it is still the same pod (uid). */
    void deleteObject(Pod pod) {
        String uid = pod.getMetadata().getUid();
        try {
            api.raw("/api/v1/namespaces/" + pod.getMetadata().getNamespace() + "/pods/" + pod.getMetadata().getName(), "DELETE",
                    new DeleteOptionsBuilder().withGracePeriodSeconds(0L).withNewPreconditions().withUid(uid).endPreconditions().build());
            LOG.info("pod {} (uid {}) stopped; its object is deleted", name(pod), uid);
        } catch (KubernetesClientException e) {
            if (e.getCode() == 404 || e.getCode() == 409) {
                return; // gone already, or the name now belongs to a new pod
            }
            // the next resync sees the pod again, still marked, and retries
            deleting.remove(uid);
            LOG.warn("pod {} (uid {}): deleting its object failed ({}); retrying at the next resync", name(pod), uid, e.getMessage());
        }
    }

    private void sweepOrphansSafely() {
        try {
            sweepOrphans();
        } catch (RuntimeException e) {
            LOG.warn("pods of node {}: looking for orphan sandboxes failed: {}", nodeName, e.toString());
        }
    }

    /** Stops and removes the sandboxes of API pods that are neither in the API nor in a worker; never before the first sync. */
    void sweepOrphans() {
        if (closed || !synced()) {
            return;
        }
        List<PodSandbox> sandboxes;
        try {
            sandboxes = cri.listPodSandboxes(Map.of(KubeletKeys.POD_SOURCE, KubeletKeys.SOURCE_API));
        } catch (StatusRuntimeException e) {
            LOG.warn("pods of node {}: cannot list the runtime's sandboxes ({}); trying again later", nodeName, e.getStatus());
            return;
        }
        // read after the sandboxes: a sandbox made meanwhile belongs to a pod already in the store or in a worker
        Set<String> known = new HashSet<>();
        informer.getStore().list().forEach(p -> known.add(p.getMetadata().getUid()));
        known.addAll(workers.uids());
        for (PodSandbox s : sandboxes) {
            String uid = s.getLabelsOrDefault(KubeletKeys.POD_UID, "");
            if (uid.isEmpty() || known.contains(uid)) {
                continue;
            }
            LOG.info("sandbox {} of pod {}/{} (uid {}) has no pod in the API; stopping and removing it", s.getId(),
                    s.getMetadata().getNamespace(), s.getMetadata().getName(), uid);
            known.add(uid);
            workers.terminate(uid, -1, null);
        }
    }

    private void submit(Runnable task) {
        try {
            scheduler.execute(task);
        } catch (RejectedExecutionException e) {
            // closing
        }
    }

    /** Stops watching; the pods keep running. */
    @Override
    public void close() {
        closed = true;
        SharedIndexInformer<Pod> inf = informer;
        if (inf != null) {
            inf.close();
        }
        mirrors.close();
        scheduler.shutdownNow();
    }

    private final class Handler implements ResourceEventHandler<Pod> {
        @Override
        public void onAdd(Pod pod) {
            seen(pod);
        }

        @Override
        public void onUpdate(Pod before, Pod pod) {
            seen(pod);
        }

        @Override
        public void onDelete(Pod pod, boolean finalStateUnknown) {
            gone(pod);
        }
    }
}
