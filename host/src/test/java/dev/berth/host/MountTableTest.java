package dev.berth.host;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MountTableTest {
    @TempDir
    Path dir;

    @Test
    void octalEscapesOfMountinfoAreDecoded() {
        assertEquals("/run/a b\tc\\d", MountTable.unescape("/run/a\\040b\\011c\\134d"));
        assertEquals("/plain", MountTable.unescape("/plain"));
    }

    @Tag("root")
    @Test
    void seesATmpfsMountedWithSpacesInItsPathAndItsRemoval() throws Exception {
        Path target = dir.resolve("with space");
        Files.createDirectories(target);
        LinuxMounts.INSTANCE.tmpfs("shm", target, "size=1m");
        try {
            assertTrue(MountTable.isMountPoint(target));
            assertEquals(java.util.List.of(target), MountTable.mountPointsUnder(dir));
            assertEquals("tmpfs", MountTable.containing(target.resolve("x")).fsType());
        } finally {
            LinuxMounts.INSTANCE.unmountAllUnder(dir);
        }
        assertFalse(MountTable.isMountPoint(target));
        LinuxMounts.INSTANCE.unmountAllUnder(dir);
    }

    @Tag("root")
    @Test
    void nestedAndBusyMountsAreAllUnmountedInProcess() throws Exception {
        Path outer = dir.resolve("outer");
        Files.createDirectories(outer);
        try {
            LinuxMounts.INSTANCE.tmpfs("shm", outer, "size=1m");
            Path inner = Files.createDirectories(outer.resolve("inner"));
            LinuxMounts.INSTANCE.tmpfs("shm", inner, "size=1m");
            Path busy = Files.createDirectories(dir.resolve("busy"));
            LinuxMounts.INSTANCE.tmpfs("shm", busy, "size=1m");
            try (var open = Files.newOutputStream(busy.resolve("held"))) {
                assertEquals(3, MountTable.mountCountUnder(dir));
                LinuxMounts.INSTANCE.unmountAllUnder(dir);
                assertEquals(0, MountTable.mountCountUnder(dir), "the busy one goes lazily, the nested one before its parent");
            }
        } finally {
            LinuxMounts.INSTANCE.unmountAllUnder(dir);
        }
    }

    @Tag("root")
    @Test
    void mountsStackedOnOnePointAreAllUnmounted() throws Exception {
        Path target = dir.resolve("stacked");
        Files.createDirectories(target);
        try {
            for (int i = 0; i < 3; i++) {
                LinuxMounts.INSTANCE.tmpfs("shm", target, "size=1m");
            }
            assertEquals(3, MountTable.mountCountUnder(dir));
            LinuxMounts.INSTANCE.unmountAllUnder(dir);
            assertEquals(0, MountTable.mountCountUnder(dir));
        } finally {
            while (MountTable.isMountPoint(target)) {
                Command.run("umount", "--lazy", target.toString());
            }
        }
    }
}
