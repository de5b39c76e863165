package dev.berth.cli.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Where the client connects, decided as crictl decides it: flag, environment, configuration file, default. */
class EndpointsTest {
    @TempDir
    Path dir;

    static Endpoints.Flags flags(String runtime, String image, Path config) {
        return new Endpoints.Flags(runtime, image, config, null, false);
    }

    Path config(String text) throws Exception {
        return Files.writeString(dir.resolve("crictl.yaml"), text);
    }

    @Test
    void aFlagBeatsTheEnvironmentWhichBeatsTheFileWhichBeatsTheDefault() throws Exception {
        Path file = config("runtime-endpoint: unix:///file.sock\nimage-endpoint: unix:///file-images.sock\ntimeout: 7\ndebug: true\n");
        Map<String, String> env = Map.of("CONTAINER_RUNTIME_ENDPOINT", "unix:///env.sock", "IMAGE_SERVICE_ENDPOINT", "/env-images.sock");

        Endpoints all = Endpoints.resolve(flags("unix:///flag.sock", "unix:///flag-images.sock", file), env);
        assertEquals("unix:///flag.sock", all.runtime());
        assertEquals("unix:///flag-images.sock", all.image());

        Endpoints noFlags = Endpoints.resolve(flags(null, null, file), env);
        assertEquals("unix:///env.sock", noFlags.runtime());
        assertEquals("unix:///env-images.sock", noFlags.image(), "a bare path becomes unix://");

        Endpoints fileOnly = Endpoints.resolve(flags(null, null, file), Map.of());
        assertEquals("unix:///file.sock", fileOnly.runtime());
        assertEquals("unix:///file-images.sock", fileOnly.image());
        assertEquals(Duration.ofSeconds(7), fileOnly.timeout());
        assertTrue(fileOnly.debug());

        Endpoints byEnvFile = Endpoints.resolve(flags(null, null, null), Map.of("CRI_CONFIG_FILE", file.toString()));
        assertEquals("unix:///file.sock", byEnvFile.runtime(), "CRI_CONFIG_FILE names the file");

        Endpoints none = Endpoints.resolve(flags(null, null, null), Map.of("CRI_CONFIG_FILE", dir.resolve("absent.yaml").toString()));
        assertEquals(Endpoints.DEFAULT_ENDPOINT, none.runtime());
        assertEquals(Endpoints.DEFAULT_ENDPOINT, none.image(), "the image endpoint defaults to the runtime's");
        assertEquals(Endpoints.DEFAULT_TIMEOUT, none.timeout());

        Endpoints runtimeOnly = Endpoints.resolve(flags("/r.sock", null, null), Map.of("CRI_CONFIG_FILE", dir.resolve("absent.yaml").toString()));
        assertEquals("unix:///r.sock", runtimeOnly.image());
    }

    @Test
    void aBadConfigurationFileIsAUsageError() throws Exception {
        Path big = Files.writeString(dir.resolve("big.yaml"), "# " + "x".repeat(Endpoints.MAX_CONFIG_BYTES) + "\n");
        assertUsage(big, "larger than");
        assertUsage(dir, "not a regular file");
        assertUsage(config("runtime-endpoint: [unclosed\n"), "crictl.yaml");
        assertUsage(config("- a\n- list\n"), "expected a mapping");
        ClientException tcp = assertThrows(ClientException.class, () -> Endpoints.resolve(flags("tcp://10.0.0.1:1234", null, null), Map.of()));
        assertEquals(ExitCodes.USAGE, tcp.exitCode());
    }

    private void assertUsage(Path file, String says) {
        ClientException e = assertThrows(ClientException.class, () -> Endpoints.resolve(flags(null, null, file), Map.of()));
        assertEquals(ExitCodes.USAGE, e.exitCode());
        assertTrue(e.getMessage().contains(says), e.getMessage());
    }
}
