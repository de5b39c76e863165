package dev.berth.cli.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The cluster's DNS for ClusterFirst pods: none by default, IP addresses and a DNS domain when given, flags over keys. */
class AgentClusterDnsConfigTest {
    private static BerthConfig.Agent agent(String toml) {
        return ConfigLoader.parse(toml, BerthConfig.Overrides.none(), "test.toml").agent();
    }

    @Test
    void noClusterDnsByDefault() {
        BerthConfig.Agent a = agent("");
        assertEquals(List.of(), a.clusterDns());
        assertEquals("", a.clusterDomain());
    }

    @Test
    void keysAreReadAndTheKubeletsFlagsWin() {
        BerthConfig.Agent a = agent("[agent]\ncluster_dns = [\"10.96.0.10\", \"fd00::a\"]\ncluster_domain = \"cluster.local\"\n");
        assertEquals(List.of("10.96.0.10", "fd00::a"), a.clusterDns());
        assertEquals("cluster.local", a.clusterDomain());
        BerthConfig.Agent flagged = a.withClusterDnsFlags("10.0.0.10,10.0.0.11", "k8s.example");
        assertEquals(List.of("10.0.0.10", "10.0.0.11"), flagged.clusterDns());
        assertEquals("k8s.example", flagged.clusterDomain());
        assertEquals(a, a.withClusterDnsFlags(null, null));
    }

    @Test
    void serversMustBeAddressesAndTheDomainADomain() {
        for (String bad : new String[] {"dns.example", "cafe", "10.0.0", "300.1.1.1"}) {
            String message = assertThrows(ConfigException.class, () -> agent("[agent]\ncluster_dns = [\"" + bad + "\"]\n")).getMessage();
            assertTrue(message.contains("'agent.cluster_dns' must list IP addresses"), bad + ": " + message);
        }
        String message = assertThrows(ConfigException.class, () -> agent("[agent]\ncluster_domain = \"Cluster Local\"\n")).getMessage();
        assertTrue(message.contains("'agent.cluster_domain' must be a DNS domain"), message);
    }
}
