package dev.berth.cli.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.toml.TomlMapper;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** The [streaming] section. */
class StreamingSettingsTest {
    private static StreamingSettings parse(String toml) throws Exception {
        ObjectNode tree = (ObjectNode) new TomlMapper().readTree(toml);
        ConfigSection top = new ConfigSection("", tree, "test.toml");
        StreamingSettings s = StreamingSettings.read(top.section("streaming"));
        top.requireNoUnknownKeys();
        return s;
    }

    @Test
    void defaultsToAnEphemeralLoopbackPortAndOneMinuteTokens() throws Exception {
        StreamingSettings s = parse("");
        assertEquals("127.0.0.1", s.host());
        assertEquals(0, s.port());
        assertEquals(Duration.ofMinutes(1), s.tokenTtl());
        assertEquals(256, s.maxStreams());
        assertEquals(Duration.ofHours(4), s.idleTimeout());
    }

    @Test
    void readsEveryKey() throws Exception {
        StreamingSettings s = parse("[streaming]\naddress = \"[::1]:10010\"\ntoken_ttl = \"30s\"\nmax_streams = 8\n"
                + "idle_timeout = \"15m\"\n");
        assertEquals("::1", s.host());
        assertEquals(10010, s.port());
        assertEquals(Duration.ofSeconds(30), s.tokenTtl());
        assertEquals(8, s.maxStreams());
        assertEquals(Duration.ofMinutes(15), s.idleTimeout());
    }

    @Test
    void badValuesNameTheirKey() {
        String[][] cases = {
            {"address = \"10010\"", "streaming.address"},
            {"address = \":10010\"", "streaming.address"},
            {"address = \"localhost:70000\"", "streaming.address"},
            {"address = \"::1:10010\"", "streaming.address"},
            {"token_ttl = \"0s\"", "streaming.token_ttl"},
            {"max_streams = 0", "streaming.max_streams"},
            {"idle_timeout = \"soon\"", "streaming.idle_timeout"},
            {"tls = true", "streaming.tls"},
            {"tls_cert_file = \"/etc/hostname\"", "streaming.tls_key_file"},
            {"tls_key_file = \"/etc/hostname\"", "streaming.tls_cert_file"},
            {"tls_cert_file = \"/nonexistent/cert.pem\"\ntls_key_file = \"/etc/hostname\"", "streaming.tls_cert_file"},
        };
        for (String[] c : cases) {
            ConfigException e = assertThrows(ConfigException.class, () -> parse("[streaming]\n" + c[0] + "\n"), c[0]);
            assertTrue(e.getMessage().contains(c[1]), c[0] + ": " + e.getMessage());
        }
    }

    @Test
    void aCertificateAndKeyTogetherTurnOnTls() throws Exception {
        StreamingSettings s = parse("[streaming]\ntls_cert_file = \"/etc/hostname\"\ntls_key_file = \"/etc/hosts\"\n");
        assertEquals(java.nio.file.Path.of("/etc/hostname"), s.tlsCertFile());
        assertEquals(java.nio.file.Path.of("/etc/hosts"), s.tlsKeyFile());
        assertEquals(null, parse("[streaming]\n").tlsCertFile());
    }
}
