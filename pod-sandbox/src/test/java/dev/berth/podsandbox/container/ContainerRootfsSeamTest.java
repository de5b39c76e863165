package dev.berth.podsandbox.container;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.berth.common.BerthException;
import dev.berth.host.testing.FakeMounts;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link ContainerRootfs} against an in-memory mount table: no root needed. */
class ContainerRootfsSeamTest {
    private static final String ID = "a".repeat(64);

    @TempDir
    Path dir;

    @Test
    void mountsOneOverlayAndRemovesItWithItsLayer() {
        FakeMounts mounts = new FakeMounts();
        ContainerRootfs rootfs = new ContainerRootfs(dir.resolve("layers"), dir.resolve("mounts"), mounts);
        Path target = rootfs.mount(ID, List.of(dir.resolve("image/l1")));
        assertEquals(List.of(target), mounts.mountPointsUnder(dir));
        assertEquals("overlay", mounts.containing(target).fsType());
        rootfs.remove(ID);
        rootfs.remove(ID);
        assertEquals(List.of(), mounts.mounted());
        assertFalse(Files.exists(target));
        assertFalse(Files.exists(rootfs.layerDir(ID)));
    }

    @Test
    void aFailedMountLeavesNothingBehind() {
        FakeMounts mounts = new FakeMounts();
        ContainerRootfs rootfs = new ContainerRootfs(dir.resolve("layers"), dir.resolve("mounts"), mounts);
        mounts.failNext("overlay");
        assertThrows(BerthException.class, () -> rootfs.mount(ID, List.of(dir.resolve("image/l1"))));
        assertEquals(List.of(), mounts.mounted());
        assertFalse(Files.exists(rootfs.layerDir(ID)));
        assertFalse(Files.exists(rootfs.mountPoint(ID)));
    }
}
