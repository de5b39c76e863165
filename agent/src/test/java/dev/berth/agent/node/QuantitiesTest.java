package dev.berth.agent.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class QuantitiesTest {
    @Test
    void quantitiesAreReadInBaseUnitsRoundedUp() {
        assertEquals(100, Quantities.millis("100m"));
        assertEquals(1500, Quantities.millis("1.5"));
        assertEquals(2000, Quantities.millis("2"));
        assertEquals(1, Quantities.millis("1u"), "a fraction of a millicore rounds up, as MilliValue does");
        assertEquals(100L << 20, Quantities.units("100Mi"));
        assertEquals(1_000_000_000L, Quantities.units("1G"));
        assertEquals(1000, Quantities.units("1e3"));
        assertEquals(1536, Quantities.units("1.5Ki"));
        assertEquals(1, Quantities.units("1m"), "a thousandth of a byte rounds up to one");
        for (String bad : List.of("", "12Q", "Mi", "1.2.3", "ten", "-1")) {
            assertThrows(IllegalArgumentException.class, () -> Quantities.units(bad), bad);
        }
    }

    @Test
    void quantitiesAreWrittenInTheApisCanonicalForms() {
        assertEquals("2", Quantities.cpu(2000));
        assertEquals("1900m", Quantities.cpu(1900));
        assertEquals("16331876Ki", Quantities.bytes(16331876L * 1024));
        assertEquals("2Mi", Quantities.bytes(2L << 20));
        assertEquals("100", Quantities.bytes(100));
        assertEquals("0", Quantities.bytes(0));
        assertEquals("1025", Quantities.bytes(1025));
    }

    @Test
    void evictionThresholdsAreQuantitiesOrPercentages() {
        EvictionThreshold m = EvictionThreshold.parse("memory.available", "100Mi");
        assertEquals(100L << 20, m.value(1L << 40));
        assertTrue(m.met((100L << 20) - 1, 1L << 30));
        EvictionThreshold n = EvictionThreshold.parse("nodefs.available", "10%");
        assertEquals(100, n.value(1000));
        assertTrue(n.met(99, 1000));
        assertTrue(!n.met(100, 1000), "pressure only below the threshold");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> EvictionThreshold.parse("memory.free", "1Mi")).getMessage()
                .contains("not an eviction signal"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> EvictionThreshold.parse("nodefs.available", "120%")).getMessage()
                .contains("percentage"));
    }

    @Test
    void nodeSettingsRejectWhatTheKubeletRejectsNamingTheKey() {
        NodeSettings d = NodeSettings.defaults();
        assertEquals(110, d.maxPods());
        assertEquals(EvictionThreshold.DEFAULTS, d.evictionHard());
        assertEquals(List.of(new io.fabric8.kubernetes.api.model.TaintBuilder().withKey("dedicated").withValue("gpu").withEffect("NoSchedule").build(),
                new io.fabric8.kubernetes.api.model.TaintBuilder().withKey("example.com/x").withEffect("NoExecute").build()),
                with(Map.of(), List.of("dedicated=gpu:NoSchedule", "example.com/x:NoExecute"), List.of(), Map.of(), Map.of()).taints());
        assertTrue(error(Map.of(), List.of("a=b"), List.of(), Map.of(), Map.of()).startsWith("register_with_taints"));
        assertTrue(error(Map.of(), List.of("a=b:Sometimes"), List.of(), Map.of(), Map.of()).startsWith("register_with_taints"));
        assertTrue(error(Map.of("Bad Key", "x"), List.of(), List.of(), Map.of(), Map.of()).startsWith("node_labels"));
        assertTrue(error(Map.of(), List.of(), List.of("10.0.0.300"), Map.of(), Map.of()).startsWith("node_ip"));
        assertTrue(error(Map.of(), List.of(), List.of("10.0.0.1", "10.0.0.2"), Map.of(), Map.of()).startsWith("node_ip"));
        with(Map.of(), List.of(), List.of("10.0.0.1", "fd00::1"), Map.of(), Map.of()); // dual stack
        String q = error(Map.of(), List.of(), List.of(), Map.of("memory", "12Q"), Map.of());
        assertTrue(q.startsWith("system_reserved") && q.contains("memory") && q.contains("12Q"), q);
        assertTrue(error(Map.of(), List.of(), List.of(), Map.of("gpu", "1"), Map.of()).contains("cannot be reserved"));
        assertTrue(error(Map.of(), List.of(), List.of(), Map.of(), Map.of("nodefs.available", "x%")).startsWith("eviction_hard"));
    }

    private static NodeSettings with(Map<String, String> labels, List<String> taints, List<String> ips, Map<String, String> reserved,
                                     Map<String, String> eviction) {
        return new NodeSettings(labels, taints, ips, 110, reserved, Map.of(), eviction.isEmpty() ? EvictionThreshold.DEFAULTS : eviction,
                NodeSettings.DEFAULT_STATUS_UPDATE_FREQUENCY, NodeSettings.DEFAULT_STATUS_REPORT_FREQUENCY);
    }

    private static String error(Map<String, String> labels, List<String> taints, List<String> ips, Map<String, String> reserved,
                                Map<String, String> eviction) {
        return assertThrows(IllegalArgumentException.class, () -> with(labels, taints, ips, reserved, eviction)).getMessage();
    }
}
