package dev.berth.agent.status;

import dev.berth.agent.pod.KubeletKeys;
import dev.berth.common.DaemonThreads;
import dev.berth.common.Json;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodStatus;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.http.HttpClient;
import io.fabric8.kubernetes.client.http.HttpRequest;
import io.fabric8.kubernetes.client.http.HttpResponse;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeoutException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
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
 * <p>The write is one JSON patch (RFC 6902) of the status subresource, without a
 * resourceVersion (so it needs no read first and cannot conflict): it tests the pod's uid, so a
 * pod deleted and recreated under the same name is never written with another pod's status,
 * then sets each field of the status the agent owns (a field it no longer sets to null), and
 * leaves the others (a scheduler's nominatedNodeName, other owners' conditions, kept by the
 * builder) alone. (A merge patch would do on a real API server; the mock API server of the
 * tests appends lists in merge patches instead of replacing them.)
 */
public final class StatusManager implements PodStatusListener, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(StatusManager.class);
    public static final String MIRROR = "kubernetes.io/config.mirror";
    static final Duration INITIAL_RETRY = Duration.ofSeconds(1);
    static final Duration MAX_RETRY = Duration.ofMinutes(1);
    static final Duration WRITE_TIMEOUT = Duration.ofSeconds(30);

    private final KubernetesClient api;
    private final PodStatusBuilder builder;
    private final PodStatusBuilder.Messages messages;
    private final Map<String, Entry> pods = new ConcurrentHashMap<>();
    private final ScheduledExecutorService writer;
    private final java.time.Clock clock = java.time.Clock.systemUTC();

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
        /** Set when the agent evicted the pod: its reason and message (the status stays Failed with them). */
        String[] eviction;
    }

    /** {@code api} null: standalone, nothing is written. */
    public StatusManager(KubernetesClient api, PodStatusBuilder builder, PodStatusBuilder.Messages messages) {
        this.api = api;
        this.builder = builder;
        this.messages = messages;
        this.writer = DaemonThreads.scheduler("pod-status-writer");
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
            if (e.eviction != null) {
                status = PodStatusBuilder.evicted(status, e.eviction[0], e.eviction[1], clock.instant());
            }
            e.pod = pod;
            e.built = status;
            if (api == null || same(status, e.written) || e.written == null && same(status, pod.getStatus())) {
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
                if (e.eviction != null && e.built != null) {
                    // an evicted pod stays in the API, Failed: its containers' last states are written once more
                    e.built = PodStatusBuilder.stopped(e.built, clock.instant());
                    if (api != null) {
                        e.retry = INITIAL_RETRY;
                        queue(uid, e, Duration.ZERO);
                    }
                    return;
                }
                e.gone = true;
            }
        }
    }

    /**
     * The agent evicts {@code pod}: from now on its status is Failed with {@code reason} and
     * {@code message} and the DisruptionTarget condition ({@link PodStatusBuilder#evicted}),
     * written at once and kept through the pod's last passes and its stopping.
     */
    public void evicted(Pod pod, String reason, String message) {
        String uid = pod.getMetadata().getUid();
        Entry e = pods.computeIfAbsent(uid, k -> new Entry());
        synchronized (e) {
            if (e.gone) {
                return;
            }
            e.eviction = new String[] {reason, message};
            if (e.pod == null) {
                e.pod = pod;
            }
            e.built = PodStatusBuilder.evicted(e.built != null ? e.built : pod.getStatus(), reason, message, clock.instant());
            if (api != null) {
                e.retry = INITIAL_RETRY;
                queue(uid, e, Duration.ZERO);
            }
        }
    }

    /**
     * The agent refused to start {@code pod} (admission): its status is Failed with
     * {@code reason} and "Pod was rejected: " and {@code message} ({@link PodStatusBuilder#rejected}),
     * written at once, as the kubelet rejects a pod. No worker runs it, so nothing builds another.
     */
    public void rejected(Pod pod, String reason, String message) {
        String uid = pod.getMetadata().getUid();
        Entry e = pods.computeIfAbsent(uid, k -> new Entry());
        synchronized (e) {
            if (e.gone) {
                return;
            }
            e.pod = pod;
            e.built = PodStatusBuilder.rejected(pod, reason, "Pod was rejected: " + message, clock.instant());
            if (api != null) {
                e.retry = INITIAL_RETRY;
                queue(uid, e, Duration.ZERO);
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
            if (e.gone || e.built == null || same(e.built, e.written)) {
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
            patchStatus(pod.getMetadata().getNamespace(), pod.getMetadata().getName(), patch(targetUid, status, pod.getStatus() == null));
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

    /**
     * Sends one merge patch to the pod's status subresource. Through the client's own HTTP
     * client (its authentication and TLS): fabric8's patch operations read the pod first,
     * which would double the requests of every write.
     */
    private void patchStatus(String namespace, String name, String body) {
        HttpClient http = api.getHttpClient();
        String base = api.getMasterUrl().toString();
        String url = (base.endsWith("/") ? base : base + "/") + "api/v1/namespaces/" + namespace + "/pods/" + name + "/status";
        HttpRequest request = http.newHttpRequestBuilder().uri(url).method("PATCH", "application/json-patch+json", body).build();
        HttpResponse<String> response;
        try {
            response = http.sendAsync(request, String.class).get(WRITE_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new KubernetesClientException("interrupted", e);
        } catch (ExecutionException | TimeoutException e) {
            throw new KubernetesClientException("PATCH " + url + ": " + e, e);
        }
        if (!response.isSuccessful()) {
            String detail = response.body() == null ? "" : response.body();
            throw new KubernetesClientException("PATCH " + url + ": " + response.code() + " "
                    + detail.substring(0, Math.min(300, detail.length())), response.code(), null);
        }
    }

    /** The fields of a pod's status the agent writes: absent ones are sent as null, so a merge patch removes them. */
    static final List<String> OWNED_FIELDS = List.of("phase", "conditions", "hostIP", "hostIPs", "podIP", "podIPs", "startTime",
            "initContainerStatuses", "containerStatuses", "qosClass", "message", "reason");

    /**
     * The JSON patch writing {@code status} to the pod with {@code uid}; {@code noStatus}: the
     * pod as last seen had no status object at all (the API server always gives one; a bare
     * test object may not), which is then added first.
     */
    static String patch(String uid, PodStatus status, boolean noStatus) {
        @SuppressWarnings("unchecked")
        Map<String, Object> set = Json.mapper().convertValue(status, Map.class);
        List<Map<String, Object>> ops = new ArrayList<>();
        ops.add(op("test", "/metadata/uid", uid));
        if (noStatus) {
            ops.add(op("add", "/status", Map.of()));
        }
        for (String f : OWNED_FIELDS) {
            ops.add(op("add", "/status/" + f, set.get(f)));
        }
        return Json.write(ops);
    }

    private static Map<String, Object> op(String op, String path, Object value) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("op", op);
        m.put("path", path);
        m.put("value", value);
        return m;
    }

    /** Whether two statuses say the same in JSON (an empty list and none are the same). */
    static boolean same(PodStatus a, PodStatus b) {
        if (a == null || b == null) {
            return a == b;
        }
        return Json.mapper().valueToTree(a).equals(Json.mapper().valueToTree(b));
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

    /** Waits until the writes due now are done (for tests). */
    void flush() throws Exception {
        writer.submit(() -> {
        }).get();
    }

    @Override
    public void close() {
        writer.shutdownNow();
    }
}
