package dev.berth.agent.gc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.agent.cri.CriClient;
import dev.berth.agent.status.EventRecorder;
import dev.berth.agent.testing.FakeCri;
import dev.berth.agent.testing.MutableClock;
import dev.berth.cri.v1.ContainerState;
import dev.berth.cri.v1.PodSandboxState;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class ImageGcTest {
    private static final Instant START = Instant.parse("2030-01-01T00:00:00Z");
    private final FakeCri fake;
    private final CriClient cri;
    private final MutableClock clock = new MutableClock(START);
    /** The image filesystem's size; its free bytes are what the fake's images leave, unless {@link #available} is set. */
    private final AtomicLong capacity = new AtomicLong(1000);
    private final AtomicLong available = new AtomicLong(-1);
    private final List<String> events = new CopyOnWriteArrayList<>();
    private final String sandbox;

    ImageGcTest() throws Exception {
        fake = new FakeCri();
        cri = new CriClient(fake.channel(), Duration.ofSeconds(10), Duration.ofSeconds(10));
        sandbox = fake.addSandbox("u", "p", "file", PodSandboxState.SANDBOX_READY, 0, 1);
    }

    @AfterEach
    void close() {
        fake.close();
    }

    private ImageGc gc(GcSettings settings) {
        EventRecorder recorder = (o, type, reason, message) -> events.add(o.getKind() + "/" + o.getName() + " " + type + " " + reason);
        ImageGc.Space space = path -> {
            long used;
            synchronized (fake.storedImages) {
                used = fake.storedImages.values().stream().mapToLong(dev.berth.cri.v1.Image::getSize).sum();
            }
            long free = available.get() >= 0 ? available.get() : capacity.get() - used;
            return new ImageGc.Capacity(capacity.get(), free);
        };
        return new ImageGc(cri, settings, space, recorder, ImageGc.nodeReference("n1"), clock);
    }

    private static GcSettings settings(Duration minAge, Duration maxAge) {
        GcSettings d = GcSettings.defaults();
        return new GcSettings(85, 80, minAge, maxAge, d.maxPerPodContainer(), d.maxContainers(), d.minimumContainerTtl(),
                d.containerGcPeriod(), d.imageGcPeriod());
    }

    private Set<String> images() {
        synchronized (fake.storedImages) {
            return Set.copyOf(fake.storedImages.keySet());
        }
    }

    private String use(String image, ContainerState state) {
        return fake.addContainer(sandbox, "c-" + image, 0, state, 1, image);
    }

    @Test
    void belowTheHighThresholdNothingGoes() throws Exception {
        fake.addImage("sha256:a", "r/a:1", 400, false);
        fake.addImage("sha256:b", "r/b:1", 440, false); // 84%
        ImageGc gc = gc(settings(Duration.ZERO, Duration.ZERO));
        clock.advance(Duration.ofMinutes(10));

        assertEquals(0, gc.collect(START));
        assertEquals(2, images().size());
        assertEquals(0, fake.calls("RemoveImage"));
    }

    @Test
    void leastRecentlyUsedGoFirstAndOnlyUntilTheLowThreshold() throws Exception {
        fake.addImage("sha256:a", "r/a:1", 300, false);
        fake.addImage("sha256:b", "r/b:1", 300, false);
        fake.addImage("sha256:c", "r/c:1", 300, false);
        ImageGc gc = gc(settings(Duration.ofMinutes(2), Duration.ZERO));
        capacity.set(100_000); // room: passes only watch
        String ca = use("sha256:a", ContainerState.CONTAINER_EXITED);
        gc.collect(START);
        clock.advance(Duration.ofMinutes(5));
        fake.containers.remove(ca);
        String cb = use("r/b:1", ContainerState.CONTAINER_RUNNING);
        gc.collect(START);
        clock.advance(Duration.ofMinutes(5));
        fake.containers.remove(cb);

        capacity.set(1000); // 90% full: 1000 * 20% - 100 = 100 bytes to free
        assertEquals(300, gc.collect(START));
        assertEquals(Set.of("sha256:a", "sha256:b"), images(), "c, never used, goes first; one image frees enough");

        fake.addImage("sha256:d", "r/d:1", 300, false); // 90% again, d just pulled
        assertEquals(300, gc.collect(START));
        assertEquals(Set.of("sha256:b", "sha256:d"), images(), "then a (used before b); d is younger than the minimum age");
    }

    @Test
    void imagesInUseAndPinnedStayAndTheNodeIsToldWhenNotEnoughCanGo() throws Exception {
        fake.addImage("sha256:run", "r/run:1", 300, false);
        fake.addImage("sha256:dead", "r/dead:1", 300, false);
        fake.addImage("sha256:pin", "r/pause:1", 200, true);
        fake.addImage("sha256:x", "r/x:1", 100, false);
        use("sha256:run", ContainerState.CONTAINER_RUNNING);
        use("r/dead:1", ContainerState.CONTAINER_EXITED); // a dead container still holds its image
        ImageGc gc = gc(settings(Duration.ZERO, Duration.ZERO));
        fake.imageFsUsed = 950; // 95%: 150 bytes to free, only x (100) may go

        ImageGc.GcFailure failure = assertThrows(ImageGc.GcFailure.class, () -> gc.collect(START));

        assertTrue(failure.getMessage().contains("Attempted to free 150 bytes, but only found 100 bytes eligible to free"), failure.getMessage());
        assertEquals(Set.of("sha256:run", "sha256:dead", "sha256:pin"), images());
        assertEquals(List.of("Node/n1 Warning FreeDiskSpaceFailed"), events);
    }

    @Test
    void theFilesystemsOwnFreeSpaceCountsWhenItIsFullerThanTheRuntimeSays() throws Exception {
        fake.addImage("sha256:a", "r/a:1", 100, false);
        fake.addImage("sha256:b", "r/b:1", 100, false);
        fake.imageFsUsed = 200; // 20% by the runtime's count
        available.set(100);      // statfs: 90% full (other files on the filesystem)
        ImageGc gc = gc(settings(Duration.ZERO, Duration.ZERO));

        assertEquals(100, gc.collect(START), "1000 * 20% - 100 = 100 bytes: one image");
        assertEquals(1, images().size());
    }

    @Test
    void imagesUnusedForLongerThanTheMaximumAgeGoOnceTheAgentHasWatchedThatLong() throws Exception {
        capacity.set(100_000);
        fake.addImage("sha256:old", "r/old:1", 10, false);
        fake.addImage("sha256:used", "r/used:1", 10, false);
        use("sha256:used", ContainerState.CONTAINER_RUNNING);
        ImageGc gc = gc(settings(Duration.ofMinutes(2), Duration.ofMinutes(10)));
        gc.collect(START);

        clock.advance(Duration.ofMinutes(9));
        gc.collect(START);
        assertEquals(2, images().size(), "not yet unused for 10 minutes");

        clock.advance(Duration.ofMinutes(2));
        gc.collect(START);
        assertEquals(Set.of("sha256:used"), images(), "unused for 11 minutes, while the disk has room");

        fake.addImage("sha256:fresh", "r/fresh:1", 10, false);
        clock.advance(Duration.ofMinutes(1));
        gc.collect(START);
        assertEquals(Set.of("sha256:used", "sha256:fresh"), images(), "an image seen a minute ago is not 10 minutes unused");
    }

    @Test
    void aFilesystemWithoutCapacityIsAWarning() {
        capacity.set(0);
        available.set(0);
        ImageGc gc = gc(settings(Duration.ZERO, Duration.ZERO));

        assertThrows(ImageGc.GcFailure.class, () -> gc.collect(START));
        assertEquals(List.of("Node/n1 Warning InvalidDiskCapacity"), events);
    }
}
