package dev.berth.agent.eviction;

import dev.berth.agent.node.NodeStatusMaker;
import dev.berth.agent.pod.KubeletKeys;
import dev.berth.agent.pod.PodTranslation;
import dev.berth.agent.status.EventRecorder;
import dev.berth.common.DaemonThreads;
import io.fabric8.kubernetes.api.model.ObjectReference;
import io.fabric8.kubernetes.api.model.Pod;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Node pressure and eviction, as the kubelet's eviction manager does them. Every housekeeping
 * interval ({@link #synchronize}) it measures the signals, finds the thresholds met (a
 * threshold met before stays met until its minimum reclaim is reclaimed too), and from them
 * the pressure conditions, each held True for the pressure transition period after its
 * signal last met a threshold, so a node near a threshold does not flap. Once a threshold
 * has been met for its grace period (at once for a hard one) it evicts one pod, ranked for
 * the starved resource (memory first when several starve), and evicts no other until that
 * one is gone (or 30 s passed): freeing one pod's memory may be all it takes. Static pods,
 * mirror pods and critical pods (priority of system-cluster-critical and above) are never
 * evicted. Pods evicted for a hard threshold get one second to stop; for a soft threshold
 * their own grace period, at most the configured maximum.
 */
public final class EvictionManager implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(EvictionManager.class);
    /** The kubelet's grace period for pods evicted for a hard threshold. */
    static final long IMMEDIATE_GRACE_SECONDS = 1;
    /** How long the manager waits for an evicted pod to be gone before it may evict another. */
    static final Duration CLEANUP_TIMEOUT = Duration.ofSeconds(30);
    /** Pods of this priority and above are critical (system-cluster-critical is 2000000000). */
    public static final int CRITICAL_PRIORITY = 2_000_000_000;
    public static final String REASON = "Evicted";

    private final List<Threshold> thresholds;
    private final EvictionSettings settings;
    private final NodeSignals signals;
    private final PodUsage usage;
    private final Supplier<List<Pod>> activePods;
    private final Evictor evictor;
    private final EventRecorder events;
    private final ObjectReference nodeRef;
    private final Clock clock;
    private ScheduledExecutorService thread;

    // under this object's lock
    private Map<Threshold, Instant> firstObservedAt = Map.of();
    private Map<String, Instant> conditionLastObservedAt = Map.of();
    private List<Threshold> thresholdsMet = List.of();
    private Map<String, Observation> lastObservations = Map.of();
    private String awaiting;
    private Instant awaitingUntil;
    private volatile boolean awaitedGone;
    private volatile Set<String> conditions = Set.of();

    /**
     * @param thresholds every hard and soft threshold ({@link EvictionSettings#thresholds})
     * @param activePods the pods the agent runs now (not those being stopped)
     * @param nodeName the node, for the events about it
     */
    public EvictionManager(List<Threshold> thresholds, EvictionSettings settings, NodeSignals signals, PodUsage usage,
                           Supplier<List<Pod>> activePods, Evictor evictor, EventRecorder events, String nodeName, Clock clock) {
        this.thresholds = List.copyOf(thresholds);
        this.settings = settings;
        this.signals = signals;
        this.usage = usage;
        this.activePods = activePods;
        this.evictor = evictor;
        this.events = events;
        this.clock = clock;
        ObjectReference ref = new ObjectReference();
        ref.setKind("Node");
        ref.setName(nodeName);
        ref.setUid(nodeName); // as the kubelet refers to its node
        this.nodeRef = ref;
    }

    /** Runs {@link #synchronize} every housekeeping interval on a thread of its own. */
    public EvictionManager start() {
        thread = DaemonThreads.scheduler("eviction-manager");
        long every = settings.housekeepingInterval().toMillis();
        thread.scheduleWithFixedDelay(() -> {
            try {
                synchronize();
            } catch (RuntimeException e) {
                LOG.warn("eviction manager: housekeeping failed: {}", e.toString());
            }
        }, 0, every, TimeUnit.MILLISECONDS);
        return this;
    }

    /** The pressure conditions that are True now (MemoryPressure, DiskPressure, PIDPressure). */
    public Set<String> conditions() {
        return conditions;
    }

    /** The signals as last measured. */
    public synchronized Map<String, Observation> observations() {
        return lastObservations;
    }

    /** One housekeeping pass; the pod evicted, if any. */
    public synchronized Optional<Pod> synchronize() {
        Instant now = clock.instant();
        Map<String, Observation> observed = signals.observe();
        List<Threshold> met = new ArrayList<>();
        for (Threshold t : thresholds) {
            Observation o = observed.get(t.signal());
            if (o != null && t.met(o, false)) {
                met.add(t);
            }
        }
        for (Threshold t : thresholdsMet) {
            Observation o = observed.get(t.signal());
            if (o != null && !met.contains(t) && t.met(o, true)) {
                met.add(t); // met before, and its minimum reclaim is not reclaimed yet
            }
        }
        Map<Threshold, Instant> first = new LinkedHashMap<>();
        for (Threshold t : met) {
            first.put(t, firstObservedAt.getOrDefault(t, now));
        }
        Map<String, Instant> lastSeen = new HashMap<>(conditionLastObservedAt);
        met.forEach(t -> lastSeen.put(Signals.CONDITION.get(t.signal()), now));
        Set<String> pressure = new LinkedHashSet<>();
        for (String c : List.of(NodeStatusMaker.MEMORY_PRESSURE, NodeStatusMaker.DISK_PRESSURE, NodeStatusMaker.PID_PRESSURE)) {
            Instant at = lastSeen.get(c);
            if (at != null && Duration.between(at, now).compareTo(settings.pressureTransitionPeriod()) < 0) {
                pressure.add(c);
            }
        }
        lastSeen.keySet().retainAll(pressure);
        List<Threshold> due = new ArrayList<>();
        first.forEach((t, at) -> {
            if (Duration.between(at, now).compareTo(t.gracePeriod()) >= 0) {
                due.add(t);
            }
        });
        if (!pressure.equals(conditions)) {
            LOG.info("eviction manager: node conditions now {}", pressure.isEmpty() ? "without pressure" : pressure);
        }
        conditions = Set.copyOf(pressure);
        firstObservedAt = first;
        conditionLastObservedAt = lastSeen;
        thresholdsMet = List.copyOf(due);
        lastObservations = Map.copyOf(observed);

        if (awaiting != null) {
            if (!awaitedGone && now.isBefore(awaitingUntil)) {
                return Optional.empty(); // the pod evicted last is still being stopped
            }
            if (!awaitedGone) {
                LOG.info("eviction manager: pod {} is not gone after {}; going on", awaiting, CLEANUP_TIMEOUT);
            }
            awaiting = null;
        }
        if (due.isEmpty()) {
            return Optional.empty();
        }
        // memory first, as the kubelet reclaims it before everything else
        due.sort(Comparator.comparingInt(t -> t.signal().equals(Signals.MEMORY_AVAILABLE) ? 0 : 1));
        Threshold threshold = due.get(0);
        String resource = Signals.RESOURCE.get(threshold.signal());
        LOG.info("eviction manager: attempting to reclaim {} ({} {} threshold met)", resource, threshold.signal(),
                threshold.hard() ? "hard" : "soft");
        events.event(nodeRef, EventRecorder.WARNING, "EvictionThresholdMet", "Attempting to reclaim " + resource);
        List<Pod> candidates = activePods.get().stream().filter(p -> !critical(p)).toList();
        if (candidates.isEmpty()) {
            LOG.warn("eviction manager: {} is low, and no pod may be evicted", resource);
            return Optional.empty();
        }
        Map<String, PodStats> stats = usage.pods();
        Pod pod = Ranking.rank(threshold.signal(), candidates, stats).get(0);
        long grace = threshold.hard() ? IMMEDIATE_GRACE_SECONDS : softGrace(pod);
        String message = EvictionMessage.of(threshold, observed.get(threshold.signal()), pod, stats.get(pod.getMetadata().getUid()));
        LOG.info("eviction manager: evicting pod {}/{} (grace {} s, {} after the threshold was first met): {}",
                pod.getMetadata().getNamespace(), pod.getMetadata().getName(), grace,
                Duration.between(first.get(threshold), now), message);
        awaiting = pod.getMetadata().getUid();
        awaitingUntil = now.plus(CLEANUP_TIMEOUT);
        awaitedGone = false;
        String uid = awaiting;
        evictor.evict(pod, grace, message, () -> gone(uid));
        return Optional.of(pod);
    }

    private void gone(String uid) {
        if (uid.equals(awaiting)) {
            awaitedGone = true;
        }
    }

    /** The grace period of a pod evicted for a soft threshold: its own, at most the maximum (when that is not negative), at least 1 s. */
    long softGrace(Pod pod) {
        long own = PodTranslation.gracePeriodSeconds(pod);
        long max = settings.maxPodGracePeriodSeconds();
        long g = max < 0 ? own : Math.min(own, max);
        return Math.max(IMMEDIATE_GRACE_SECONDS, g);
    }

    /** Static and mirror pods and pods of critical priority: never evicted, as the kubelet never evicts them. */
    public static boolean critical(Pod pod) {
        if (KubeletKeys.SOURCE_FILE.equals(KubeletKeys.source(pod))) {
            return true;
        }
        Map<String, String> a = pod.getMetadata().getAnnotations();
        if (a != null && a.containsKey("kubernetes.io/config.mirror")) {
            return true;
        }
        return Ranking.priority(pod) >= CRITICAL_PRIORITY;
    }

    @Override
    public void close() {
        if (thread != null) {
            thread.shutdownNow();
        }
    }
}
