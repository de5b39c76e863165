package dev.berth.common;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PrivateFilesTest {
    @TempDir
    Path dir;

    private static String mode(Path p) throws IOException {
        return PosixFilePermissions.toString(Files.getPosixFilePermissions(p));
    }

    @Test
    void atomicWritesTakeAGivenMode() throws Exception {
        Path target = dir.resolve("net.conflist");
        AtomicFiles.writeString(target, "{}", PrivateFiles.READABLE, false);
        assertEquals("rw-r--r--", mode(target));
        assertEquals("{}", Files.readString(target));
    }

    @Test
    void anExistingDirectoryOfAnOlderBerthIsClosed() throws Exception {
        Path old = Files.createDirectories(dir.resolve("containers"));
        Files.setPosixFilePermissions(old, PosixFilePermissions.fromString("rwxr-xr-x"));
        PrivateFiles.directory(old);
        assertEquals("rwx------", mode(old));
        PrivateFiles.directory(dir.resolve("root"), PrivateFiles.TRAVERSABLE);
        assertEquals("rwx--x--x", mode(dir.resolve("root")));
    }

    @Test
    void createDirectoriesLeavesExistingOnesAlone() throws Exception {
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        PrivateFiles.createDirectories(dir.resolve("x/y"));
        assertEquals("rwxr-xr-x", mode(dir));
        assertEquals("rwx------", mode(dir.resolve("x")));
        assertEquals("rwx------", mode(dir.resolve("x/y")));
    }

    @Test
    void writeRewritesAnExistingFileClosedFirst() throws Exception {
        Path f = dir.resolve("config.json");
        Files.writeString(f, "old old old");
        Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rw-rw-rw-"));
        PrivateFiles.write(f, "new".getBytes());
        assertEquals("rw-------", mode(f));
        assertArrayEquals("new".getBytes(), Files.readAllBytes(f));
    }

    @Test
    void writeRefusesASymlink() throws Exception {
        Path outside = Files.writeString(dir.resolve("outside"), "keep");
        Path link = Files.createSymbolicLink(dir.resolve("link"), outside);
        assertThrows(IOException.class, () -> PrivateFiles.write(link, "x".getBytes()));
        assertEquals("keep", Files.readString(outside));
    }
}
