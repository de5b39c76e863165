package dev.berth.agent.eviction;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.agent.status.EventRecorder;
import dev.berth.agent.testing.MutableClock;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;

/** The eviction manager with made-up signals, pod stats and clock: thresholds, conditions, ranking and whom it spares. */
class EvictionManagerTest {
    private static final long MI = 1L << 20;
    private static final long GI = 1L << 30;

    private record Eviction(Pod pod, long grace, String message) {
    }

    private final MutableClock clock = new MutableClock(Instant.parse("2025-01-01T00:00:00Z"));
    private final Map<String, Observation> signals = new HashMap<>();
    private final Map<String, PodStats> stats = new HashMap<>();
    private final List<Pod> pods = new ArrayList<>();
    private final List<Eviction> evictions = new CopyOnWriteArrayList<>();
    private final List<String> events = new CopyOnWriteArrayList<>();
    /** Evicted pods are gone at once unless a test holds them. */
    private boolean podsGoAtOnce = true;

    private EvictionManager manager(Map<String, String> hard, EvictionSettings settings) {
        Evictor evictor = (pod, grace, message, onTerminated) -> {
            evictions.add(new Eviction(pod, grace, message));
            pods.removeIf(p -> p.getMetadata().getUid().equals(pod.getMetadata().getUid()));
            if (podsGoAtOnce) {
                onTerminated.run();
            }
        };
        EventRecorder recorder = (involved, type, reason, message) -> events.add(involved.getKind() + " " + type + " " + reason + ": " + message);
        return new EvictionManager(settings.thresholds(hard), settings, () -> Map.copyOf(signals), () -> Map.copyOf(stats),
                () -> List.copyOf(pods), evictor, recorder, "node-1", clock);
    }

    private EvictionManager hardMemory(String value) {
        return manager(Map.of("memory.available", value), EvictionSettings.defaults());
    }

    private static Pod pod(String name, String memoryRequest, Integer priority) {
        PodBuilder b = new PodBuilder().withNewMetadata().withName(name).withNamespace("default").withUid("uid-" + name).endMetadata()
                .withNewSpec().withPriority(priority).addNewContainer().withName("c").withImage("busybox")
                .withNewResources().endResources().endContainer().endSpec();
        Pod p = b.build();
        if (memoryRequest != null) {
            p.getSpec().getContainers().get(0).getResources().setRequests(Map.of("memory", new Quantity(memoryRequest)));
        }
        return p;
    }

    private void uses(Pod p, long memory) {
        String uid = p.getMetadata().getUid();
        stats.put(uid, new PodStats(uid, memory, Map.of("c", memory), 1, 0, Map.of(), 0));
    }

    private void memoryAvailable(long bytes) {
        signals.put("memory.available", new Observation(bytes, 8 * GI));
    }

    private String evicted(Optional<Pod> p) {
        return p.map(x -> x.getMetadata().getName()).orElse("none");
    }

    @Test
    void underAMemoryThresholdThePodAboveItsRequestGoesFirstThoughAnotherUsesMore() {
        EvictionManager m = hardMemory("100Mi");
        Pod big = pod("big", "512Mi", 0);
        Pod greedy = pod("greedy", "10Mi", 0);
        pods.addAll(List.of(big, greedy));
        uses(big, 400 * MI);
        uses(greedy, 20 * MI);
        memoryAvailable(500 * MI);
        assertEquals("none", evicted(m.synchronize()), "above the threshold");
        assertEquals(Set.of(), m.conditions());

        memoryAvailable(50 * MI);
        assertEquals("greedy", evicted(m.synchronize()));
        assertEquals(Set.of("MemoryPressure"), m.conditions());
        Eviction e = evictions.get(0);
        assertEquals(EvictionManager.IMMEDIATE_GRACE_SECONDS, e.grace(), "a hard threshold: at once");
        assertEquals("The node was low on resource: memory. Threshold quantity: 100Mi, available: 50Mi. "
                + "Container c was using 20Mi, request is 10Mi, has larger consumption of memory. ", e.message());
        assertTrue(events.contains("Node Warning EvictionThresholdMet: Attempting to reclaim memory"), events.toString());
    }

