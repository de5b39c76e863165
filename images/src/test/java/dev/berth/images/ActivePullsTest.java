package dev.berth.images;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.common.BerthException;
import dev.berth.images.content.Descriptor;
import dev.berth.images.reference.Digest;
import dev.berth.images.reference.Reference;
import dev.berth.images.registry.Credentials;
import dev.berth.images.testing.RegistryFixture;
import dev.berth.images.testing.TestImage;
import dev.berth.images.testing.TestLayer;
import dev.berth.images.testing.TestLayer.Compression;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ActivePullsTest {
    private static final Digest A = Digest.parse("sha256:" + "a".repeat(64));
    private static final Digest B = Digest.parse("sha256:" + "b".repeat(64));

    private static PullProgress progress(String ref) {
        return new PullProgress(Reference.parse(ref), Duration.ofMinutes(5));
    }

    @Test
    void tracksAtMostItsCapacityAndDropsWhatIsRemoved() {
        ActivePulls pulls = new ActivePulls(2);
        PullProgress one = progress("busybox");
        PullProgress two = progress("busybox");
        PullProgress three = progress("alpine:3");
        assertTrue(pulls.add(one));
        assertTrue(pulls.add(two));
        assertFalse(pulls.add(three), "beyond the capacity a pull runs untracked");
        assertEquals(2, pulls.size());
        assertTrue(pulls.find("docker.io/library/alpine:3").isEmpty());
        assertEquals(one, pulls.find("docker.io/library/busybox:latest").orElseThrow(), "the oldest pull of a reference");
        pulls.remove(one);
        assertEquals(two, pulls.find("docker.io/library/busybox:latest").orElseThrow());
        pulls.remove(two);
        pulls.remove(two); // twice is harmless
        assertEquals(0, pulls.size());
        assertTrue(pulls.find("docker.io/library/busybox:latest").isEmpty());
        assertTrue(pulls.add(three), "room again once pulls ended");
    }

    @Test
    void normalisesAsPullsAreKeyedAndRefusesOverlongReferences() {
        assertEquals("docker.io/library/busybox:latest", ActivePulls.normalise("busybox"));
        BerthException e = assertThrows(BerthException.class, () -> ActivePulls.normalise("a".repeat(ActivePulls.MAX_REFERENCE + 1)));
        assertEquals(BerthException.Kind.INVALID_ARGUMENT, e.kind());
        assertEquals(BerthException.Kind.INVALID_ARGUMENT, assertThrows(BerthException.class, () -> ActivePulls.normalise("Bad Ref")).kind());
    }

    @Test
    void aSnapshotShowsEachLayerInManifestOrderWithItsBytesAndState() {
        PullProgress p = progress("busybox");
        assertEquals(List.of(), p.snapshot().layers(), "no layers while resolving");
        p.expect(300, List.of(new Descriptor("", A, 100, List.of()), new Descriptor("", B, 150, List.of())));
        p.state(A, ActivePulls.LayerState.DOWNLOADING);
        p.blob(A, 40);
        p.state(B, ActivePulls.LayerState.EXISTS);
        p.blob(B, 150);
        ActivePulls.Snapshot s = p.snapshot();
        assertEquals(List.of(new ActivePulls.Layer(A.toString(), 100, 40, ActivePulls.LayerState.DOWNLOADING),
                new ActivePulls.Layer(B.toString(), 150, 150, ActivePulls.LayerState.EXISTS)), s.layers());
        assertEquals(300, s.totalBytes());
        assertEquals(190, s.doneBytes());
        assertFalse(s.done());
        p.end(BerthException.notFound("manifest unknown"));
        assertTrue(p.snapshot().done());
        assertEquals("manifest unknown", p.snapshot().error());
    }

    /** A real pull is tracked while it runs, with its layers, and dropped when it ends, whether it succeeded or failed. */
    @Test
    @Tag("root")
    void aPullIsTrackedWhileItRunsAndDroppedWhenItEnds(@TempDir Path registryDir, @TempDir Path root) throws Exception {
        try (RegistryFixture registry = RegistryFixture.start(registryDir);
             ImageService images = ImagePullTest.service(root, Duration.ofMinutes(1))) {
            TestImage.of(TestLayer.busybox().build(Compression.GZIP), TestLayer.create().file("x", "y").build(Compression.GZIP))
                    .push(registry.pusher(), "test/progress", "v1");
            String ref = registry.host() + "/test/progress:v1";
            List<ActivePulls.Snapshot> seen = new CopyOnWriteArrayList<>();
            AtomicBoolean stop = new AtomicBoolean();
            Thread watcher = new Thread(() -> {
                while (!stop.get()) {
                    images.activePulls().find(ActivePulls.normalise(ref)).ifPresent(w -> seen.add(w.snapshot()));
                    Thread.onSpinWait();
                }
            });
            watcher.start();
            try {
                images.pull(ref, Credentials.NONE, Map.of());
            } finally {
                stop.set(true);
                watcher.join();
            }
            assertEquals(0, images.activePulls().size(), "the ended pull is dropped");
            assertFalse(seen.isEmpty(), "the pull was seen while it ran");
            List<ActivePulls.Snapshot> withLayers = new ArrayList<>(seen.stream().filter(s -> s.layers().size() == 2).toList());
            assertFalse(withLayers.isEmpty(), "its two layers were seen");
            assertTrue(withLayers.stream().flatMap(s -> s.layers().stream()).anyMatch(l -> l.state() != ActivePulls.LayerState.WAITING),
                    "a layer was seen downloading, extracting or done: " + withLayers.get(withLayers.size() - 1));
            assertThrows(BerthException.class, () -> images.pull(registry.host() + "/test/progress:missing", Credentials.NONE, Map.of()));
            assertEquals(0, images.activePulls().size(), "a failed pull is dropped too");
        }
    }
}
