package dev.berth.cli.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The [metrics] section: metrics.address. */
class MetricsConfigTest {
    private static BerthConfig.Metrics parse(String toml) {
        return ConfigLoader.parse(toml, BerthConfig.Overrides.none(), "test.toml").metrics();
    }

    @Test
    void defaultsToLoopbackPort9464() {
        BerthConfig.Metrics m = parse("");
        assertTrue(m.enabled());
        assertEquals("127.0.0.1", m.host());
        assertEquals(9464, m.port());
    }

    @Test
    void containerMeasurementsAreReusedForTenSecondsUnlessConfiguredAndTheFlagKeepsTheInterval() {
        assertEquals(java.time.Duration.ofSeconds(10), parse("").containerInterval());
        assertEquals(java.time.Duration.ofMillis(1500), parse("[metrics]\ncontainer_interval = \"1500ms\"\n").containerInterval());
        assertEquals(java.time.Duration.ZERO, parse("[metrics]\ncontainer_interval = \"0s\"\n").containerInterval());
        BerthConfig.Metrics flagged = ConfigLoader.parse("[metrics]\ncontainer_interval = \"3s\"\n",
                new BerthConfig.Overrides(null, null, null, null, null, "127.0.0.1:9999"), "test.toml").metrics();
        assertEquals(9999, flagged.port());
        assertEquals(java.time.Duration.ofSeconds(3), flagged.containerInterval());
        ConfigException bad = assertThrows(ConfigException.class, () -> parse("[metrics]\ncontainer_interval = \"soon\"\n"));
        assertTrue(bad.getMessage().contains("metrics.container_interval"), bad.getMessage());
    }

    @Test
    void anEmptyAddressTurnsTheEndpointOff() {
        assertFalse(parse("[metrics]\naddress = \"\"\n").enabled());
    }

    @Test
    void acceptsIpv4Ipv6NamesAndEveryInterface() {
        BerthConfig.Metrics v4 = parse("[metrics]\naddress = \"10.0.0.7:9100\"\n");
        assertEquals("10.0.0.7", v4.host());
        assertEquals(9100, v4.port());
        BerthConfig.Metrics v6 = parse("[metrics]\naddress = \"[::1]:9464\"\n");
        assertEquals("::1", v6.host());
        BerthConfig.Metrics name = parse("[metrics]\naddress = \"localhost:65535\"\n");
        assertEquals("localhost", name.host());
        assertEquals(65535, name.port());
        BerthConfig.Metrics all = parse("[metrics]\naddress = \":9464\"\n");
        assertEquals("", all.host());
        assertTrue(all.enabled());
    }

    @Test
    void badAddressesAreRejectedNamingTheKey() {
        String[][] cases = {
            {"9464", "must be host:port"},
            {"localhost", "must be host:port"},
            {"localhost:0", "port between 1 and 65535"},
            {"localhost:65536", "port between 1 and 65535"},
            {"localhost:http", "port between 1 and 65535"},
            {"localhost:", "port between 1 and 65535"},
            {"::1:9464", "IPv6 address in brackets"},
            {"[nothex]:9464", "invalid IPv6 address"},
            {"bad host:9464", "invalid host name"},
        };
        for (String[] c : cases) {
            ConfigException e = assertThrows(ConfigException.class, () -> parse("[metrics]\naddress = \"" + c[0] + "\"\n"), c[0]);
            assertTrue(e.getMessage().contains("'metrics.address'") && e.getMessage().contains(c[1]), c[0] + ": " + e.getMessage());
        }
        ConfigException type = assertThrows(ConfigException.class, () -> parse("[metrics]\naddress = 9464\n"));
        assertTrue(type.getMessage().contains("'metrics.address' must be a string"), type.getMessage());
        ConfigException unknown = assertThrows(ConfigException.class, () -> parse("[metrics]\nadress = \"127.0.0.1:1\"\n"));
        assertTrue(unknown.getMessage().contains("unknown config key 'metrics.adress'"), unknown.getMessage());
    }

    @Test
    void theCommandLineFlagWinsOverTheFile() {
        String file = "[metrics]\naddress = \"127.0.0.1:9100\"\n";
        BerthConfig.Metrics flag = ConfigLoader.parse(file,
                new BerthConfig.Overrides(null, null, null, null, null, "[::1]:9200"), "test.toml").metrics();
        assertEquals("::1", flag.host());
        assertEquals(9200, flag.port());
        assertFalse(ConfigLoader.parse(file, new BerthConfig.Overrides(null, null, null, null, null, ""), "test.toml")
                .metrics().enabled());
        ConfigException bad = assertThrows(ConfigException.class, () -> ConfigLoader.parse(file,
                new BerthConfig.Overrides(null, null, null, null, null, "9200"), "test.toml"));
        assertTrue(bad.getMessage().startsWith("option --metrics-address must be host:port"), bad.getMessage());
    }
}
