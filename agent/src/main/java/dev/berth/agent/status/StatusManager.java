package dev.berth.agent.status;

import dev.berth.agent.pod.KubeletKeys;
import io.fabric8.kubernetes.api.model.ObjectMeta;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodStatus;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The status upward: after each pass of a pod's worker it builds the pod's status
 * ({@link PodStatusBuilder}) and, when it differs from the last one written, writes it through
 * the pod's status subresource on a thread of its own, so the pod workers never wait for the
 * API server. Statuses that change while a write is under way are coalesced into one next
 * write of the newest; failed writes are retried with back-off (1 s doubling to a minute). A
 * steady pod costs no request. A static pod's status goes to its mirror pod (same namespace
 * and name, annotation {@value #MIRROR}) once one exists. Without an API server (standalone)
 * statuses are built and kept, never written.
 *
 * <p>The write is a PUT of the status subresource without a resourceVersion (pods allow
 * unconditional updates; the API server takes only the status from it) and with the pod's
 * uid, so a pod deleted and recreated under the same name is never written with another
 * pod's status.
 */
public final class StatusManager implements PodStatusListener, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(StatusManager.class);
    public static final String MIRROR = "kubernetes.io/config.mirror";
    static final Duration INITIAL_RETRY = Duration.ofSeconds(1);
    static final Duration MAX_RETRY = Duration.ofMinutes(1);

    private final KubernetesClient api;
    private final PodStatusBuilder builder;
    private final PodStatusBuilder.Messages messages;
    private final Map<String, Entry> pods = new ConcurrentHashMap<>();
    private final ScheduledExecutorService writer;

    /** One pod's statuses: the newest built, the last written, and whether a write is due. */
    private static final class Entry {
        Pod pod;
        PodStatus built;
        PodStatus written;
        boolean queued;
        boolean gone;
        Duration retry = INITIAL_RETRY;
        /** The uid of a static pod's mirror pod once found. */
        String mirrorUid;
    }

    /** {@code api} null: standalone, nothing is written. */
    public StatusManager(KubernetesClient api, PodStatusBuilder builder, PodStatusBuilder.Messages messages) {
        this.api = api;
        this.builder = builder;
        this.messages = messages;
        this.writer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "pod-status-writer");
            t.setDaemon(true);
            return t;
        });
    }

    @Override
    public void synced(Pod pod, PodSnapshot snapshot) {
        String uid = pod.getMetadata().getUid();
        Entry e = pods.computeIfAbsent(uid, k -> new Entry());
        synchronized (e) {
            if (e.gone) {
                return;
            }
            PodStatus previous = e.built != null ? e.built : pod.getStatus();
            PodStatus status = builder.build(pod, previous, snapshot, messages);
            e.pod = pod;
            e.built = status;
            if (api == null || status.equals(e.written) || e.written == null && status.equals(pod.getStatus())) {
                return;
            }
            e.retry = INITIAL_RETRY;
            queue(uid, e, Duration.ZERO);
        }
    }

    @Override
    public void terminated(String uid) {
        Entry e = pods.remove(uid);
        if (e != null) {
            synchronized (e) {
                e.gone = true;
            }
        }
    }

    /** The newest status built for the pod with this uid, if any. */
    public Optional<PodStatus> status(String uid) {
        Entry e = pods.get(uid);
        if (e == null) {
            return Optional.empty();
        }
        synchronized (e) {
            return Optional.ofNullable(e.built);
        }
    }

    /** Under the entry's lock: a write of the pod's newest status after {@code delay}, unless one is due already. */
    private void queue(String uid, Entry e, Duration delay) {
        if (e.queued) {
            return;
        }
        e.queued = true;
        try {
            writer.schedule(() -> write(uid, e), delay.toMillis(), TimeUnit.MILLISECONDS);
        } catch (RejectedExecutionException closing) {
            e.queued = false;
        }
    }

    private void write(String uid, Entry e) {
        Pod pod;
        PodStatus status;
        String mirrorUid;
        synchronized (e) {
            e.queued = false;
            if (e.gone || e.built == null || e.built.equals(e.written)) {
                return;
            }
            pod = e.pod;
            status = e.built;
            mirrorUid = e.mirrorUid;
        }
        String name = pod.getMetadata().getNamespace() + "/" + pod.getMetadata().getName();
        try {
            String targetUid = uid;
            boolean isStatic = KubeletKeys.SOURCE_FILE.equals(KubeletKeys.source(pod));
            if (isStatic) {
                if (mirrorUid == null) {
                    mirrorUid = findMirror(pod);
                    if (mirrorUid == null) {
                        LOG.debug("static pod {}: no mirror pod yet; its status waits", name);
                        retryLater(uid, e);
                        return;
                    }
                    synchronized (e) {
                        e.mirrorUid = mirrorUid;
                    }
                }
                targetUid = mirrorUid;
            }
            Pod target = new Pod();
            ObjectMeta meta = new ObjectMeta();
            meta.setNamespace(pod.getMetadata().getNamespace());
            meta.setName(pod.getMetadata().getName());
            meta.setUid(targetUid);
            target.setMetadata(meta);
            target.setSpec(pod.getSpec());
            target.setStatus(status);
            api.pods().inNamespace(meta.getNamespace()).resource(target).updateStatus();
            synchronized (e) {
                e.written = status;
                e.retry = INITIAL_RETRY;
            }
            LOG.debug("pod {}: status written ({})", name, status.getPhase());
        } catch (KubernetesClientException ex) {
            if (ex.getCode() == 404 && !KubeletKeys.SOURCE_FILE.equals(KubeletKeys.source(pod))) {
                LOG.debug("pod {}: gone from the API; its status is not written", name);
                return;
            }
            if (ex.getCode() == 404 || ex.getCode() == 409 || ex.getCode() == 422) {
                synchronized (e) {
                    e.mirrorUid = null; // a mirror pod replaced meanwhile is looked up again
                }
            }
            LOG.warn("pod {}: writing its status failed ({}): {}", name, ex.getCode(), ex.getMessage());
            retryLater(uid, e);
        } catch (RuntimeException ex) {
            LOG.warn("pod {}: writing its status failed: {}", name, ex.toString());
            retryLater(uid, e);
        }
    }

    private void retryLater(String uid, Entry e) {
        synchronized (e) {
            Duration d = e.retry;
            e.retry = d.multipliedBy(2).compareTo(MAX_RETRY) > 0 ? MAX_RETRY : d.multipliedBy(2);
            queue(uid, e, d);
        }
    }

    /** The uid of the static pod's mirror pod in the API, or null when there is none. */
    private String findMirror(Pod pod) {
        Pod mirror = api.pods().inNamespace(pod.getMetadata().getNamespace()).withName(pod.getMetadata().getName()).get();
        if (mirror == null || mirror.getMetadata().getAnnotations() == null
                || !mirror.getMetadata().getAnnotations().containsKey(MIRROR)) {
            return null;
        }
        return mirror.getMetadata().getUid();
    }

    @Override
    public void close() {
        writer.shutdownNow();
    }
}
