package dev.berth.agent.gc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.agent.cri.CriClient;
import dev.berth.agent.status.EventRecorder;
import dev.berth.agent.testing.FakeCri;
import dev.berth.cri.v1.ContainerState;
import dev.berth.cri.v1.PodSandboxState;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;

class GarbageCollectorTest {
    private final List<String> events = new CopyOnWriteArrayList<>();
    private final EventRecorder recorder = (o, type, reason, message) -> events.add(o.getKind() + "/" + o.getName() + " " + type + " " + reason);

    @Test
    void anImagePassFailingTwiceInARowIsAWarningOnTheNodeAndAFailedContainerPassEveryTime() throws Exception {
        FakeCri fake = new FakeCri();
        CriClient cri = new CriClient(fake.channel(), Duration.ofSeconds(5), Duration.ofSeconds(5));
        ImageGc images = new ImageGc(cri, GcSettings.defaults(), path -> {
            throw new java.io.IOException("no such filesystem");
        }, recorder, ImageGc.nodeReference("n1"), Clock.systemUTC());
        GarbageCollector gc = new GarbageCollector(new ContainerGc(cri, GcSettings.defaults(), uid -> true, Clock.systemUTC()), images,
                recorder, ImageGc.nodeReference("n1"), Clock.systemUTC().instant());
        try {
            gc.collectImages();
            assertEquals(List.of(), events, "a first failure is only logged");
            gc.collectImages();
            assertEquals(List.of("Node/n1 Warning ImageGCFailed"), events);

            fake.close(); // the runtime is gone: the container pass cannot list
            gc.collectContainers();
            assertEquals(List.of("Node/n1 Warning ImageGCFailed", "Node/n1 Warning ContainerGCFailed"), events);
        } finally {
            gc.close();
            fake.close();
        }
    }

    @Test
    void theLoopsRunOnTheirOwnThreadsAtTheirPeriods() throws Exception {
        try (FakeCri fake = new FakeCri()) {
            CriClient cri = new CriClient(fake.channel(), Duration.ofSeconds(5), Duration.ofSeconds(5));
            String s = fake.addSandbox("gone", "p", "file", PodSandboxState.SANDBOX_NOTREADY, 0, 1);
            fake.addContainer(s, "app", 0, ContainerState.CONTAINER_EXITED, 1, "sha256:i");
            GcSettings d = GcSettings.defaults();
            GcSettings fast = new GcSettings(d.imageGcHighThresholdPercent(), d.imageGcLowThresholdPercent(), d.imageMinimumGcAge(),
                    d.imageMaximumGcAge(), d.maxPerPodContainer(), d.maxContainers(), d.minimumContainerTtl(), Duration.ofMillis(50),
                    Duration.ofMinutes(5));
            try (GarbageCollector gc = GarbageCollector.start(cri, fast, uid -> false, recorder, "n1")) {
                long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
                while (!fake.sandboxes.isEmpty() && System.nanoTime() < deadline) {
                    Thread.sleep(20);
                }
                assertEquals(Set.of(), fake.sandboxes.keySet(), "the gone pod's leftovers were collected by the loop");
                assertTrue(Thread.getAllStackTraces().keySet().stream().anyMatch(t -> t.getName().equals("container-gc") && t.isDaemon()));
            }
        }
    }
}
