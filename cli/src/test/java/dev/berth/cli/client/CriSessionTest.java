package dev.berth.cli.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CriSessionTest {
    @TempDir
    Path dir;

    @Test
    void aMissingRuntimeSocketIsUnreachableAtOnce() {
        Endpoints e = new Endpoints("unix://" + dir.resolve("none.sock"), "unix://" + dir.resolve("none.sock"), Duration.ofSeconds(1), false);
        ClientException x = assertThrows(ClientException.class, () -> CriSession.open(e));
        assertEquals(ExitCodes.UNREACHABLE, x.exitCode());
    }

    @Test
    void aMissingImageSocketStopsOnlyImageCalls() throws Exception {
        // a client config's image endpoint elsewhere must not fail berth ps -r ...: only an image call reports it
        Path runtime = Files.createFile(dir.resolve("runtime.sock"));
        Endpoints e = new Endpoints("unix://" + runtime, "unix://" + dir.resolve("images.sock"), Duration.ofSeconds(1), false);
        try (CriSession cri = CriSession.open(e)) {
            cri.runtime();
            ClientException x = assertThrows(ClientException.class, cri::images);
            assertEquals(ExitCodes.UNREACHABLE, x.exitCode());
            assertTrue(x.getMessage().contains("images.sock"), x.getMessage());
        }
    }
}