    @Test
    void amongPodsAboveTheirRequestsTheLowerPriorityGoesFirstThenTheLargerExcess() {
        Pod high = pod("high", "10Mi", 1000);
        Pod lowSmall = pod("low-small", "10Mi", 0);
        Pod lowLarge = pod("low-large", "10Mi", 0);
        Pod noRequest = pod("no-request", null, 1000);
        uses(high, 900 * MI);
        uses(lowSmall, 30 * MI);
        uses(lowLarge, 60 * MI);
        uses(noRequest, 1000 * MI);
        List<Pod> ranked = Ranking.rank("memory.available", List.of(high, noRequest, lowSmall, lowLarge), stats);
        assertEquals(List.of("low-large", "low-small", "no-request", "high"), ranked.stream().map(p -> p.getMetadata().getName()).toList());

        Pod unknown = pod("unknown", "10Mi", 5000);
        assertEquals("unknown", Ranking.rank("memory.available", List.of(high, unknown), stats).get(0).getMetadata().getName(),
                "a pod without stats goes first, as the kubelet ranks it");
    }

    @Test
    void processIdsRankByPriorityThenProcessCountAndDiskByStorageAboveRequest() {
        Pod few = pod("few", null, 0);
        Pod many = pod("many", null, 0);
        Pod important = pod("important", null, 100);
        stats.put("uid-few", new PodStats("uid-few", 0, Map.of(), 3, 10 * MI, Map.of(), 10));
        stats.put("uid-many", new PodStats("uid-many", 0, Map.of(), 300, 1 * MI, Map.of(), 5));
        stats.put("uid-important", new PodStats("uid-important", 0, Map.of(), 3000, 100 * MI, Map.of(), 50));
        assertEquals(List.of("many", "few", "important"),
                Ranking.rank("pid.available", List.of(important, few, many), stats).stream().map(p -> p.getMetadata().getName()).toList());
        assertEquals(List.of("few", "many", "important"),
                Ranking.rank("nodefs.available", List.of(important, many, few), stats).stream().map(p -> p.getMetadata().getName()).toList());
    }

    @Test
    void aSoftThresholdRaisesTheConditionAtOnceAndEvictsAfterItsGracePeriodWithTheCappedPodGrace() {
        EvictionSettings settings = new EvictionSettings(Map.of("memory.available", "1Gi"), Map.of("memory.available", Duration.ofSeconds(30)),
                10, Duration.ofMinutes(5), Map.of(), Duration.ofSeconds(10));
        EvictionManager m = manager(Map.of("memory.available", "100Mi"), settings);
        Pod p = pod("p", "10Mi", 0);
        p.getSpec().setTerminationGracePeriodSeconds(30L);
        pods.add(p);
        uses(p, 100 * MI);
        memoryAvailable(900 * MI);
        assertEquals("none", evicted(m.synchronize()));
        assertEquals(Set.of("MemoryPressure"), m.conditions(), "pressure from the soft threshold at once");
        clock.advance(Duration.ofSeconds(29));
        assertEquals("none", evicted(m.synchronize()), "within the grace period");
        clock.advance(Duration.ofSeconds(1));
        assertEquals("p", evicted(m.synchronize()));
        assertEquals(10, evictions.get(0).grace(), "the pod's 30 s capped at the maximum of 10 s");

        memoryAvailable(2 * GI);
        m.synchronize();
        Pod q = pod("q", "10Mi", 0);
        q.getSpec().setTerminationGracePeriodSeconds(5L);
        pods.add(q);
        uses(q, 100 * MI);
        memoryAvailable(900 * MI);
        m.synchronize();
        clock.advance(Duration.ofSeconds(10));
        assertEquals("none", evicted(m.synchronize()), "the grace period starts again once the signal cleared");
        clock.advance(Duration.ofSeconds(20));
        assertEquals("q", evicted(m.synchronize()));
        assertEquals(5, evictions.get(1).grace(), "its own when shorter");
    }

    @Test
    void aPressureConditionStaysForTheTransitionPeriodAfterTheSignalLastMetAThreshold() {
        EvictionManager m = hardMemory("100Mi");
        memoryAvailable(50 * MI);
        m.synchronize();
        assertEquals(Set.of("MemoryPressure"), m.conditions());
        clock.advance(Duration.ofSeconds(10));
        memoryAvailable(500 * MI);
        m.synchronize();
        assertEquals(Set.of("MemoryPressure"), m.conditions(), "held while within the transition period");
        clock.advance(Duration.ofMinutes(4).plusSeconds(49)); // 4m59s after it was last met
        m.synchronize();
        assertEquals(Set.of("MemoryPressure"), m.conditions());
        memoryAvailable(90 * MI); // met again: the period starts again
        m.synchronize();
        memoryAvailable(500 * MI);
        clock.advance(Duration.ofMinutes(4));
        m.synchronize();
        assertEquals(Set.of("MemoryPressure"), m.conditions());
        clock.advance(Duration.ofMinutes(1));
        m.synchronize();
        assertEquals(Set.of(), m.conditions(), "five minutes after it was last met");
    }

