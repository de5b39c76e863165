package dev.berth.networking;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.berth.common.BerthException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PodCidrsTest {
    @TempDir
    Path root;

    @Test
    void podCidrsPersistAndNotifyOnlyOnChange() {
        PodCidrs state = new PodCidrs(root);
        List<List<String>> seen = new ArrayList<>();
        state.onPodCidrChange(seen::add);
        state.updatePodCidr("10.244.1.0/24,fd00:10:244:1::/64");
        state.updatePodCidr("10.244.1.0/24, fd00:10:244:1::/64");
        state.updatePodCidr("");
        assertEquals(1, seen.size());
        assertEquals(List.of("10.244.1.0/24", "fd00:10:244:1::/64"), new PodCidrs(root).podCidrs());
    }

    @Test
    void theTemporaryFileOfAWriteAKillCutShortIsSweptAtStart() throws Exception {
        new PodCidrs(root).updatePodCidr("10.244.1.0/24");
        java.nio.file.Files.writeString(root.resolve(".runtime-config.json.tmp-5a5a5a5a5a5a5a5a"), "{\"podCi");
        assertEquals(List.of("10.244.1.0/24"), new PodCidrs(root).podCidrs());
        try (java.util.stream.Stream<Path> files = java.nio.file.Files.list(root)) {
            assertEquals(List.of("runtime-config.json"), files.map(p -> p.getFileName().toString()).toList());
        }
    }

    @Test
    void malformedCidrsAreInvalidArguments() {
        PodCidrs state = new PodCidrs(root);
        for (String bad : new String[] {"10.0.0.0", "10.0.0.0/40", "host.example/24", "10.0.0.0/x", "fd00::/129"}) {
            BerthException e = assertThrows(BerthException.class, () -> state.updatePodCidr(bad), bad);
            assertEquals(BerthException.Kind.INVALID_ARGUMENT, e.kind());
        }
        assertEquals(List.of(), state.podCidrs());
    }
}
