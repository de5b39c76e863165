package dev.berth.cli.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The [network] section: documented defaults, overrides and rejected values. */
class NetworkConfigTest {
    private static BerthConfig.Network network(String toml) {
        return ConfigLoader.parse(toml, BerthConfig.Overrides.none(), "test.toml").network();
    }

    @Test
    void defaultsAreTheDocumentedOnes() {
        BerthConfig.Network n = network("root = \"/srv/berth\"\n");
        assertEquals(Path.of("/etc/cni/net.d"), n.cniConfigDir());
        assertEquals(List.of(Path.of("/opt/cni/bin"), Path.of("/usr/lib/cni")), n.cniBinDirs());
        assertTrue(n.defaultNetwork());
        assertEquals("10.88.0.0/16", n.defaultSubnet());
        assertEquals("berth0", n.defaultBridge());
        assertEquals(Duration.ofMinutes(1), n.pluginTimeout());
        assertEquals(Path.of("/srv/berth/cni/results"), n.cacheDir());
        assertEquals(Path.of("/srv/berth/cni/ipam"), n.ipamDataDir());
        assertEquals(Duration.ofSeconds(30), n.masqueradeLinger());
    }

    @Test
    void everyKeyCanBeSet() {
        BerthConfig.Network n = network("""
                [network]
                cni_config_dir = "/x/net.d"
                cni_bin_dirs = ["/x/bin"]
                default_network = false
                default_subnet = "fd00:88::/64"
                default_bridge = "pods0"
                plugin_timeout = "30s"
                cache_dir = "/x/cache"
                masquerade_linger = "0s"
                """);
        assertEquals(Path.of("/x/net.d"), n.cniConfigDir());
        assertEquals(List.of(Path.of("/x/bin")), n.cniBinDirs());
        assertFalse(n.defaultNetwork());
        assertEquals("fd00:88::/64", n.defaultSubnet());
        assertEquals("pods0", n.defaultBridge());
        assertEquals(Duration.ofSeconds(30), n.pluginTimeout());
        assertEquals(Path.of("/x/cache"), n.cacheDir());
        assertEquals(Duration.ZERO, n.masqueradeLinger());
    }

    @Test
    void badValuesNameTheKey() {
        for (String[] c : new String[][] {
            {"default_subnet = \"10.88.0.0\"", "network.default_subnet"},
            {"default_bridge = \"a-bridge-name-too-long\"", "network.default_bridge"},
            {"plugin_timeout = \"0s\"", "network.plugin_timeout"},
            {"masquerade_linger = \"-1s\"", "network.masquerade_linger"},
            {"cache_dir = \"relative\"", "cache_dir"},
            {"default_network = \"yes\"", "network.default_network"}}) {
            ConfigException e = assertThrows(ConfigException.class, () -> network("[network]\n" + c[0] + "\n"));
            assertTrue(e.getMessage().contains(c[1]), e.getMessage());
        }
    }
}