    @Test
    void diskAndPidSignalsRaiseTheirOwnConditions() {
        EvictionManager m = manager(Map.of("nodefs.available", "10%", "imagefs.inodesFree", "5%", "pid.available", "1k"),
                EvictionSettings.defaults());
        signals.put("nodefs.available", new Observation(50 * GI, 100 * GI));
        signals.put("imagefs.inodesFree", new Observation(4, 100));
        signals.put("pid.available", new Observation(500, 32768));
        m.synchronize();
        assertEquals(Set.of("DiskPressure", "PIDPressure"), m.conditions());
    }

    @Test
    void onceMetAThresholdStaysMetUntilItsMinimumReclaimIsReclaimed() {
        EvictionSettings settings = new EvictionSettings(Map.of(), Map.of(), 0, Duration.ofMinutes(5), Map.of("memory.available", "200Mi"),
                Duration.ofSeconds(10));
        EvictionManager m = manager(Map.of("memory.available", "100Mi"), settings);
        for (String n : List.of("a", "b", "c")) {
            Pod p = pod(n, "10Mi", 0);
            pods.add(p);
            uses(p, (n.charAt(0) - 'a' + 2) * 10 * MI);
        }
        memoryAvailable(90 * MI);
        assertEquals("c", evicted(m.synchronize()));
        memoryAvailable(250 * MI); // above the threshold, below threshold + minimum reclaim
        assertEquals("b", evicted(m.synchronize()));
        memoryAvailable(310 * MI);
        assertEquals("none", evicted(m.synchronize()), "reclaimed: 100Mi + 200Mi available");
        memoryAvailable(250 * MI);
        assertEquals("none", evicted(m.synchronize()), "not met anew: the minimum reclaim holds only for a threshold met before");
    }

    @Test
    void staticMirrorAndCriticalPodsAreNeverEvicted() {
        EvictionManager m = hardMemory("100Mi");
        Pod staticPod = pod("static", null, 0);
        staticPod.getMetadata().setAnnotations(Map.of("kubernetes.io/config.source", "file"));
        Pod mirror = pod("mirror", null, 0);
        mirror.getMetadata().setAnnotations(Map.of("kubernetes.io/config.mirror", "abc"));
        Pod critical = pod("critical", null, 2_000_000_000);
        Pod nodeCritical = pod("node-critical", null, 2_000_001_000);
        pods.addAll(List.of(staticPod, mirror, critical, nodeCritical));
        pods.forEach(p -> uses(p, GI));
        memoryAvailable(10 * MI);
        assertEquals("none", evicted(m.synchronize()));
        assertEquals(Set.of("MemoryPressure"), m.conditions());

        Pod plain = pod("plain", "1Gi", 1_999_999_999);
        uses(plain, MI);
        pods.add(plain);
        assertEquals("plain", evicted(m.synchronize()), "the only pod that may go, though it uses least");
    }

    @Test
    void noSecondPodIsEvictedWhileTheFirstIsStillBeingStopped() {
        podsGoAtOnce = false;
        EvictionManager m = hardMemory("100Mi");
        Pod a = pod("a", "10Mi", 0);
        Pod b = pod("b", "10Mi", 0);
        pods.addAll(List.of(a, b));
        uses(a, 50 * MI);
        uses(b, 40 * MI);
        memoryAvailable(50 * MI);
        assertEquals("a", evicted(m.synchronize()));
        clock.advance(Duration.ofSeconds(10));
        assertEquals("none", evicted(m.synchronize()), "a is not gone yet");
        clock.advance(EvictionManager.CLEANUP_TIMEOUT);
        assertEquals("b", evicted(m.synchronize()), "after the cleanup timeout the manager goes on");
    }

    @Test
    void settingsFollowTheKubeletsRules() {
        EvictionSettings s = EvictionSettings.defaults();
        assertEquals(List.of("memory.available"),
                s.thresholds(Map.of("memory.available", "100Mi", "nodefs.available", "0%", "imagefs.available", "100%")).stream()
                        .map(Threshold::signal).toList(), "0% and 100% are left out");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new EvictionSettings(
                Map.of("memory.available", "1Gi"), Map.of(), 0, Duration.ofMinutes(5), Map.of(), Duration.ofSeconds(10)));
        assertTrue(e.getMessage().startsWith("eviction_soft_grace_period:"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new EvictionSettings(
                Map.of(), Map.of(), 0, Duration.ofMinutes(5), Map.of("memory.free", "1Gi"), Duration.ofSeconds(10)));
        assertTrue(e.getMessage().startsWith("eviction_minimum_reclaim:"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> s.thresholds(Map.of("memory.available", "0")));
        assertTrue(e.getMessage().contains("must be positive"), e.getMessage());
        assertTrue(s.thresholds(Map.of("memory.available", "100Mi")).get(0).hard());
    }
}
