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
