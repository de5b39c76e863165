package dev.berth.podsandbox.container;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.common.BerthException;
import dev.berth.host.MountTable;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Overlay root filesystems on real overlayfs: layering, a private writable layer, removal. */
@Tag("root")
class ContainerRootfsTest {
    private static final String A = "a".repeat(64);
    private static final String B = "b".repeat(64);

    @TempDir
    Path dir;

    @AfterEach
    void unmountLeftovers() throws Exception {
        for (Path p : MountTable.mountPointsUnder(dir)) {
            new ProcessBuilder("umount", "--lazy", p.toString()).start().waitFor();
        }
    }

    @Test
    void layersAreStackedTopFirstAndEachContainerWritesOnlyItsOwnLayer() throws Exception {
        Path lower = Files.createDirectories(dir.resolve("layers/bottom"));
        Path upperImage = Files.createDirectories(dir.resolve("layers/top"));
        Files.writeString(lower.resolve("file"), "bottom");
        Files.writeString(lower.resolve("only-bottom"), "b");
        Files.writeString(upperImage.resolve("file"), "top");
        ContainerRootfs rootfs = new ContainerRootfs(dir.resolve("container-layers"), dir.resolve("run/rootfs"));

        Path a = rootfs.mount(A, List.of(upperImage, lower));
        Path b = rootfs.mount(B, List.of(upperImage, lower));
        assertTrue(MountTable.isMountPoint(a));
        assertEquals("top", Files.readString(a.resolve("file")), "the top layer wins");
        assertEquals("b", Files.readString(a.resolve("only-bottom")));

        Files.writeString(a.resolve("written"), "by a");
        Files.delete(a.resolve("only-bottom"));
        assertFalse(Files.exists(b.resolve("written")), "b does not see what a wrote");
        assertTrue(Files.exists(b.resolve("only-bottom")), "nor what a deleted");
        assertTrue(Files.exists(lower.resolve("only-bottom")), "the image layer is untouched");
        assertEquals("by a", Files.readString(rootfs.layerDir(A).resolve("upper/written")), "a's writes land in its layer");
        assertEquals(Set.of(A, B), rootfs.ids());

        rootfs.remove(A);
        rootfs.remove(A); // idempotent
        assertFalse(MountTable.isMountPoint(a));
        assertFalse(Files.exists(a));
        assertFalse(Files.exists(rootfs.layerDir(A)));
        assertEquals(Set.of(B), rootfs.ids());
        assertTrue(Files.exists(b.resolve("file")));
        rootfs.remove(B);
        assertEquals(List.of(), MountTable.mountPointsUnder(dir));
    }

    @Test
    void aFailedMountLeavesNothingBehind() {
        ContainerRootfs rootfs = new ContainerRootfs(dir.resolve("container-layers"), dir.resolve("run/rootfs"));
        BerthException e = assertThrows(BerthException.class, () -> rootfs.mount(A, List.of(dir.resolve("no-such-layer"))));
        assertEquals(BerthException.Kind.INTERNAL, e.kind());
        assertEquals(Set.of(), rootfs.ids());
        assertEquals(List.of(), MountTable.mountPointsUnder(dir));
        assertEquals(BerthException.Kind.INVALID_ARGUMENT,
                assertThrows(BerthException.class, () -> rootfs.mount("../x", List.of(dir))).kind());
    }

    @Test
    void anImageOf128LayersMountsWithFilesFromItsFirstAndLastLayers() throws Exception {
        // laid out as the layer store lays them out: <root>/images/layers/sha256/<64 hex>/diff
        List<Path> lowers = new java.util.ArrayList<>();
        for (int i = 0; i < 128; i++) {
            String hex = String.format("%064x", i + 1);
            Path diff = Files.createDirectories(dir.resolve("var/lib/berth/images/layers/sha256").resolve(hex).resolve("diff"));
            Files.writeString(diff.resolve("layer-" + i), Integer.toString(i));
            Files.writeString(diff.resolve("which"), Integer.toString(i));
            lowers.add(0, diff); // top first
        }
        ContainerRootfs rootfs = new ContainerRootfs(dir.resolve("var/lib/berth/container-layers"), dir.resolve("run/berth/rootfs"));
        Path cwd = Files.readSymbolicLink(Path.of("/proc/self/cwd"));
        Path a = rootfs.mount(A, lowers);
        assertEquals(cwd, Files.readSymbolicLink(Path.of("/proc/self/cwd")), "mounting from the layer moved no other thread's directory");
        assertEquals("0", Files.readString(a.resolve("layer-0")), "the first (bottom) layer shows");
        assertEquals("127", Files.readString(a.resolve("layer-127")), "the last (top) layer shows");
        assertEquals("127", Files.readString(a.resolve("which")), "the top layer wins");
        try (var s = Files.list(a)) {
            assertEquals(129, s.count());
        }
        rootfs.remove(A);
        assertEquals(List.of(), MountTable.mountPointsUnder(dir));
        assertEquals(Set.of(), rootfs.ids());
        assertTrue(Files.exists(lowers.get(0).resolve("layer-127")), "removal leaves the image's layers alone");
    }
}
