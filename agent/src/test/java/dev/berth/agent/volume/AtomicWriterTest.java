package dev.berth.agent.volume;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AtomicWriterTest {
    @TempDir
    Path dir;

    private static Map<String, AtomicWriter.FileContent> payload(String... pathAndContent) {
        Map<String, AtomicWriter.FileContent> m = new LinkedHashMap<>();
        for (int i = 0; i < pathAndContent.length; i += 2) {
            m.put(pathAndContent[i], new AtomicWriter.FileContent(pathAndContent[i + 1].getBytes(StandardCharsets.UTF_8), 0644));
        }
        return m;
    }

    private List<String> timestamped() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).filter(n -> n.startsWith("..") && !n.equals("..data")).toList();
        }
    }

    @Test
    void filesAreLinksThroughDataToATimestampedDirectory() throws IOException {
        assertTrue(AtomicWriter.write(dir, payload("a", "1", "sub/b", "2")));
        assertEquals(Path.of("..data/a"), Files.readSymbolicLink(dir.resolve("a")));
        assertEquals(Path.of("..data/sub"), Files.readSymbolicLink(dir.resolve("sub")));
        String stamp = Files.readSymbolicLink(dir.resolve("..data")).toString();
        assertTrue(stamp.matches("\\.\\.\\d{4}_\\d{2}_\\d{2}_\\d{2}_\\d{2}_\\d{2}\\..+"), stamp);
        assertEquals("1", Files.readString(dir.resolve("a")));
        assertEquals("2", Files.readString(dir.resolve("sub/b")));
        assertEquals("rw-r--r--", PosixFilePermissions.toString(Files.getPosixFilePermissions(dir.resolve("a"))));
        assertEquals(List.of(stamp), timestamped());
    }

    @Test
    void theSameContentWritesNothingAndAChangeSwapsAndRemovesTheOldDirectory() throws IOException {
        AtomicWriter.write(dir, payload("a", "1", "b", "x"));
        Path first = Files.readSymbolicLink(dir.resolve("..data"));
        assertFalse(AtomicWriter.write(dir, payload("a", "1", "b", "x")), "unchanged");
        assertEquals(first, Files.readSymbolicLink(dir.resolve("..data")));

        assertTrue(AtomicWriter.write(dir, payload("a", "2")));
        Path second = Files.readSymbolicLink(dir.resolve("..data"));
        assertFalse(first.equals(second));
        assertEquals("2", Files.readString(dir.resolve("a")));
        assertFalse(Files.exists(dir.resolve("b"), java.nio.file.LinkOption.NOFOLLOW_LINKS), "the link of a key that went is gone");
        assertEquals(List.of(second.toString()), timestamped(), "only the current timestamped directory is left");
    }

    @Test
    void aChangedModeIsAChange() throws IOException {
        AtomicWriter.write(dir, payload("a", "1"));
        assertTrue(AtomicWriter.write(dir, Map.of("a", new AtomicWriter.FileContent("1".getBytes(StandardCharsets.UTF_8), 0400))));
        assertEquals("r--------", PosixFilePermissions.toString(Files.getPosixFilePermissions(dir.resolve("a"))));
    }

    @Test
    void hostilePathsAreRefusedBeforeAnythingIsWritten() throws IOException {
        for (String bad : List.of("../escape", "a/../../escape", "/etc/passwd", "..data", "..hidden", "", "a/..")) {
            VolumeException e = assertThrows(VolumeException.class, () -> AtomicWriter.write(dir, payload(bad, "x")), bad);
            assertTrue(e.getMessage().contains("invalid path"), e.getMessage());
        }
        try (Stream<Path> s = Files.list(dir)) {
            assertEquals(0, s.count());
        }
        assertFalse(Files.exists(dir.getParent().resolve("escape")));
    }

    @Test
    void aReaderSeesOneGenerationNeverAMix() throws Exception {
        AtomicWriter.write(dir, payload("a", "0", "b", "0"));
        AtomicBoolean stop = new AtomicBoolean();
        List<String> seen = new ArrayList<>();
        List<String> mixes = new ArrayList<>();
        Thread reader = new Thread(() -> {
            while (!stop.get()) {
                try {
                    // as a container reads a consistent set: through ..data, resolved once
                    Path data = dir.resolve(Files.readSymbolicLink(dir.resolve("..data")));
                    String a = Files.readString(data.resolve("a"));
                    String b = Files.readString(data.resolve("b"));
                    String single = Files.readString(dir.resolve("a"));
                    if ((!a.equals(b) || single.isEmpty()) && mixes.size() < 10) {
                        mixes.add("a=" + a + " b=" + b + " a by its link=" + single);
                    }
                    seen.add(a);
                } catch (NoSuchFileException e) {
                    // the generation read was replaced and removed meanwhile: read again
                } catch (IOException e) {
                    if (mixes.size() < 10) {
                        mixes.add(e.toString());
                    }
                }
            }
        });
        reader.start();
        for (int i = 1; i <= 200; i++) {
            AtomicWriter.write(dir, payload("a", Integer.toString(i), "b", Integer.toString(i)));
        }
        stop.set(true);
        reader.join();
        assertEquals(List.of(), mixes);
        assertTrue(seen.size() > 0);
        assertEquals(1, timestamped().size());
    }

    @Test
    void leftoversOfACrashAreRemovedByTheNextWrite() throws IOException {
        AtomicWriter.write(dir, payload("a", "1"));
        Files.createDirectory(dir.resolve("..2020_01_01_00_00_00.123"));
        Files.createSymbolicLink(dir.resolve("..data_tmp"), Path.of("..2020_01_01_00_00_00.123"));
        AtomicWriter.write(dir, payload("a", "2"));
        assertEquals(1, timestamped().size());
        assertFalse(Files.exists(dir.resolve("..data_tmp"), java.nio.file.LinkOption.NOFOLLOW_LINKS));
    }
}
