package dev.berth.agent.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fabric8.kubernetes.api.model.NodeCondition;
import io.fabric8.kubernetes.api.model.NodeStatus;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class NodeStatusMakerTest {
    private static final long GI = 1L << 30;
    private static final MachineFacts FACTS = new MachineFacts(4, 16 * GI, Map.of("hugepages-2Mi", GI), "6.1.0", "Test OS", "m", "", "b", "amd64");
    private static final NodeStatusMaker.RuntimeState READY = new NodeStatusMaker.RuntimeState("berth://0.1.0", List.of());
    private static final MachineUsage CALM = new MachineUsage(8 * GI, 16 * GI, new MachineUsage.Fs(100 * GI, 50 * GI, 1000, 900),
            new MachineUsage.Fs(100 * GI, 50 * GI, 1000, 900), 30000, 32768);

    @Test
    void allocatableIsCapacityLessReservationsThresholdsAndHugepages() {
        Map<String, Long> capacity = NodeStatusMaker.capacity(FACTS, 100 * GI, 110);
        assertEquals(Map.of("cpu", 4000L, "memory", 16 * GI, "ephemeral-storage", 100 * GI, "pods", 110L, "hugepages-2Mi", GI), capacity);
        Map<String, Long> a = NodeStatusMaker.allocatable(capacity,
                NodeSettings.reservation("system_reserved", Map.of("cpu", "100m", "memory", "1Gi", "pid", "100")),
                NodeSettings.reservation("kube_reserved", Map.of("cpu", "200m", "memory", "512Mi", "ephemeral-storage", "1Gi")),
                NodeSettings.defaults().thresholds());
        assertEquals(3700L, a.get("cpu"));
        assertEquals(16 * GI - GI - GI / 2 - (100L << 20) - GI, a.get("memory"), "less both reservations, memory.available and hugepages");
        assertEquals(100 * GI - GI - 10 * GI, a.get("ephemeral-storage"), "less kube_reserved and nodefs.available's 10%");
        assertEquals(110L, a.get("pods"));
        assertEquals(GI, a.get("hugepages-2Mi"));
        assertEquals("3700m", NodeStatusMaker.quantities(a).get("cpu").toString());
        assertEquals("1Gi", NodeStatusMaker.quantities(a).get("hugepages-2Mi").toString());

        Map<String, Long> none = NodeStatusMaker.allocatable(capacity, NodeSettings.reservation("system_reserved", Map.of("cpu", "8", "memory", "64Gi")),
                Map.of(), Map.of());
        assertEquals(0L, none.get("cpu"), "never below zero");
        assertEquals(0L, none.get("memory"));
    }

    @Test
    void pressureConditionsFollowTheThresholdsWithTheKubeletsReasons() {
        Map<String, EvictionThreshold> t = NodeSettings.defaults().thresholds();
        Instant now = Instant.parse("2026-01-01T10:00:00Z");
        List<NodeCondition> calm = NodeStatusMaker.conditions(List.of(), CALM, t, READY, now);
        assertEquals(List.of("MemoryPressure", "DiskPressure", "PIDPressure", "Ready"), calm.stream().map(NodeCondition::getType).toList());
        assertEquals(List.of("False", "False", "False", "True"), calm.stream().map(NodeCondition::getStatus).toList());
        assertEquals(List.of("KubeletHasSufficientMemory", "KubeletHasNoDiskPressure", "KubeletHasSufficientPID", "KubeletReady"),
                calm.stream().map(NodeCondition::getReason).toList());
        assertEquals("kubelet is posting ready status", calm.get(3).getMessage());
        assertEquals("2026-01-01T10:00:00Z", calm.get(0).getLastTransitionTime());

        MachineUsage tight = new MachineUsage(50L << 20, 16 * GI, new MachineUsage.Fs(100 * GI, 20 * GI, 1000, 900),
                new MachineUsage.Fs(100 * GI, 14 * GI, 1000, 900), 10, 32768);
        Map<String, EvictionThreshold> withPid = new java.util.HashMap<>(t);
        withPid.put("pid.available", EvictionThreshold.parse("pid.available", "100"));
        Instant later = now.plusSeconds(10);
        List<NodeCondition> pressed = NodeStatusMaker.conditions(calm, tight, withPid, READY, later);
        assertEquals(List.of("True", "True", "True", "True"), pressed.stream().map(NodeCondition::getStatus).toList());
        assertEquals(List.of("KubeletHasInsufficientMemory", "KubeletHasDiskPressure", "KubeletHasInsufficientPID", "KubeletReady"),
                pressed.stream().map(NodeCondition::getReason).toList());
        assertEquals("2026-01-01T10:00:10Z", pressed.get(1).getLastTransitionTime(), "imagefs below 15%: disk pressure from now");
        assertEquals("2026-01-01T10:00:00Z", pressed.get(3).getLastTransitionTime(), "Ready did not change: its transition stays");
        assertEquals("2026-01-01T10:00:10Z", pressed.get(3).getLastHeartbeatTime());

        MachineUsage inodes = new MachineUsage(8 * GI, 16 * GI, new MachineUsage.Fs(100 * GI, 50 * GI, 1000, 40), CALM.imagefs(), 30000, 32768);
        assertEquals("True", NodeStatusMaker.conditions(List.of(), inodes, t, READY, now).get(1).getStatus(), "nodefs.inodesFree below 5%");
        MachineUsage unknown = new MachineUsage(-1, 16 * GI, MachineUsage.Fs.UNKNOWN, MachineUsage.Fs.UNKNOWN, -1, -1);
        assertEquals(List.of("False", "False", "False", "True"),
                NodeStatusMaker.conditions(List.of(), unknown, withPid, READY, now).stream().map(NodeCondition::getStatus).toList(),
                "what was not measured is no pressure");
        assertEquals("False", NodeStatusMaker.conditions(List.of(), tight, Map.of(), READY, now).get(0).getStatus(), "no threshold, no pressure");
    }

    @Test
    void readyIsFalseWithTheRuntimesWords() {
        NodeStatusMaker.RuntimeState down = new NodeStatusMaker.RuntimeState("", List.of(
                "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:no CNI config"));
        NodeCondition ready = NodeStatusMaker.conditions(List.of(), CALM, Map.of(), down, Instant.EPOCH).get(3);
        assertEquals("False", ready.getStatus());
        assertEquals("KubeletNotReady", ready.getReason());
        assertEquals("container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:no CNI config", ready.getMessage());
        NodeStatusMaker.RuntimeState both = new NodeStatusMaker.RuntimeState("", List.of("a", "b"));
        assertEquals("[a, b]", NodeStatusMaker.conditions(List.of(), CALM, Map.of(), both, Instant.EPOCH).get(3).getMessage());
    }

    @Test
    void theStatusCarriesNodeInfoAddressesAndChangesOnlyWithMoreThanHeartbeats() {
        Map<String, Long> capacity = NodeStatusMaker.capacity(FACTS, 100 * GI, 110);
        Map<String, Long> alloc = NodeStatusMaker.allocatable(capacity, Map.of(), Map.of(), Map.of());
        Instant now = Instant.parse("2026-01-01T10:00:00Z");
        List<NodeCondition> c1 = NodeStatusMaker.conditions(List.of(), CALM, Map.of(), READY, now);
        NodeStatus s1 = NodeStatusMaker.status("n1", FACTS, capacity, alloc, c1, List.of("10.0.0.5"), READY);
        assertEquals("berth://0.1.0", s1.getNodeInfo().getContainerRuntimeVersion());
        assertEquals("linux", s1.getNodeInfo().getOperatingSystem());
        assertEquals("amd64", s1.getNodeInfo().getArchitecture());
        assertTrue(s1.getNodeInfo().getKubeletVersion().matches("v1\\.36\\.[0-9]+(\\+[0-9A-Za-z.-]+)?"), s1.getNodeInfo().getKubeletVersion());
        assertEquals(0, s1.getDaemonEndpoints().getKubeletEndpoint().getPort());
        assertEquals(List.of("InternalIP=10.0.0.5", "Hostname=n1"), s1.getAddresses().stream().map(a -> a.getType() + "=" + a.getAddress()).toList());

        List<NodeCondition> c2 = NodeStatusMaker.conditions(c1, CALM, Map.of(), READY, now.plusSeconds(10));
        NodeStatus s2 = NodeStatusMaker.status("n1", FACTS, capacity, alloc, c2, List.of("10.0.0.5"), READY);
        assertFalse(NodeStatusMaker.changed(s1, s2), "only heartbeats moved");
        NodeStatusMaker.RuntimeState down = new NodeStatusMaker.RuntimeState("berth://0.1.0", List.of("container runtime is down"));
        NodeStatus s3 = NodeStatusMaker.status("n1", FACTS, capacity, alloc, NodeStatusMaker.conditions(c2, CALM, Map.of(), down, now.plusSeconds(20)),
                List.of("10.0.0.5"), down);
        assertTrue(NodeStatusMaker.changed(s2, s3));
        assertTrue(NodeStatusMaker.changed(null, s1));
    }

    @Test
    void theRuntimesHandlersAndFeaturesAreReportedAsTheKubeletReportsThem() {
        Map<String, Long> capacity = NodeStatusMaker.capacity(FACTS, 100 * GI, 110);
        Instant now = Instant.parse("2026-01-01T10:00:00Z");
        NodeStatusMaker.RuntimeState runtime = new NodeStatusMaker.RuntimeState("berth://0.1.0", List.of(),
                List.of(new NodeStatusMaker.Handler("", true, true), new NodeStatusMaker.Handler("runc", true, true),
                        new NodeStatusMaker.Handler("kata", false, false)), true);
        NodeStatus s = NodeStatusMaker.status("n1", FACTS, capacity, capacity, NodeStatusMaker.conditions(List.of(), CALM, Map.of(), runtime, now),
                List.of(), runtime);
        assertEquals(List.of("=true/true", "runc=true/true", "kata=false/false"), s.getRuntimeHandlers().stream()
                .map(h -> h.getName() + "=" + h.getFeatures().getRecursiveReadOnlyMounts() + "/" + h.getFeatures().getUserNamespaces()).toList());
        assertEquals(Boolean.TRUE, s.getFeatures().getSupplementalGroupsPolicy());

        NodeStatus silent = NodeStatusMaker.status("n1", FACTS, capacity, capacity, List.of(), List.of(), READY);
        assertTrue(silent.getRuntimeHandlers().isEmpty());
        assertEquals(null, silent.getFeatures(), "a runtime that says nothing of the policy: no features reported");
        assertTrue(NodeStatusMaker.changed(silent, s), "a handler appearing is a change worth writing");
    }
}
