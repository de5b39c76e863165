package dev.berth.podsandbox.container;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.common.BerthException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A run root that the pod's root cannot reach is refused with the directory that blocks it, not with runc's bare EACCES. */
class ContainerRootfsTraversableTest {
    @TempDir
    Path dir;

    @Test
    void aPrivateDirectoryAboveTheRunRootIsNamed() throws Exception {
        Path run = Files.createDirectories(dir.resolve("berth/run"));
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx--x--x"));
        Files.setPosixFilePermissions(dir.resolve("berth"), PosixFilePermissions.fromString("rwx------"));
        BerthException e = assertThrows(BerthException.class, () -> ContainerRootfs.requireTraversable(run));
        assertEquals(BerthException.Kind.FAILED_PRECONDITION, e.kind());
        assertTrue(e.getMessage().contains(dir.resolve("berth") + " is not (mode rwx------)"), e.getMessage());

        Files.setPosixFilePermissions(dir.resolve("berth"), PosixFilePermissions.fromString("rwx--x--x"));
        ContainerRootfs.requireTraversable(run);
    }
}
