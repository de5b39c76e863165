package dev.berth.cli.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.agent.node.EvictionThreshold;
import dev.berth.agent.node.NodeSettings;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The Node's keys of the [agent] table and their flags. */
class AgentNodeConfigTest {
    private static BerthConfig.Agent parse(String toml) {
        return ConfigLoader.parse(toml, BerthConfig.Overrides.none(), "test.toml").agent();
    }

    private static String error(String toml) {
        return assertThrows(ConfigException.class, () -> parse(toml)).getMessage();
    }

    @Test
    void theNodesKeysDefaultToTheKubelets() {
        BerthConfig.Agent a = parse("");
        assertEquals(NodeSettings.defaults(), a.node());
        assertFalse(a.inCluster());
        assertEquals(110, a.node().maxPods());
        assertEquals(EvictionThreshold.DEFAULTS, a.node().evictionHard());
        assertEquals(Duration.ofSeconds(10), a.node().statusUpdateFrequency());
        assertEquals(Duration.ofMinutes(5), a.node().statusReportFrequency());
    }

    @Test
    void theNodesKeysAreRead() {
        BerthConfig.Agent a = parse("""
                [agent]
                in_cluster = true
                node_labels = { "example.com/role" = "edge", zone = "a" }
                register_with_taints = ["dedicated=edge:NoSchedule"]
                node_ip = "10.0.0.5, fd00::5"
                max_pods = 250
                system_reserved = { cpu = "500m", memory = "1Gi", pid = 1000 }
                kube_reserved = { "ephemeral-storage" = "2Gi" }
                eviction_hard = { "memory.available" = "500Mi", "pid.available" = "5%" }
                node_status_update_frequency = "20s"
                node_status_report_frequency = "1m"
                """);
        NodeSettings n = a.node();
        assertTrue(a.inCluster());
        assertEquals(Map.of("example.com/role", "edge", "zone", "a"), n.labels());
        assertEquals(List.of("dedicated=edge:NoSchedule"), n.registerWithTaints());
        assertEquals(List.of("10.0.0.5", "fd00::5"), n.nodeIps());
        assertEquals(250, n.maxPods());
        assertEquals(Map.of("cpu", "500m", "memory", "1Gi", "pid", "1000"), n.systemReserved());
        assertEquals(Map.of("ephemeral-storage", "2Gi"), n.kubeReserved());
        assertEquals(Map.of("memory.available", "500Mi", "pid.available", "5%"), n.evictionHard(), "a table replaces the defaults whole");
        assertEquals(Duration.ofSeconds(20), n.statusUpdateFrequency());
        assertEquals(Duration.ofMinutes(1), n.statusReportFrequency());
    }

    @Test
    void badValuesAreRefusedNamingTheirKey() {
        String q = error("[agent]\nsystem_reserved = { memory = \"12Q\" }");
        assertTrue(q.startsWith("config key 'agent.system_reserved'") && q.contains("12Q"), q);
        assertTrue(error("[agent]\nkube_reserved = { gpu = \"1\" }").startsWith("config key 'agent.kube_reserved'"));
        assertTrue(error("[agent]\neviction_hard = { \"memory.free\" = \"1Mi\" }").startsWith("config key 'agent.eviction_hard'"));
        assertTrue(error("[agent]\neviction_hard = { \"nodefs.available\" = \"200%\" }").startsWith("config key 'agent.eviction_hard'"));
        String dotted = error("[agent]\neviction_hard = { memory.available = \"1Mi\" }");
        assertTrue(dotted.contains("'agent.eviction_hard'") && dotted.contains("quote keys"), dotted);
        assertTrue(error("[agent]\nregister_with_taints = [\"a=b\"]").startsWith("config key 'agent.register_with_taints'"));
        assertTrue(error("[agent]\nnode_labels = { \"bad key\" = \"x\" }").startsWith("config key 'agent.node_labels'"));
        assertTrue(error("[agent]\nnode_ip = \"host.example\"").startsWith("config key 'agent.node_ip'"));
        assertTrue(error("[agent]\nmax_pods = 0").contains("'agent.max_pods'"));
        assertTrue(error("[agent]\nnode_status_update_frequency = \"0s\"").startsWith("config key 'agent.node_status_update_frequency'"));
        assertTrue(error("[agent]\nnode_status_report_frequency = \"1s\"").startsWith("config key 'agent.node_status_report_frequency'"));
        assertTrue(error("[agent]\nnode_labels = [\"a\"]").contains("must be a table of strings"));
        assertTrue(error("[agent]\nkubeconfig = \"/etc/k\"\nin_cluster = true").contains("exclude each other"));
        assertTrue(error("[agent]\nnode_ip_typo = \"x\"").contains("unknown config key 'agent.node_ip_typo'"));
    }

