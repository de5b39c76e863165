package dev.berth.cli.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.agent.eviction.EvictionSettings;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The eviction keys of the [agent] table and the kubelet's eviction flags. */
class AgentEvictionConfigTest {
    private static BerthConfig.Agent parse(String toml) {
        return ConfigLoader.parse(toml, BerthConfig.Overrides.none(), "test.toml").agent();
    }

    private static String error(String toml) {
        return assertThrows(ConfigException.class, () -> parse(toml)).getMessage();
    }

    @Test
    void theKeysDefaultToTheKubeletsAndAreRead() {
        assertEquals(EvictionSettings.defaults(), parse("").eviction());
        BerthConfig.Agent a = parse("""
                [agent]
                eviction_soft = { "memory.available" = "1Gi" }
                eviction_soft_grace_period = { "memory.available" = "1m30s" }
                eviction_max_pod_grace_period = 60
                eviction_pressure_transition_period = "30s"
                eviction_minimum_reclaim = { "memory.available" = "100Mi", "nodefs.available" = "1%" }
                housekeeping_interval = "2s"
                """);
        EvictionSettings e = a.eviction();
        assertEquals(Map.of("memory.available", "1Gi"), e.soft());
        assertEquals(Map.of("memory.available", Duration.ofSeconds(90)), e.softGracePeriod());
        assertEquals(60, e.maxPodGracePeriodSeconds());
        assertEquals(Duration.ofSeconds(30), e.pressureTransitionPeriod());
        assertEquals(Map.of("memory.available", "100Mi", "nodefs.available", "1%"), e.minimumReclaim());
        assertEquals(Duration.ofSeconds(2), e.housekeepingInterval());
        assertEquals(e, a.withFlags(null, null, null, null).withNodeFlags(null, null, null, null, false).withClusterDnsFlags(null, null)
                .eviction(), "kept through the other flags");
    }

    @Test
    void flagsWinAndMistakesNameTheirSetting() {
        BerthConfig.Agent a = parse("[agent]\neviction_max_pod_grace_period = 60\n").withEvictionFlags("memory.available<2Gi,nodefs.available<15%",
                "memory.available=1m,nodefs.available=2m", null, "1m", "memory.available=0Mi", "500ms");
        EvictionSettings e = a.eviction();
        assertEquals(Map.of("memory.available", "2Gi", "nodefs.available", "15%"), e.soft());
        assertEquals(Map.of("memory.available", Duration.ofMinutes(1), "nodefs.available", Duration.ofMinutes(2)), e.softGracePeriod());
        assertEquals(60, e.maxPodGracePeriodSeconds());
        assertEquals(Duration.ofMinutes(1), e.pressureTransitionPeriod());
        assertEquals(Duration.ofMillis(500), e.housekeepingInterval());

        String m = error("[agent]\neviction_soft = { \"memory.available\" = \"1Gi\" }\n");
        assertTrue(m.startsWith("config key 'agent.eviction_soft_grace_period'"), m);
        m = error("[agent]\neviction_minimum_reclaim = { \"memory.free\" = \"1Gi\" }\n");
        assertTrue(m.startsWith("config key 'agent.eviction_minimum_reclaim'"), m);
        m = assertThrows(ConfigException.class, () -> parse("").withEvictionFlags("memory.available<1Gi", null, null, null, null, null))
                .getMessage();
        assertTrue(m.startsWith("option --eviction-soft-grace-period"), m);
        m = assertThrows(ConfigException.class, () -> parse("").withEvictionFlags("memory.available=1Gi", null, null, null, null, null))
                .getMessage();
        assertTrue(m.startsWith("option --eviction-soft must be pairs"), m);
    }
}
