package dev.berth.podsandbox.store;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.podsandbox.sandbox.SandboxConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What a kill in the middle of a record write or a removal leaves, swept when the store loads. */
class SandboxStoreTest {
    @TempDir
    Path dir;

    static SandboxRecord record(String id, String name) {
        SandboxConfig config = new SandboxConfig(new SandboxConfig.Metadata(name, "uid-" + name, "default", 0), name, "",
                SandboxConfig.Dns.NONE, List.of(), Map.of(), Map.of(), "", Map.of(), SandboxConfig.NamespaceOptions.DEFAULT,
                null, null, 0, "");
        return SandboxRecord.creating(id, config, 1, name, "runc", "runc");
    }

    @Test
    void loadSweepsTemporaryRecordsAndSandboxDirectoriesWithoutARecord() throws Exception {
        SandboxStore first = new SandboxStore(dir);
        first.add(record("a1", "kept")).lock().unlock();
        // a kill while the record of a1 was being rewritten
        Files.writeString(dir.resolve("a1/.sandbox.json.tmp-5e1f00d2c3b4a596"), "{\"torn");
        // a kill (or a full disk) during the first record write of b2: only its temporary file
        Files.createDirectories(dir.resolve("b2"));
        Files.writeString(dir.resolve("b2/.sandbox.json.tmp-77"), "{\"to");
        // a kill during a removal, after the record went
        Files.createDirectories(dir.resolve("c3"));
        // not berth's to judge: a directory without a record that holds something else stays
        Files.createDirectories(dir.resolve("d4"));
        Files.writeString(dir.resolve("d4/notes"), "someone's");

        SandboxStore restarted = new SandboxStore(dir);
        List<SandboxRecord> loaded = restarted.load();

        assertEquals(List.of("a1"), loaded.stream().map(SandboxRecord::id).toList());
        assertEquals(Set.of("a1", "d4"), names(dir));
        assertEquals(Set.of("sandbox.json"), names(dir.resolve("a1")));
        assertTrue(Files.exists(dir.resolve("d4/notes")));
        assertFalse(Files.exists(dir.resolve("b2")));
    }

    private static Set<String> names(Path d) throws Exception {
        try (Stream<Path> s = Files.list(d)) {
            return s.map(p -> p.getFileName().toString()).collect(Collectors.toSet());
        }
    }
}
