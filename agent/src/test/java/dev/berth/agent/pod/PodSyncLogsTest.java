package dev.berth.agent.pod;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.agent.cri.CriClient;
import dev.berth.agent.testing.FakeCri;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PodSyncLogsTest {
    @TempDir
    Path dir;

    @Test
    void killingAPodRemovesItsLogDirectoryAndNoOtherPods() throws Exception {
        Path logs = dir.resolve("logs");
        Path mine = logs.resolve("default_web_uid-1");
        Path other = logs.resolve("default_web_uid-10");
        Files.createDirectories(mine.resolve("c"));
        Files.writeString(mine.resolve("c/0.log"), "2026-12-05T10:00:00Z stdout F hello\n");
        Files.createDirectories(other.resolve("c"));
        try (FakeCri cri = new FakeCri()) {
            PodSync sync = new PodSync(new CriClient(cri.channel(), Duration.ofSeconds(10), Duration.ofSeconds(10)),
                    new PodTranslation(new NodeFacts(1L << 30, List.of(), List.of(), List.of()), logs));
            sync.kill("uid-1", 0);
        }
        assertFalse(Files.exists(mine), "the killed pod's logs are removed");
        assertTrue(Files.isDirectory(other.resolve("c")), "another pod's logs (a uid that merely starts alike) stay");
    }
}
