package dev.berth.agent.pod;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.agent.cri.CriClient;
import dev.berth.agent.status.PodStatusBuilder;
import dev.berth.agent.status.StatusManager;
import dev.berth.agent.testing.FakeCri;
import io.fabric8.kubernetes.api.model.Pod;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An evicted pod is stopped and removed and never started again, whatever its source says after;
 * the others run on. New pods start only when the admitter admits them; a refused uid never
 * starts, and a running pod is never asked again.
 */
class PodWorkersEvictTest {
    @TempDir
    Path dir;

    FakeCri cri;
    PodWorkers workers;
    StatusManager status;
    /** The pod names the admitter refuses now (none: every pod is admitted). */
    final Set<String> refuse = ConcurrentHashMap.newKeySet();
    final List<String> asked = new java.util.concurrent.CopyOnWriteArrayList<>();

    @BeforeEach
    void start() throws Exception {
        cri = new FakeCri();
        cri.images.add("img:1");
        CriClient client = new CriClient(cri.channel(), Duration.ofSeconds(30), Duration.ofSeconds(30));
        status = new StatusManager(null, new PodStatusBuilder(() -> "fake", List::of, Clock.systemUTC()), PodStatusBuilder.Messages.NONE);
        workers = new PodWorkers(new PodSync(client, new PodTranslation(new NodeFacts(1L << 30, List.of(), List.of(), List.of()),
                dir.resolve("logs"))), status).withAdmitter(pod -> {
                    asked.add(pod.getMetadata().getName());
                    return !refuse.contains(pod.getMetadata().getName());
                });
    }

    @AfterEach
    void stop() {
        workers.close();
        status.close();
        cri.close();
    }

    private long sandboxesOf(String uid) {
        return cri.sandboxes.values().stream().filter(s -> s.getMetadata().getUid().equals(uid)).count();
    }

    @Test
    void anEvictedPodIsNeverStartedAgainAndLeavesTheActivePods() throws Exception {
        Pod a = PodWorkersStatusTest.pod("a", "Always", "img:1", "IfNotPresent", "sleep");
        Pod b = PodWorkersStatusTest.pod("b", "Always", "img:1", "IfNotPresent", "sleep");
        workers.update(a);
        workers.update(b);
        PodWorkersStatusTest.await("both running", () -> status.status("uid-a").map(s -> "Running".equals(s.getPhase())).orElse(false)
                && status.status("uid-b").map(s -> "Running".equals(s.getPhase())).orElse(false));
        assertEquals(List.of("a", "b"), workers.activePods().stream().map(p -> p.getMetadata().getName()).sorted().toList());

        status.evicted(a, "Evicted", "The node was low on resource: memory. ");
        CountDownLatch gone = new CountDownLatch(1);
        workers.evict("uid-a", 1, gone::countDown);
        assertTrue(gone.await(30, TimeUnit.SECONDS));
        assertEquals(0, sandboxesOf("uid-a"));
        assertEquals(List.of("b"), workers.activePods().stream().map(p -> p.getMetadata().getName()).toList());

        workers.update(a); // a source that has not seen the Failed status yet (an informer's resync)
        Thread.sleep(300);
        assertEquals(0, sandboxesOf("uid-a"), "an evicted pod is never started again");
        assertEquals(1, sandboxesOf("uid-b"));
    }

    @Test
    void aRefusedPodNeverStartsAndARunningOneIsNeverAskedAgain() throws Exception {
        Pod a = PodWorkersStatusTest.pod("a", "Always", "img:1", "IfNotPresent", "sleep");
        Pod b = PodWorkersStatusTest.pod("b", "Always", "img:1", "IfNotPresent", "sleep");
        refuse.add("a");
        workers.update(a);
        workers.update(b);
        PodWorkersStatusTest.await("b running", () -> status.status("uid-b").map(s -> "Running".equals(s.getPhase())).orElse(false));
        assertEquals(Set.of("uid-b"), workers.uids(), "the refused pod has no worker");
        assertEquals(0, sandboxesOf("uid-a"));

        refuse.clear(); // the pressure is gone: the refused pod stays Failed, never started
        refuse.add("b"); // and pressure now would not stop a running pod
        workers.update(a);
        workers.update(PodWorkersStatusTest.pod("b", "Always", "img:1", "IfNotPresent", "sleep 2"));
        Thread.sleep(300);
        assertEquals(0, sandboxesOf("uid-a"), "a refused pod is never started");
        assertEquals(List.of("a", "b"), asked, "each new pod is asked once, when it comes");
        assertEquals(Set.of("uid-b"), workers.uids());
        assertEquals(1, sandboxesOf("uid-b"));
    }
}
