package dev.berth.agent.pod;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.agent.cri.CriClient;
import dev.berth.agent.status.PodSnapshot;
import dev.berth.agent.status.PodStatusListener;
import dev.berth.agent.status.Waiting;
import dev.berth.agent.testing.FakeCri;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The workers' crash back-off with configured times, the pods they know by uid, and their termination with hooks. */
class PodWorkersRestartTest {
    @TempDir
    Path dir;

    FakeCri cri;
    PodWorkers workers;
    Pleg pleg;
    final List<String> messages = new CopyOnWriteArrayList<>();
    final List<String> preStops = new CopyOnWriteArrayList<>();

    @BeforeEach
    void start() throws Exception {
        cri = new FakeCri();
        cri.images.add("img:1");
        CriClient client = new CriClient(cri.channel(), Duration.ofSeconds(30), Duration.ofSeconds(30));
        PodStatusListener listener = new PodStatusListener() {
            @Override
            public void synced(Pod pod, PodSnapshot snapshot) {
                Waiting w = snapshot.waiting().get("app");
                if (w != null && w.reason().equals(Waiting.CRASH_LOOP_BACK_OFF)
                        && (messages.isEmpty() || !messages.get(messages.size() - 1).equals(w.message()))) {
                    messages.add(w.message());
                }
            }
        };
        ContainerHooks hooks = new ContainerHooks() {
            @Override
            public void postStart(Pod pod, Container container, String containerId) {
            }

            @Override
            public void preStop(Pod pod, Container container, String containerId, Duration budget) {
                preStops.add(container.getName() + " " + budget.toSeconds());
            }
        };
        workers = new PodWorkers(new PodSync(client, new PodTranslation(new NodeFacts(1L << 30, List.of(), List.of(), List.of()),
                dir.resolve("logs"))).withHooks(hooks), listener,
                new RestartSettings(Duration.ofMillis(100), Duration.ofMillis(400)));
        pleg = new Pleg(client, workers);
        pleg.start();
    }

    @AfterEach
    void stop() {
        pleg.close();
        workers.close();
        cri.close();
    }

    static Pod pod(String args) {
        return new PodBuilder().withNewMetadata().withName("crash").withNamespace("ns").withUid("uid-crash").endMetadata()
                .withNewSpec().withRestartPolicy("Always").withTerminationGracePeriodSeconds(7L).addNewContainer().withName("app")
                .withImage("img:1").withImagePullPolicy("IfNotPresent").withArgs(args).withNewLifecycle().withNewPreStop()
                .withNewSleep(1L).endPreStop().endLifecycle().endContainer().endSpec().build();
    }

    static void await(String what, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting until " + what);
            }
            Thread.sleep(5);
        }
    }

    int attempts() {
        return (int) cri.containers.values().stream().filter(c -> c.getMetadata().getName().equals("app")).count();
    }

    @Test
    void aCrashingContainerBacksOffDoublingToTheCap() throws Exception {
        workers.update(pod("exit 1"));
        await("six runs", () -> attempts() >= 6);
        List<String> durations = new ArrayList<>();
        for (String m : messages) {
            durations.add(m.substring("back-off ".length(), m.indexOf(' ', "back-off ".length())));
            assertTrue(m.endsWith(" restarting failed container=app pod=crash_ns(uid-crash)"), m);
        }
        assertEquals(List.of("100ms", "200ms", "400ms"), durations.subList(0, 3), messages.toString());
        assertTrue(durations.stream().skip(3).allMatch("400ms"::equals), "capped: " + durations);
        var newest = cri.containers.get(cri.containerOf("uid-crash", "app"));
        assertEquals(attempts() - 1, newest.getMetadata().getAttempt(), "every run is kept; the newest is attempt n-1");
        assertTrue(workers.pod("uid-crash").isPresent());
    }

    @Test
    void aTerminatedPodsContainersRunTheirPreStopHookWithThePodsGracePeriod() throws Exception {
        workers.update(pod("serve"));
        await("runs", () -> cri.containerOf("uid-crash", "app") != null
                && cri.containers.get(cri.containerOf("uid-crash", "app")).getState() == dev.berth.cri.v1.ContainerState.CONTAINER_RUNNING);
        String id = cri.containerOf("uid-crash", "app");
        java.util.concurrent.CountDownLatch gone = new java.util.concurrent.CountDownLatch(1);
        workers.terminate("uid-crash", -1, gone::countDown);
        assertTrue(gone.await(30, java.util.concurrent.TimeUnit.SECONDS));
        assertEquals(List.of("app 7"), preStops);
        assertEquals(List.of(java.util.Map.entry(id, 7L)), cri.stops);
        assertTrue(workers.pod("uid-crash").isEmpty(), "forgotten");
    }

    @Test
    void theBackOffCountsFromTheRunsFinishedAtWhenItIsPlausible() {
        long wall = 1_800_000_000_000_000_000L;
        long now = 5_000_000_000L;
        Duration reset = Duration.ofMinutes(10);
        assertEquals(now - 3_000_000_000L, PodWorkers.exitTime(wall - 3_000_000_000L, wall, now, reset), "3 s before the worker saw it");
        assertEquals(now, PodWorkers.exitTime(0, wall, now, reset), "no finishedAt");
        assertEquals(now, PodWorkers.exitTime(wall + 1, wall, now, reset), "in the future");
        assertEquals(now, PodWorkers.exitTime(17, wall, now, reset), "a runtime whose times are no wall clock's");
    }
}
