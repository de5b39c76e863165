package dev.berth.agent.pod;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.agent.cri.CriClient;
import dev.berth.agent.status.PodSnapshot;
import dev.berth.agent.status.PodStatusListener;
import dev.berth.agent.testing.FakeCri;
import dev.berth.cri.v1.ContainerState;
import dev.berth.cri.v1.ContainerStatus;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.grpc.Status;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The PLEG against the fake runtime: events and relists bring the right pod's worker to look. */
class PlegTest {
    @TempDir
    Path dir;

    FakeCri cri;
    CriClient client;
    PodWorkers workers;
    Pleg pleg;
    final Map<String, Integer> passes = new ConcurrentHashMap<>();

    @BeforeEach
    void start() throws Exception {
        cri = new FakeCri();
        cri.images.add("img:1");
        client = new CriClient(cri.channel(), Duration.ofSeconds(30), Duration.ofSeconds(30));
        workers = new PodWorkers(new PodSync(client, new PodTranslation(new NodeFacts(1L << 30, List.of(), List.of(), List.of()),
                dir.resolve("logs"))), new PodStatusListener() {
                    @Override
                    public void synced(Pod pod, PodSnapshot snapshot) {
                        passes.merge(pod.getMetadata().getUid(), 1, Integer::sum);
                    }
                });
    }

    @AfterEach
    void stop() {
        if (pleg != null) {
            pleg.close();
        }
        workers.close();
        cri.close();
    }

    static Pod pod(String name) {
        return new PodBuilder().withNewMetadata().withName(name).withNamespace("ns").withUid("uid-" + name).endMetadata()
                .withNewSpec().withRestartPolicy("Always").addNewContainer().withName("app").withImage("img:1")
                .withImagePullPolicy("IfNotPresent").withArgs("serve").endContainer().endSpec().build();
    }

    static void await(String what, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting until " + what);
            }
            Thread.sleep(10);
        }
    }

    boolean runsAttempt(String uid, int attempt) {
        String id = cri.containerOf(uid, "app");
        if (id == null) {
            return false;
        }
        ContainerStatus s = cri.containers.get(id);
        return s != null && s.getState() == ContainerState.CONTAINER_RUNNING && s.getMetadata().getAttempt() == attempt;
    }

    void startTwoPods() throws InterruptedException {
        workers.update(pod("a"));
        workers.update(pod("b"));
        await("both run", () -> runsAttempt("uid-a", 0) && runsAttempt("uid-b", 0));
        await("the workers are idle", workers::idle);
    }

    @Test
    void anExitEventResyncsThatPodOnly() throws Exception {
        pleg = new Pleg(client, workers, Duration.ofHours(1), Duration.ofHours(1)); // no relist in this test: events only
        pleg.start();
        await("subscribed", () -> cri.subscribers() == 1);
        startTwoPods();
        int passesOfB = passes.get("uid-b");
        int passesOfA = passes.get("uid-a");
        cri.exit(cri.containerOf("uid-a", "app"), 1, null);
        await("a restarted", () -> runsAttempt("uid-a", 1));
        await("the workers are idle", workers::idle);
        assertTrue(passes.get("uid-a") > passesOfA);
        assertEquals(passesOfB, passes.get("uid-b"), "the other pod's worker did nothing");
        assertTrue(pleg.streaming());
    }

    @Test
    void withoutEventsTheRelistCatchesAnExit() throws Exception {
        cri.eventsUnimplemented = true;
        pleg = new Pleg(client, workers, Duration.ofHours(1), Duration.ofMillis(100));
        pleg.start();
        startTwoPods();
        int seen = pleg.relists();
        await("two relists have seen both", () -> pleg.relists() >= seen + 2);
        await("the workers are idle", workers::idle);
        assertFalse(pleg.streaming());
        int passesOfB = passes.get("uid-b");
        cri.exitQuietly(cri.containerOf("uid-a", "app"), 1, null);
        await("a restarted", () -> runsAttempt("uid-a", 1));
        await("the workers are idle", workers::idle);
        assertEquals(passesOfB, passes.get("uid-b"), "the other pod's worker did nothing");
        assertFalse(pleg.streaming());
        assertEquals(1, cri.calls("GetContainerEvents"), "UNIMPLEMENTED is not asked again");
    }

    @Test
    void aBrokenStreamIsSubscribedAgainAndTheGapRelisted() throws Exception {
        pleg = new Pleg(client, workers, Duration.ofHours(1), Duration.ofHours(1));
        pleg.start();
        await("subscribed", () -> cri.subscribers() == 1);
        startTwoPods();
        cri.breakEventStreams(Status.UNAVAILABLE);
        // while the stream is down an exit goes unreported; the relist after the new subscription finds it
        cri.exitQuietly(cri.containerOf("uid-b", "app"), 2, null);
        await("subscribed again", () -> cri.subscribers() == 1 && cri.calls("GetContainerEvents") == 2);
        await("b restarted", () -> runsAttempt("uid-b", 1));
        assertTrue(pleg.streaming());
    }
}
