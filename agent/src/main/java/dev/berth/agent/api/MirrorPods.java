package dev.berth.agent.api;

import dev.berth.agent.pod.KubeletKeys;
import dev.berth.common.DaemonThreads;
import io.fabric8.kubernetes.api.model.DeleteOptionsBuilder;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.OwnerReferenceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodSpecBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.time.Duration;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Mirror pods: when connected, each static pod has a copy in the API (same namespace and
 * name, bound to this node, annotated {@code kubernetes.io/config.mirror} with the static
 * pod's config hash, owned by the Node when it exists), so the cluster sees what the node runs.
 * A missing mirror pod is created; a stale one (another hash, or marked for deletion) is
 * deleted and created again; one whose static pod is gone is deleted. The pods are compared
 * with the informer's copy of the node's pods, so a sync in steady state asks nothing of the
 * API server. Syncs run after each reconcile of the static pods, when a mirror pod changes in
 * the API, and on every resync; never before both the static pods and the API's pods are known.
 */
public final class MirrorPods implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(MirrorPods.class);
    /** The annotation that makes a pod a mirror pod; its value is the static pod's config hash. */
    public static final String CONFIG_MIRROR = "kubernetes.io/config.mirror";

    private final KubernetesClient api;
    private final String nodeName;
    private final Supplier<List<Pod>> apiPods;
    private final Duration resync;
    private final ScheduledExecutorService scheduler;
    /** The static pods of the last reconcile, by namespace/name; null until the first. */
    private volatile Map<String, Pod> staticPods;
    private boolean syncScheduled;
    private volatile boolean closed;

    /** @param apiPods the pods bound to this node as the API has them, or null while they are not known */
    MirrorPods(KubernetesClient api, String nodeName, Supplier<List<Pod>> apiPods, Duration resync) {
        this.api = api;
        this.nodeName = nodeName;
        this.apiPods = apiPods;
        this.resync = resync;
        this.scheduler = DaemonThreads.scheduler("mirror-pods");
    }

    void start() {
        scheduler.scheduleWithFixedDelay(this::syncSafely, resync.toMillis(), resync.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** The static pods are now {@code pods} (called after each reconcile of the manifest directory). */
    public void update(Collection<Pod> pods) {
        Map<String, Pod> byName = new LinkedHashMap<>();
        pods.forEach(p -> byName.put(fullName(p), p));
        staticPods = byName;
        changed();
    }

    /** Something changed (a static pod, a mirror pod in the API): syncs soon, once for a burst. */
    public void changed() {
        synchronized (this) {
            if (syncScheduled || closed) {
                return;
            }
            syncScheduled = true;
        }
        try {
            scheduler.schedule(this::syncSafely, 100, TimeUnit.MILLISECONDS);
        } catch (RejectedExecutionException e) {
            // closing
        }
    }

    private void syncSafely() {
        synchronized (this) {
            syncScheduled = false;
        }
        try {
            sync();
        } catch (RuntimeException e) {
            LOG.warn("mirror pods: sync failed, retrying in {}: {}", resync, e.toString());
        }
    }

    /** One pass: creates, replaces and deletes mirror pods as described above. */
    void sync() {
        Map<String, Pod> statics = staticPods;
        List<Pod> inApi = apiPods.get();
        if (closed || statics == null || inApi == null) {
            return;
        }
        Map<String, Pod> mirrors = new HashMap<>();
        Map<String, Pod> others = new HashMap<>();
        for (Pod p : inApi) {
            if (p.getSpec() != null && nodeName.equals(p.getSpec().getNodeName())) {
                (ApiPods.mirror(p) ? mirrors : others).put(fullName(p), p);
            }
        }
        for (Pod s : statics.values()) {
            String hash = hash(s);
            Pod m = mirrors.remove(fullName(s));
            if (m != null) {
                if (hash.equals(m.getMetadata().getAnnotations().get(CONFIG_MIRROR)) && m.getMetadata().getDeletionTimestamp() == null) {
                    continue;
                }
                LOG.info("mirror pod {} is stale; replacing it", fullName(s));
                if (!delete(m)) {
                    continue;
                }
            } else if (others.containsKey(fullName(s))) {
                LOG.warn("static pod {}: a pod of the API has its name; no mirror pod", fullName(s));
                continue;
            }
            create(s, hash);
        }
        for (Pod m : mirrors.values()) {
            LOG.info("mirror pod {}: its static pod is gone; deleting it", fullName(m));
            delete(m);
        }
    }

    private static String hash(Pod staticPod) {
        Map<String, String> a = staticPod.getMetadata().getAnnotations();
        String h = a == null ? null : a.get(KubeletKeys.CONFIG_HASH);
        return h != null ? h : staticPod.getMetadata().getUid();
    }

    private void create(Pod s, String hash) {
        Map<String, String> annotations = new LinkedHashMap<>();
        if (s.getMetadata().getAnnotations() != null) {
            annotations.putAll(s.getMetadata().getAnnotations());
        }
        annotations.put(CONFIG_MIRROR, hash);
        PodBuilder b = new PodBuilder().withNewMetadata().withNamespace(s.getMetadata().getNamespace()).withName(s.getMetadata().getName())
                .withLabels(s.getMetadata().getLabels()).withAnnotations(annotations).endMetadata()
                .withSpec(new PodSpecBuilder(s.getSpec()).withNodeName(nodeName).build());
        Node node = api.nodes().withName(nodeName).get();
        if (node != null) {
            b.editMetadata().withOwnerReferences(new OwnerReferenceBuilder().withApiVersion("v1").withKind("Node").withName(nodeName)
                    .withUid(node.getMetadata().getUid()).withController(true).build()).endMetadata();
        }
        try {
            api.resource(b.build()).create();
            LOG.info("mirror pod {} created (hash {})", fullName(s), hash);
        } catch (KubernetesClientException e) {
            if (e.getCode() == 409) {
                return; // made meanwhile (the informer had not seen it yet), or a pod of that name appeared
            }
            throw e;
        }
    }

    /** Deletes a mirror pod at once, only that one (uid); true when it is gone. */
    private boolean delete(Pod m) {
        try {
            api.raw("/api/v1/namespaces/" + m.getMetadata().getNamespace() + "/pods/" + m.getMetadata().getName(), "DELETE",
                    new DeleteOptionsBuilder().withGracePeriodSeconds(0L).withNewPreconditions().withUid(m.getMetadata().getUid())
                            .endPreconditions().build());
            return true;
        } catch (KubernetesClientException e) {
            if (e.getCode() == 404) {
                return true;
            }
            if (e.getCode() == 409) {
                return false; // another pod has the name now: the next sync looks again
            }
            throw e;
        }
    }

    private static String fullName(Pod p) {
        return p.getMetadata().getNamespace() + "/" + p.getMetadata().getName();
    }

    @Override
    public void close() {
        synchronized (this) {
            closed = true;
        }
        scheduler.shutdownNow();
    }
}
