package dev.berth.images;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.berth.images.reference.Digest;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ImageHoldsTest {
    @TempDir
    Path root;

    @Test
    void theTemporaryFileOfAHoldWriteAKillCutShortIsSweptAtLoad() throws Exception {
        Digest image = Digest.sha256("image".getBytes(StandardCharsets.UTF_8));
        new ImageHolds(root).put(new ImageHolds.Hold("c1", image, List.of(image)));
        Files.writeString(root.resolve(".c2.json.tmp-9d2e41b07a6c35f8"), "{\"containerId\":\"c2\",\"ima");

        ImageHolds reloaded = new ImageHolds(root);

        assertEquals(Set.of("c1"), reloaded.all().keySet());
        try (Stream<Path> files = Files.list(root)) {
            assertEquals(Set.of("c1.json"), files.map(p -> p.getFileName().toString()).collect(Collectors.toSet()));
        }
    }
}
