package dev.berth.agent.status;

import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.EventSource;
import io.fabric8.kubernetes.api.model.ObjectMeta;
import io.fabric8.kubernetes.api.model.ObjectReference;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Events posted to the API server as core/v1 Events (source component {@value #COMPONENT} on
 * this node), on a thread of their own behind a bounded queue, so recording never waits for
 * the API server (a full queue drops the event). As the kubelet's event correlator does, an
 * event repeating one posted within {@link #AGGREGATION_WINDOW} (same object, field path,
 * type, reason and message) increments that Event's count instead of making a new object,
 * and each involved object has a token bucket ({@value #BURST} events, then one per
 * {@link #REFILL}), so a crash-looping pod cannot flood the API server.
 */
public final class ApiEventRecorder implements EventRecorder, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ApiEventRecorder.class);
    public static final String COMPONENT = "berth-agent";
    static final Duration AGGREGATION_WINDOW = Duration.ofMinutes(10);
    static final int BURST = 25;
    static final Duration REFILL = Duration.ofMinutes(5);
    static final int QUEUE = 1000;
    /** How many distinct events (and objects) are remembered for aggregation and rate limits. */
    static final int REMEMBERED = 4096;

    private final KubernetesClient api;
    private final String node;
    private final Clock clock;
    /** Pending events, and latches of {@link #flush} calls. */
    private final BlockingQueue<Object> queue = new ArrayBlockingQueue<>(QUEUE);
    private final Thread thread;
    private volatile boolean closed;
    /** Events posted, by their key, eldest first: what a repeat updates. Used by the posting thread only. */
    private final Map<List<String>, Posted> posted = new LinkedHashMap<>(16, 0.75f, true);
    /** Token buckets by involved object. Used by the recording threads, under its lock. */
    private final Map<String, Bucket> buckets = new LinkedHashMap<>(16, 0.75f, true);
    /** The time in the name of the last Event made (posting thread only). */
    private long lastNanos;

    private record Pending(ObjectReference involved, String type, String reason, String message, Instant at) {
    }

    private static final class Posted {
        String name;
        String namespace;
        int count;
        Instant last;
    }

    private static final class Bucket {
        double tokens = BURST;
        Instant refilled;
    }

    public ApiEventRecorder(KubernetesClient api, String node, Clock clock) {
        this.api = api;
        this.node = node;
        this.clock = clock;
        this.thread = new Thread(this::run, "agent-events");
        this.thread.setDaemon(true);
        this.thread.start();
    }

    @Override
    public void event(ObjectReference involved, String type, String reason, String message) {
        if (closed) {
            return;
        }
        Instant now = clock.instant();
        if (!take(involved, now)) {
            LOG.debug("event {} of {}/{} dropped: too many for this object", reason, involved.getNamespace(), involved.getName());
            return;
        }
        if (!queue.offer(new Pending(involved, type, reason, message, now))) {
            LOG.debug("event {} of {}/{} dropped: the queue is full", reason, involved.getNamespace(), involved.getName());
        }
    }

    /** Takes a token of the object's bucket, refilled at one per {@link #REFILL} up to {@link #BURST}. */
    private synchronized boolean take(ObjectReference o, Instant now) {
        String key = o.getUid() != null ? o.getUid() : o.getKind() + "/" + o.getNamespace() + "/" + o.getName();
        Bucket b = buckets.computeIfAbsent(key, k -> new Bucket());
        if (b.refilled != null) {
            double earned = (double) Duration.between(b.refilled, now).toMillis() / REFILL.toMillis();
            b.tokens = Math.min(BURST, b.tokens + Math.max(0, earned));
        }
        b.refilled = now;
        trim(buckets);
        if (b.tokens < 1) {
            return false;
        }
        b.tokens -= 1;
        return true;
    }

    private static void trim(Map<?, ?> lru) {
        Iterator<?> it = lru.keySet().iterator();
        while (lru.size() > REMEMBERED && it.hasNext()) {
            it.next();
            it.remove();
        }
    }

    private void run() {
        while (!closed) {
            Object next;
            try {
                next = queue.poll(1, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                return;
            }
            if (next instanceof java.util.concurrent.CountDownLatch flushed) {
                flushed.countDown();
                continue;
            }
            if (!(next instanceof Pending p)) {
                continue;
            }
            try {
                post(p);
            } catch (KubernetesClientException e) {
                LOG.debug("event {} of {}/{} not posted ({}): {}", p.reason(), p.involved().getNamespace(), p.involved().getName(),
                        e.getCode(), e.getMessage());
            } catch (RuntimeException e) {
                LOG.debug("event {} of {}/{} not posted: {}", p.reason(), p.involved().getNamespace(), p.involved().getName(), e.toString());
            }
        }
    }

    private void post(Pending p) {
        ObjectReference o = p.involved();
        String namespace = o.getNamespace() == null || o.getNamespace().isEmpty() ? "default" : o.getNamespace();
        List<String> key = List.of(String.valueOf(o.getUid()), namespace, String.valueOf(o.getName()), Objects.toString(o.getFieldPath(), ""),
                p.type(), p.reason(), Objects.toString(p.message(), ""));
        String at = PodStatusBuilder.time(p.at());
        Posted before = posted.get(key);
        if (before != null && Duration.between(before.last, p.at()).compareTo(AGGREGATION_WINDOW) < 0) {
            try {
                String patch = "{\"count\":" + (before.count + 1) + ",\"lastTimestamp\":\"" + at + "\"}";
                api.v1().events().inNamespace(before.namespace).withName(before.name).patch(PatchContext.of(PatchType.JSON_MERGE), patch);
                before.count++;
                before.last = p.at();
                return;
            } catch (KubernetesClientException e) {
                if (e.getCode() != 404) {
                    throw e;
                }
                posted.remove(key); // expired meanwhile: posted anew
            }
        }
        Event ev = new Event();
        ObjectMeta meta = new ObjectMeta();
        // unique names: two events of one instant (a coarse clock) are one nanosecond apart
        long nanos = Math.max(p.at().getEpochSecond() * 1_000_000_000L + p.at().getNano(), lastNanos + 1);
        lastNanos = nanos;
        meta.setName(o.getName() + "." + Long.toHexString(nanos));
        meta.setNamespace(namespace);
        ev.setMetadata(meta);
        ev.setInvolvedObject(o);
        ev.setType(p.type());
        ev.setReason(p.reason());
        ev.setMessage(p.message());
        ev.setSource(new EventSource(COMPONENT, node));
        ev.setReportingComponent(COMPONENT);
        ev.setReportingInstance(node);
        ev.setCount(1);
        ev.setFirstTimestamp(at);
        ev.setLastTimestamp(at);
        api.v1().events().inNamespace(namespace).resource(ev).create();
        Posted posted1 = new Posted();
        posted1.name = meta.getName();
        posted1.namespace = namespace;
        posted1.count = 1;
        posted1.last = p.at();
        posted.put(key, posted1);
        trim(posted);
    }

    /** Waits until the events recorded so far are posted or dropped (for tests). */
    void flush() throws InterruptedException {
        java.util.concurrent.CountDownLatch done = new java.util.concurrent.CountDownLatch(1);
        queue.put(done);
        done.await();
    }

    /** Stops posting; events still queued are dropped. */
    @Override
    public void close() {
        closed = true;
        thread.interrupt();
    }
}