    @Test
    void theNodesFlagsWinOverTheFile() {
        BerthConfig.Agent a = parse("[agent]\nnode_ip = \"10.0.0.5\"\nmax_pods = 250\nnode_labels = { a = \"1\" }\n"
                + "system_reserved = { cpu = \"1\" }\n");
        BerthConfig.Agent f = a.withNodeFlags("10.0.0.9", Map.of("b", "2"), List.of("x:NoExecute"), 30, true);
        assertEquals(List.of("10.0.0.9"), f.node().nodeIps());
        assertEquals(Map.of("b", "2"), f.node().labels());
        assertEquals(List.of("x:NoExecute"), f.node().registerWithTaints());
        assertEquals(30, f.node().maxPods());
        assertEquals(Map.of("cpu", "1"), f.node().systemReserved(), "what has no flag stays");
        assertTrue(f.inCluster());
        BerthConfig.Agent none = a.withNodeFlags(null, null, null, null, false);
        assertEquals(a, none);
        String bad = assertThrows(ConfigException.class, () -> a.withNodeFlags("not-an-ip", null, null, null, false)).getMessage();
        assertTrue(bad.startsWith("option --node-ip"), bad);
        assertTrue(assertThrows(ConfigException.class, () -> a.withNodeFlags(null, null, List.of("a"), null, false)).getMessage()
                .startsWith("option --register-with-taints"));
        assertThrows(ConfigException.class, () -> a.withFlags(null, null, Path.of("/k"), null).withNodeFlags(null, null, null, null, true));

        BerthConfig.Agent r = a.withNodeFlags(null, null, null, null, false, Map.of("memory", "1Gi"), Map.of("cpu", "200m"),
                "memory.available<200Mi,nodefs.available<5%", "30s");
        assertEquals(Map.of("memory", "1Gi"), r.node().systemReserved());
        assertEquals(Map.of("cpu", "200m"), r.node().kubeReserved());
        assertEquals(Map.of("memory.available", "200Mi", "nodefs.available", "5%"), r.node().evictionHard());
        assertEquals(Duration.ofSeconds(30), r.node().statusUpdateFrequency());
        assertTrue(assertThrows(ConfigException.class, () -> a.withNodeFlags(null, null, null, null, false, Map.of("memory", "lots"), null,
                null, null)).getMessage().startsWith("option --system-reserved"));
        assertTrue(assertThrows(ConfigException.class, () -> a.withNodeFlags(null, null, null, null, false, null, null,
                "memory.available=1Mi", null)).getMessage().startsWith("option --eviction-hard"));
        assertTrue(assertThrows(ConfigException.class, () -> a.withNodeFlags(null, null, null, null, false, null, null,
                "memory.free<1Mi", null)).getMessage().startsWith("option --eviction-hard"));
        assertTrue(assertThrows(ConfigException.class, () -> a.withNodeFlags(null, null, null, null, false, null, null, null, "often"))
                .getMessage().startsWith("option --node-status-update-frequency"));
    }
}
