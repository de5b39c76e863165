package dev.berth.cli.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.agent.server.ServerSettings;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The HTTP API's keys and the kubelet's flags: the kubelet's defaults, keys read, flags over keys, bad values named. */
class AgentServerConfigTest {
    private static ServerSettings server(String toml) {
        return ConfigLoader.parse(toml, BerthConfig.Overrides.none(), "test.toml").agent().server();
    }

    @Test
    void theKubeletsDefaults() {
        ServerSettings s = server("");
        assertEquals("0.0.0.0", s.address());
        assertEquals(10250, s.port());
        assertEquals(0, s.effectiveReadOnlyPort(true), "off when connected");
        assertEquals(10255, s.effectiveReadOnlyPort(false), "on when standalone");
        assertEquals("127.0.0.1", s.readOnlyAddress(), "and on loopback only");
        assertTrue(s.tokenWebhook());
        assertEquals(ServerSettings.AuthorizationMode.WEBHOOK, s.authorization());
        assertEquals(false, s.anonymousAuth());
        assertNull(s.tlsCertFile());
    }

    @Test
    void keysAreReadAndFlagsWin() {
        ServerSettings s = server("[agent]\naddress = \"127.0.0.1\"\nport = 11250\nread_only_port = 0\n"
                + "tls_cert_file = \"/etc/c.crt\"\ntls_private_key_file = \"/etc/c.key\"\nclient_ca_file = \"/etc/ca.crt\"\n"
                + "authentication_token_webhook = false\nauthorization_mode = \"AlwaysAllow\"\nanonymous_auth = true\n");
        assertEquals(new ServerSettings("127.0.0.1", 11250, 0, Path.of("/etc/c.crt"), Path.of("/etc/c.key"), Path.of("/etc/ca.crt"), false,
                ServerSettings.AuthorizationMode.ALWAYS_ALLOW, true, null, null, null, null), s);
        assertEquals(0, s.effectiveReadOnlyPort(false), "an explicit 0 is off standalone too");
        ServerSettings f = AgentServerConfig.withFlags(s, "10.0.0.1", 10250, 10255, null, null, null, true, "Webhook", false);
        assertEquals("10.0.0.1", f.address());
        assertEquals(10255, f.effectiveReadOnlyPort(true));
        assertEquals("10.0.0.1", f.readOnlyAddress(), "an explicit read-only port listens on the address");
        assertEquals(ServerSettings.AuthorizationMode.WEBHOOK, f.authorization());
        assertEquals(Path.of("/etc/ca.crt"), f.clientCaFile());
        assertEquals(s, AgentServerConfig.withFlags(s, null, null, null, null, null, null, null, null, null));
    }

    @Test
    void badValuesAreNamed() {
        assertTrue(assertThrows(ConfigException.class, () -> server("[agent]\nauthorization_mode = \"RBAC\"\n")).getMessage()
                .contains("authorization_mode"));
        assertTrue(assertThrows(ConfigException.class, () -> server("[agent]\ntls_cert_file = \"/etc/c.crt\"\n")).getMessage()
                .contains("tls_cert_file"));
        assertTrue(assertThrows(ConfigException.class, () -> server("[agent]\nclient_ca_file = \"ca.crt\"\n")).getMessage()
                .contains("absolute"));
        assertTrue(assertThrows(ConfigException.class, () -> AgentServerConfig.withFlags(ServerSettings.defaults(), null, null, null, null,
                null, null, null, "Node", null)).getMessage().contains("--authorization-mode"));
    }
}
