package dev.berth.cli.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.agent.gc.GcSettings;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** Garbage collection: the kubelet's defaults, the [agent] keys, the kubelet's flags over them, and its checks. */
class AgentGcConfigTest {
    private static BerthConfig.Agent agent(String toml) {
        return ConfigLoader.parse(toml, BerthConfig.Overrides.none(), "test.toml").agent();
    }

    @Test
    void theKubeletsDefaultsWithoutKeys() {
        assertEquals(GcSettings.defaults(), agent("").gc());
    }

    @Test
    void keysAreReadAndTheKubeletsFlagsWin() {
        BerthConfig.Agent a = agent("[agent]\nimage_gc_high_threshold = 70\nimage_gc_low_threshold = 50\nimage_minimum_gc_age = \"1m\"\n"
                + "image_maximum_gc_age = \"2h\"\nmaximum_dead_containers_per_container = 2\nmaximum_dead_containers = 100\n"
                + "minimum_container_ttl_duration = \"30s\"\ncontainer_gc_period = \"2s\"\nimage_gc_period = \"3s\"\n");
        assertEquals(new GcSettings(70, 50, Duration.ofMinutes(1), Duration.ofHours(2), 2, 100, Duration.ofSeconds(30),
                Duration.ofSeconds(2), Duration.ofSeconds(3)), a.gc());
        BerthConfig.Agent flagged = a.withGcFlags(90, 60, "3m", "0s", -1, 5, "1m");
        assertEquals(new GcSettings(90, 60, Duration.ofMinutes(3), Duration.ZERO, -1, 5, Duration.ofMinutes(1),
                Duration.ofSeconds(2), Duration.ofSeconds(3)), flagged.gc());
        assertEquals(a, a.withGcFlags(null, null, null, null, null, null, null));
    }

    @Test
    void aLowThresholdNotBelowTheHighOneIsRefusedNamingTheSetting() {
        String message = assertThrows(ConfigException.class, () -> agent("[agent]\nimage_gc_low_threshold = 90\n")).getMessage();
        assertTrue(message.contains("'agent.image_gc_low_threshold' must be less than image_gc_high_threshold"), message);
        message = assertThrows(ConfigException.class, () -> agent("").withGcFlags(null, null, "5m", "1m", null, null, null)).getMessage();
        assertTrue(message.contains("option --image-maximum-gc-age must be 0 (off) or longer"), message);
        message = assertThrows(ConfigException.class, () -> agent("").withGcFlags(null, null, "soon", null, null, null, null)).getMessage();
        assertTrue(message.contains("option --image-minimum-gc-age must be a duration"), message);
        assertThrows(ConfigException.class, () -> agent("[agent]\nimage_gc_high_threshold = 101\n"));
    }
}
