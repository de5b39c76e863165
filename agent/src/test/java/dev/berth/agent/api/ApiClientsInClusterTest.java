package dev.berth.agent.api;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ApiClientsInClusterTest {
    @TempDir
    Path dir;

    @Test
    void inClusterConfigurationNeedsTheServiceEnvironmentAndTheAccountsToken() throws Exception {
        Path token = Files.writeString(dir.resolve("token"), "t");
        ApiClients.requireInCluster(Map.of("KUBERNETES_SERVICE_HOST", "10.96.0.1", "KUBERNETES_SERVICE_PORT", "443"), token);
        String m = assertThrows(IllegalArgumentException.class, () -> ApiClients.requireInCluster(Map.of(), token)).getMessage();
        assertTrue(m.startsWith("not running in a cluster") && m.contains("KUBERNETES_SERVICE_HOST"), m);
        assertThrows(IllegalArgumentException.class, () -> ApiClients.requireInCluster(
                Map.of("KUBERNETES_SERVICE_HOST", "10.96.0.1", "KUBERNETES_SERVICE_PORT", "443"), dir.resolve("absent")));
    }
}
