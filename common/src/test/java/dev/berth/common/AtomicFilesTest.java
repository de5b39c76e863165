package dev.berth.common;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AtomicFilesTest {
    @TempDir
    Path dir;

    @Test
    void replacesTheTargetAndLeavesNoTemporaryFile() throws Exception {
        Path target = dir.resolve("sub/record.json");
        AtomicFiles.writeString(target, "first");
        AtomicFiles.writeString(target, "second");
        assertEquals("second", Files.readString(target));
        try (Stream<Path> files = Files.list(target.getParent())) {
            assertEquals(1, files.count());
        }
    }

    @Test
    void atomicWritesAre0600InNew0700Directories() throws Exception {
        Path target = dir.resolve("a/b/record.json");
        AtomicFiles.writeString(target, "record");
        assertEquals("rw-------", mode(target));
        assertEquals("rwx------", mode(dir.resolve("a")));
        assertEquals("rwx------", mode(dir.resolve("a/b")));
        // a replaced file gets the mode of the new one, not the old one's
        Files.setPosixFilePermissions(target, PosixFilePermissions.fromString("rw-r--r--"));
        AtomicFiles.writeString(target, "record 2");
        assertEquals("rw-------", mode(target));
    }

    @Test
    void sweepTemporariesDeletesOnlyWhatAnInterruptedWriteLeft() throws Exception {
        AtomicFiles.writeString(dir.resolve("record.json"), "kept");
        Files.writeString(dir.resolve(".record.json.tmp-3fa9c0d21b7e4a55"), "torn");
        Files.writeString(dir.resolve(".other.json.tmp-1"), "torn");
        Files.writeString(dir.resolve(".hidden"), "not berth's temporary");
        Files.writeString(dir.resolve("record.json.tmp-12"), "not a temporary: no leading dot");
        Files.createDirectory(dir.resolve(".dir.json.tmp-ab"));
        assertEquals(2, AtomicFiles.sweepTemporaries(dir));
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(java.util.Set.of("record.json", ".hidden", "record.json.tmp-12", ".dir.json.tmp-ab"),
                    files.map(p -> p.getFileName().toString()).collect(java.util.stream.Collectors.toSet()));
        }
        assertEquals("kept", Files.readString(dir.resolve("record.json")));
        assertEquals(0, AtomicFiles.sweepTemporaries(dir.resolve("missing")));
    }

    private static String mode(Path p) throws java.io.IOException {
        return PosixFilePermissions.toString(Files.getPosixFilePermissions(p));
    }
}
