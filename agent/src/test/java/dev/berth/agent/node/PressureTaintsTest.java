package dev.berth.agent.node;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.fabric8.kubernetes.api.model.NodeCondition;
import io.fabric8.kubernetes.api.model.Taint;
import io.fabric8.kubernetes.api.model.TaintBuilder;
import java.time.Instant;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The pressure conditions' taints: put on while True, taken off when not, everyone else's kept. */
class PressureTaintsTest {
    private static final NodeStatusMaker.RuntimeState READY = new NodeStatusMaker.RuntimeState("fake://0", List.of());

    private static List<NodeCondition> conditions(Set<String> pressure) {
        return NodeStatusMaker.conditions(List.of(), pressure, READY, Instant.EPOCH);
    }

    private static List<String> keys(List<Taint> taints) {
        return taints.stream().map(t -> t.getKey() + (t.getValue() == null ? "" : "=" + t.getValue()) + ":" + t.getEffect()).toList();
    }

    @Test
    void eachTruePressureConditionHasItsNoScheduleTaintAndOthersTaintsStay() {
        Taint own = new TaintBuilder().withKey("dedicated").withValue("db").withEffect("NoSchedule").build();
        Taint executeSameKey = new TaintBuilder().withKey("node.kubernetes.io/disk-pressure").withEffect("NoExecute").build();
        List<Taint> pressed = NodeController.pressureTaints(List.of(own, executeSameKey), conditions(Set.of("MemoryPressure", "PIDPressure")));
        assertEquals(List.of("dedicated=db:NoSchedule", "node.kubernetes.io/disk-pressure:NoExecute",
                "node.kubernetes.io/memory-pressure:NoSchedule", "node.kubernetes.io/pid-pressure:NoSchedule"), keys(pressed));
        List<Taint> disk = NodeController.pressureTaints(pressed, conditions(Set.of("DiskPressure")));
        assertEquals(List.of("dedicated=db:NoSchedule", "node.kubernetes.io/disk-pressure:NoExecute",
                "node.kubernetes.io/disk-pressure:NoSchedule"), keys(disk));
        assertEquals(List.of("dedicated=db:NoSchedule", "node.kubernetes.io/disk-pressure:NoExecute"),
                keys(NodeController.pressureTaints(disk, conditions(Set.of()))));
        assertEquals(List.of(), NodeController.pressureTaints(null, conditions(Set.of())));
    }

    @Test
    void pressureConditionsCarryTheKubeletsReasons() {
        List<NodeCondition> c = conditions(Set.of("DiskPressure"));
        assertEquals(List.of("KubeletHasSufficientMemory", "KubeletHasDiskPressure", "KubeletHasSufficientPID", "KubeletReady"),
                c.stream().map(NodeCondition::getReason).toList());
        assertEquals(List.of("False", "True", "False", "True"), c.stream().map(NodeCondition::getStatus).toList());
    }
}
