package dev.berth.networking.cni;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AttachmentCacheTest {
    @TempDir
    Path tmp;

    @Test
    void theTemporaryFilesOfCacheWritesAKillCutShortAreSweptWhenTheNetworkStarts() throws Exception {
        Path cache = Files.createDirectories(tmp.resolve("cache"));
        Files.writeString(cache.resolve("pod1.json"), "{\"kind\":\"cniCacheV1\"}");
        Files.writeString(cache.resolve(".pod1.json.tmp-0c1d2e3f4a5b6c7d"), "{\"kind\":\"cni");
        Files.writeString(cache.resolve(".pod2.json.tmp-1"), "");

        new CniPodNetwork(new CniPodNetwork.Settings(Files.createDirectories(tmp.resolve("conf")), List.of(), cache,
                Duration.ofSeconds(30), null));

        try (Stream<Path> files = Files.list(cache)) {
            assertEquals(Set.of("pod1.json"), files.map(p -> p.getFileName().toString()).collect(Collectors.toSet()));
        }
        assertEquals(List.of("pod1"), new AttachmentCache(cache).sandboxIds());
    }
}
