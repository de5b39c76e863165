package dev.berth.podsandbox.container;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.common.BerthException;
import dev.berth.host.MountTable;
import dev.berth.host.testing.FakeMounts;
import dev.berth.images.reference.Digest;
import dev.berth.images.store.ImageRecord;
import dev.berth.podsandbox.container.spec.ContainerConfig;
import dev.berth.podsandbox.container.spec.ImageConfig;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ImageVolumesTest {
    static final String ID = "a".repeat(64);
    static final Digest DATA = Digest.sha256("data".getBytes(StandardCharsets.UTF_8));
    static final Digest ONE = Digest.sha256("one".getBytes(StandardCharsets.UTF_8));

    @TempDir
    Path dir;

    final FakeMounts mounts = new FakeMounts();
    final Map<String, Digest> held = new ConcurrentHashMap<>();

    final ContainerImages images = new ContainerImages() {
        @Override
        public ImageRecord require(String ref) {
            return find(ref).orElseThrow(() -> BerthException.notFound("image %s not found", ref));
        }

        @Override
        public Optional<ImageRecord> find(String ref) {
            Digest d = ref.equals("data") ? DATA : ref.equals("one") ? ONE : null;
            return d == null ? Optional.empty() : Optional.of(new ImageRecord(d, List.of(ref), List.of(), 1, d,
                    "application/vnd.oci.image.manifest.v1+json", null, List.of(), List.of(), List.of(), "", 0, "", false, Map.of(), 0));
        }

        @Override
        public ImageConfig config(ImageRecord image) {
            throw new UnsupportedOperationException();
        }

        @Override
        public List<Path> lowerDirs(Digest imageId) {
            return imageId.equals(DATA) ? List.of(dir.resolve("layers/top"), dir.resolve("layers/bottom")) : List.of(dir.resolve("layers/one"));
        }

        @Override
        public void hold(String containerId, Digest imageId) {
            held.put(containerId, imageId);
        }

        @Override
        public void release(String containerId) {
            held.remove(containerId);
        }

        @Override
        public Set<String> holders() {
            return Set.copyOf(held.keySet());
        }
    };

    ImageVolumes volumes() {
        return new ImageVolumes(dir.resolve("volumes"), mounts, images);
    }

    static ContainerConfig.Mount image(String path, String image, String subPath) {
        return new ContainerConfig.Mount(path, "", true, null, false, image, subPath, List.of(), List.of());
    }

    @Test
    void eachImageVolumeIsAnOverlayOfItsLayersHeldForTheContainerAndGoesWithIt() throws Exception {
        ImageVolumes v = volumes();
        Path host = Files.createDirectories(dir.resolve("host"));
        ContainerConfig config = ContainerConfig.builder("c")
                .mount(new ContainerConfig.Mount("/host", host.toString(), false, null))
                .mount(image("/data", "data", ""))
                .mount(image("/one", "one", "")).build();
        ContainerConfig staged = v.stage(ID, config);
        Path vol0 = dir.resolve("volumes").resolve(ID).resolve("0");
        Path vol1 = dir.resolve("volumes").resolve(ID).resolve("1");
        assertEquals(host.toString(), staged.mounts().get(0).hostPath(), "a host path mount stays as it is");
        assertEquals(vol0.resolve("root").toString(), staged.mounts().get(1).hostPath());
        assertEquals("data", staged.mounts().get(1).image(), "the image is still reported");
        assertEquals(vol1.resolve("root").toString(), staged.mounts().get(2).hostPath());
        assertEquals(dir.resolve("layers/top"), Files.readSymbolicLink(vol0.resolve("l/0")));
        assertEquals(dir.resolve("layers/bottom"), Files.readSymbolicLink(vol0.resolve("l/1")));
        assertTrue(Files.isDirectory(vol1.resolve("empty")), "a one-layer image gets an empty lower directory");
        assertEquals(List.of(vol0.resolve("root"), vol1.resolve("root")), mounts.mounted().stream().map(MountTable.Mount::mountPoint).toList());
        assertEquals(Map.of(ID + ".v0", DATA, ID + ".v1", ONE), held);
        assertEquals(Set.of(ID), v.ids());

        held.put(ID, DATA); // the container's own image hold is not the volumes' to drop
        v.remove(ID);
        assertEquals(List.of(), mounts.mounted());
        assertFalse(Files.exists(dir.resolve("volumes").resolve(ID)));
        assertEquals(Map.of(ID, DATA), held);
        assertEquals(Set.of(), v.ids());
        v.remove(ID); // idempotent
    }

    @Test
    void aConfigWithoutImageVolumesIsLeftAlone() {
        ContainerConfig config = ContainerConfig.builder("c").build();
        assertSame(config, volumes().stage(ID, config));
        assertFalse(Files.exists(dir.resolve("volumes").resolve(ID)));
    }

    @Test
    void aFailedStageLeavesNothingBehind() {
        ImageVolumes v = volumes();
        BerthException unknown = assertThrows(BerthException.class, () -> v.stage(ID, ContainerConfig.builder("c")
                .mount(image("/data", "data", "")).mount(image("/x", "nope", "")).build()));
        assertEquals(BerthException.Kind.NOT_FOUND, unknown.kind());
        BerthException missing = assertThrows(BerthException.class, () -> v.stage(ID, ContainerConfig.builder("c")
                .mount(image("/data", "data", "missing/dir")).build()));
        assertEquals(BerthException.Kind.INVALID_ARGUMENT, missing.kind());
        mounts.failNext("overlay");
        assertThrows(BerthException.class, () -> v.stage(ID, ContainerConfig.builder("c").mount(image("/data", "data", "")).build()));
        assertEquals(List.of(), mounts.mounted());
        assertEquals(Map.of(), held);
        assertFalse(Files.exists(dir.resolve("volumes").resolve(ID)));
    }

    @Test
    void anImageMountWithAHostPathOrWritableIsRefused() {
        ImageVolumes v = volumes();
        for (ContainerConfig.Mount m : List.of(
                new ContainerConfig.Mount("/data", "/etc", true, null, false, "data", "", List.of(), List.of()),
                new ContainerConfig.Mount("/data", "", false, null, false, "data", "", List.of(), List.of()))) {
            BerthException e = assertThrows(BerthException.class, () -> v.stage(ID, ContainerConfig.builder("c").mount(m).build()));
            assertEquals(BerthException.Kind.INVALID_ARGUMENT, e.kind());
        }
        assertEquals(Map.of(), held);
    }

    @Test
    void aSubPathResolvesInsideTheImageWhateverItsLinksSay() throws Exception {
        Path root = Files.createDirectories(dir.resolve("root"));
        Path sub = Files.createDirectories(root.resolve("data/sub"));
        Files.writeString(root.resolve("data/file"), "x");
        Files.createSymbolicLink(root.resolve("data/up"), Path.of("../../../.."));
        Files.createSymbolicLink(root.resolve("data/abs"), Path.of("/data/sub"));
        Files.createSymbolicLink(root.resolve("data/etc"), Path.of("/etc"));
        Files.createSymbolicLink(root.resolve("loop"), Path.of("loop"));
        assertEquals(root, ImageVolumes.subPath(root, "", "i"));
        assertEquals(sub, ImageVolumes.subPath(root, "data/sub", "i"));
        assertEquals(sub, ImageVolumes.subPath(root, "/data/./sub/", "i"));
        assertEquals(sub, ImageVolumes.subPath(root, "../../data/sub", "i"));
        assertEquals(sub, ImageVolumes.subPath(root, "data/up/data/sub", "i"));
        assertEquals(sub, ImageVolumes.subPath(root, "data/abs", "i"));
        assertEquals(root, ImageVolumes.subPath(root, "data/up", "i"));
        for (String bad : List.of("data/etc", "data/file", "nope", "loop", "data/sub/../file")) {
            BerthException e = assertThrows(BerthException.class, () -> ImageVolumes.subPath(root, bad, "i"), bad);
            assertEquals(BerthException.Kind.INVALID_ARGUMENT, e.kind(), bad);
        }
    }

    @Test
    void theOwnerOfAHoldIsItsContainer() {
        assertEquals(ID, ImageVolumes.owner(ID));
        assertEquals(ID, ImageVolumes.owner(ID + ".v3"));
    }
}
