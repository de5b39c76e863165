package dev.berth.agent.pod;

import dev.berth.agent.cri.CriClient;
import dev.berth.common.DaemonThreads;
import dev.berth.cri.v1.ContainerEventResponse;
import dev.berth.cri.v1.ContainerStatus;
import dev.berth.cri.v1.PodSandbox;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The pod lifecycle event generator: notices what changes in the runtime (a container that
 * exits, a sandbox that dies) and has the pod's worker look at once ({@link PodWorkers#resync}),
 * so an exit is reported and its restart policy applied without polling every pod. Two
 * sources, as the kubelet's evented and generic PLEGs: the runtime's GetContainerEvents stream
 * (each event names its pod), re-subscribed with back-off (1 s doubling to 30 s) when it
 * breaks; and a relist (ListPodSandbox + ListContainers of every pod the agent knows by the
 * kubelet's pod uid label, compared with the previous relist) every {@link #RELIST_WITH_EVENTS}
 * while the stream is open, every {@link #RELIST_WITHOUT_EVENTS} while it is broken or the
 * runtime answers UNIMPLEMENTED, and at once after a re-subscription (events may have been
 * missed in between).
 */
public final class Pleg implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Pleg.class);
    static final Duration RELIST_WITH_EVENTS = Duration.ofSeconds(10);
    static final Duration RELIST_WITHOUT_EVENTS = Duration.ofSeconds(1);
    static final Duration RESUBSCRIBE_INITIAL = Duration.ofSeconds(1);
    static final Duration RESUBSCRIBE_MAX = Duration.ofSeconds(30);

    private final CriClient cri;
    private final PodWorkers workers;
    private final Duration relistWithEvents;
    private final Duration relistWithoutEvents;
    private final ScheduledExecutorService scheduler;
    private volatile boolean closed;
    /** A subscription is open (and has not failed). */
    private volatile boolean streaming;
    private volatile boolean unimplemented;
    private AutoCloseable subscription;
    private Duration resubscribe = RESUBSCRIBE_INITIAL;
    private ScheduledFuture<?> nextRelist;
    /** What the previous relist saw, by sandbox or container id; null before the first. Used on the scheduler thread only. */
    private Map<String, Seen> previous;
    /** Container and sandbox ids to pod uids, from the relists, for events that do not name their pod. */
    private volatile Map<String, String> podOf = Map.of();
    /** How many relists ran (for tests). */
    private volatile int relists;

    private record Seen(String uid, String state) {
    }

    public Pleg(CriClient cri, PodWorkers workers) {
        this(cri, workers, RELIST_WITH_EVENTS, RELIST_WITHOUT_EVENTS);
    }

    Pleg(CriClient cri, PodWorkers workers, Duration relistWithEvents, Duration relistWithoutEvents) {
        this.cri = cri;
        this.workers = workers;
        this.relistWithEvents = relistWithEvents;
        this.relistWithoutEvents = relistWithoutEvents;
        this.scheduler = DaemonThreads.scheduler("pleg");
    }

    /** Subscribes to the runtime's events and starts relisting. */
    public void start() {
        workers.plegAttached(true);
        subscribe();
        relistSoon(Duration.ZERO);
    }

    /** Whether the runtime's event stream is open (false: relisting every {@link #RELIST_WITHOUT_EVENTS} only). */
    public boolean streaming() {
        return streaming;
    }

    private synchronized void subscribe() {
        if (closed) {
            return;
        }
        streaming = true;
        try {
            subscription = cri.containerEvents(new StreamObserver<>() {
                @Override
                public void onNext(ContainerEventResponse event) {
                    synchronized (Pleg.this) {
                        resubscribe = RESUBSCRIBE_INITIAL;
                    }
                    String uid = podOf(event);
                    if (uid != null) {
                        workers.resync(uid);
                    } else {
                        relistSoon(Duration.ZERO);
                    }
                }

                @Override
                public void onError(Throwable t) {
                    ended(Status.fromThrowable(t));
                }

                @Override
                public void onCompleted() {
                    ended(Status.UNAVAILABLE.withDescription("the runtime ended the event stream"));
                }
            });
        } catch (RuntimeException e) {
            ended(Status.fromThrowable(e));
        }
    }

    private void ended(Status status) {
        streaming = false;
        if (closed) {
            return;
        }
        if (status.getCode() == Status.Code.UNIMPLEMENTED) {
            unimplemented = true;
            LOG.info("the runtime has no container events (GetContainerEvents: UNIMPLEMENTED); relisting every {}", relistWithoutEvents);
            relistSoon(relistWithoutEvents);
            return;
        }
        Duration delay;
        synchronized (this) {
            delay = resubscribe;
            resubscribe = resubscribe.multipliedBy(2).compareTo(RESUBSCRIBE_MAX) > 0 ? RESUBSCRIBE_MAX : resubscribe.multipliedBy(2);
        }
        LOG.warn("the runtime's container event stream ended ({}); subscribing again in {}", status, delay);
        relistSoon(Duration.ZERO);
        try {
            scheduler.schedule(() -> {
                subscribe();
                relistSoon(Duration.ZERO); // what happened before the new subscription
            }, delay.toMillis(), TimeUnit.MILLISECONDS);
        } catch (RejectedExecutionException e) {
            // closing
        }
    }

    /** The uid of the pod an event is about: from its sandbox status, its containers' labels, or the last relist. */
    private String podOf(ContainerEventResponse event) {
        if (event.hasPodSandboxStatus()) {
            String uid = event.getPodSandboxStatus().getMetadata().getUid();
            if (!uid.isEmpty()) {
                return uid;
            }
            uid = event.getPodSandboxStatus().getLabelsOrDefault(KubeletKeys.POD_UID, "");
            if (!uid.isEmpty()) {
                return uid;
            }
        }
        for (ContainerStatus c : event.getContainersStatusesList()) {
            String uid = c.getLabelsOrDefault(KubeletKeys.POD_UID, "");
            if (!uid.isEmpty()) {
                return uid;
            }
        }
        return podOf.get(event.getContainerId());
    }

    /** Runs a relist after {@code delay} instead of at its regular time, if that is sooner. */
    private synchronized void relistSoon(Duration delay) {
        if (closed) {
            return;
        }
        if (nextRelist != null) {
            if (nextRelist.getDelay(TimeUnit.MILLISECONDS) <= delay.toMillis()) {
                return;
            }
            nextRelist.cancel(false);
        }
        try {
            nextRelist = scheduler.schedule(this::relistAndReschedule, delay.toMillis(), TimeUnit.MILLISECONDS);
        } catch (RejectedExecutionException e) {
            // closing
        }
    }

    private void relistAndReschedule() {
        synchronized (this) {
            nextRelist = null;
        }
        try {
            relist();
        } catch (RuntimeException e) {
            LOG.warn("relisting the runtime's pods failed: {}", e.toString());
        }
        relistSoon(streaming && !unimplemented ? relistWithEvents : relistWithoutEvents);
    }

    /** Lists the runtime's sandboxes and containers and resyncs every pod whose part of the list changed. */
    void relist() {
        Map<String, Seen> now = new HashMap<>();
        for (PodSandbox s : cri.listPodSandboxes(Map.of())) {
            String uid = s.getLabelsOrDefault(KubeletKeys.POD_UID, "");
            if (!uid.isEmpty()) {
                now.put(s.getId(), new Seen(uid, s.getState().name()));
            }
        }
        for (dev.berth.cri.v1.Container c : cri.listAllContainers()) {
            String uid = c.getLabelsOrDefault(KubeletKeys.POD_UID, "");
            if (!uid.isEmpty()) {
                now.put(c.getId(), new Seen(uid, c.getState().name()));
            }
        }
        Map<String, String> ids = new HashMap<>();
        now.forEach((id, seen) -> ids.put(id, seen.uid()));
        Set<String> changed = new HashSet<>();
        if (previous != null) {
            Set<String> all = new HashSet<>(previous.keySet());
            all.addAll(now.keySet());
            for (String id : all) {
                Seen before = previous.get(id);
                Seen after = now.get(id);
                if (!Objects.equals(before, after)) {
                    changed.add(after != null ? after.uid() : before.uid());
                }
            }
        }
        previous = now;
        podOf = ids;
        relists++;
        for (String uid : changed) {
            workers.resync(uid);
        }
    }

    int relists() {
        return relists;
    }

    @Override
    public void close() {
        AutoCloseable s;
        synchronized (this) {
            closed = true;
            s = subscription;
        }
        workers.plegAttached(false);
        scheduler.shutdownNow();
        if (s != null) {
            try {
                s.close();
            } catch (Exception e) {
                // closing anyway
            }
        }
    }
}
