package dev.berth.cli.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.agent.pod.RestartSettings;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** The crash back-off keys: the kubelet's 10 s, 5 min and 10 min by default, shorter ones for tests, nonsense refused. */
class AgentRestartConfigTest {
    private static BerthConfig.Agent agent(String toml) {
        return ConfigLoader.parse(toml, BerthConfig.Overrides.none(), "test.toml").agent();
    }

    @Test
    void theKubeletsBackOffByDefault() {
        assertEquals(new RestartSettings(Duration.ofSeconds(10), Duration.ofMinutes(5), Duration.ofMinutes(10)), agent("").restart());
    }

    @Test
    void configuredTimesAndAResetOfTwiceTheMaxUnlessGiven() {
        RestartSettings r = agent("[agent]\nrestart_backoff_initial = \"1s\"\nrestart_backoff_max = \"4s\"\n").restart();
        assertEquals(new RestartSettings(Duration.ofSeconds(1), Duration.ofSeconds(4), Duration.ofSeconds(8)), r);
        assertEquals(Duration.ofMinutes(1), agent("[agent]\nrestart_backoff_reset = \"1m\"\n").restart().reset());
        // the flags keep them
        assertEquals(r, agent("[agent]\nrestart_backoff_initial = \"1s\"\nrestart_backoff_max = \"4s\"\n")
                .withFlags("n1", null, null, null).withClusterDnsFlags(null, null).restart());
    }

    @Test
    void aMaxBelowTheInitialOrAZeroWaitIsRefused() {
        String message = assertThrows(ConfigException.class,
                () -> agent("[agent]\nrestart_backoff_initial = \"1m\"\nrestart_backoff_max = \"10s\"\n")).getMessage();
        assertTrue(message.contains("'agent.restart_backoff_max' must not be shorter than restart_backoff_initial"), message);
        message = assertThrows(ConfigException.class, () -> agent("[agent]\nrestart_backoff_initial = \"0s\"\n")).getMessage();
        assertTrue(message.contains("'agent.restart_backoff_initial' must be positive"), message);
    }
}
