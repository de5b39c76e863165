package dev.berth.agent.eviction;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.agent.pod.KubeletKeys;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.Toleration;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Admission under node pressure, as the kubelet's eviction manager admits pods. */
class AdmissionTest {
    private static final Set<String> MEMORY = Set.of("MemoryPressure");
    private static final Set<String> DISK = Set.of("DiskPressure");
    private static final Set<String> PID = Set.of("PIDPressure");

    private static PodBuilder base(String name) {
        return new PodBuilder().withNewMetadata().withName(name).withNamespace("default").withUid("uid-" + name).endMetadata()
                .withNewSpec().addNewContainer().withName("c").withImage("img").endContainer().endSpec();
    }

    private static Pod bestEffort() {
        return base("be").build();
    }

    private static Pod burstable() {
        return base("bu").editSpec().editFirstContainer().withNewResources().withRequests(Map.of("memory", new Quantity("10Mi")))
                .endResources().endContainer().endSpec().build();
    }

    private static Pod guaranteed() {
        Map<String, Quantity> r = Map.of("memory", new Quantity("10Mi"), "cpu", new Quantity("100m"));
        return base("gu").editSpec().editFirstContainer().withNewResources().withRequests(r).withLimits(r).endResources().endContainer()
                .endSpec().build();
    }

    private static Pod tolerating(Toleration t) {
        return base("tol").editSpec().withTolerations(t).endSpec().build();
    }

    private static Toleration toleration(String key, String operator, String value, String effect) {
        Toleration t = new Toleration();
        t.setKey(key);
        t.setOperator(operator);
        t.setValue(value);
        t.setEffect(effect);
        return t;
    }

    private static boolean admitted(Pod pod, Set<String> conditions) {
        return Admission.refusal(pod, conditions).isEmpty();
    }

    @Test
    void withoutPressureEveryPodIsAdmitted() {
        for (Pod p : List.of(bestEffort(), burstable(), guaranteed())) {
            assertTrue(admitted(p, Set.of()), p.getMetadata().getName());
        }
    }

    @Test
    void underMemoryPressureOnlyBestEffortPodsAreRefusedWithTheKubeletsMessage() {
        assertEquals(Optional.of("The node had condition: [MemoryPressure]. "), Admission.refusal(bestEffort(), MEMORY));
        assertTrue(admitted(burstable(), MEMORY));
        assertTrue(admitted(guaranteed(), MEMORY));
    }

    @Test
    void underDiskOrPidPressureEveryPodIsRefused() {
        for (Set<String> c : List.of(DISK, PID)) {
            for (Pod p : List.of(bestEffort(), burstable(), guaranteed())) {
                assertEquals(Optional.of("The node had condition: [" + c.iterator().next() + "]. "), Admission.refusal(p, c));
            }
        }
    }

    @Test
    void memoryPressureWithAnotherConditionRefusesEveryPodAndNamesThemAll() {
        Set<String> both = new LinkedHashSet<>(List.of("DiskPressure", "MemoryPressure"));
        assertEquals(Optional.of("The node had condition: [MemoryPressure DiskPressure]. "), Admission.refusal(burstable(), both));
        assertFalse(admitted(guaranteed(), both));
        assertFalse(admitted(tolerating(toleration(Admission.MEMORY_PRESSURE_TAINT, "Exists", null, "NoSchedule")), both),
                "the memory-pressure toleration does not help under disk pressure");
    }

    @Test
    void criticalStaticAndMirrorPodsAreAdmittedUnderEveryPressure() {
        Pod critical = base("crit").editSpec().withPriority(EvictionManager.CRITICAL_PRIORITY).endSpec().build();
        Pod almost = base("almost").editSpec().withPriority(EvictionManager.CRITICAL_PRIORITY - 1).endSpec().build();
        Pod staticPod = base("static").editMetadata().addToAnnotations(KubeletKeys.CONFIG_SOURCE, KubeletKeys.SOURCE_FILE).endMetadata().build();
        Pod mirror = base("mirror").editMetadata().addToAnnotations("kubernetes.io/config.mirror", "abc").endMetadata().build();
        Set<String> all = Set.of("MemoryPressure", "DiskPressure", "PIDPressure");
        for (Pod p : List.of(critical, staticPod, mirror)) {
            assertTrue(admitted(p, all), p.getMetadata().getName());
        }
        assertFalse(admitted(almost, all));
    }

    @Test
    void aBestEffortPodToleratingTheMemoryPressureTaintIsAdmittedUnderMemoryPressure() {
        assertTrue(admitted(tolerating(toleration(Admission.MEMORY_PRESSURE_TAINT, "Exists", null, "NoSchedule")), MEMORY));
        assertTrue(admitted(tolerating(toleration(Admission.MEMORY_PRESSURE_TAINT, "Exists", null, null)), MEMORY), "any effect");
        assertTrue(admitted(tolerating(toleration(Admission.MEMORY_PRESSURE_TAINT, null, null, "NoSchedule")), MEMORY), "Equal, no value");
        assertTrue(admitted(tolerating(toleration(null, "Exists", null, null)), MEMORY), "tolerates everything");
        assertFalse(admitted(tolerating(toleration(Admission.MEMORY_PRESSURE_TAINT, "Exists", null, "NoExecute")), MEMORY), "another effect");
        assertFalse(admitted(tolerating(toleration(Admission.MEMORY_PRESSURE_TAINT, "Equal", "x", "NoSchedule")), MEMORY), "another value");
        assertFalse(admitted(tolerating(toleration("node.kubernetes.io/disk-pressure", "Exists", null, "NoSchedule")), MEMORY), "another key");
    }
}
