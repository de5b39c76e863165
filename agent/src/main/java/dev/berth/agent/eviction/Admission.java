package dev.berth.agent.eviction;

import dev.berth.agent.node.NodeStatusMaker;
import dev.berth.agent.pod.QosClass;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Toleration;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * Whether a new pod may start while the node is under pressure, as the kubelet's eviction
 * manager admits pods: without pressure every pod; under pressure critical pods (static,
 * mirror, priority system-cluster-critical and above: {@link EvictionManager#critical}) always;
 * under MemoryPressure alone every pod but BestEffort ones, and those too when they tolerate the
 * node's memory-pressure NoSchedule taint; under DiskPressure or PIDPressure no other pod.
 * Starting a pod the node is about to evict would only make the pressure worse.
 */
public final class Admission {
    /** The taint a node under memory pressure carries; a BestEffort pod tolerating it is admitted. */
    public static final String MEMORY_PRESSURE_TAINT = "node.kubernetes.io/memory-pressure";
    /** The pressure conditions in the order the message names them. */
    private static final List<String> ORDER = List.of(NodeStatusMaker.MEMORY_PRESSURE, NodeStatusMaker.DISK_PRESSURE,
            NodeStatusMaker.PID_PRESSURE);

    private Admission() {
    }

    /** Empty when {@code pod} may start with these pressure conditions True; else why not (the kubelet's message). */
    public static Optional<String> refusal(Pod pod, Set<String> conditions) {
        if (conditions.isEmpty() || EvictionManager.critical(pod)) {
            return Optional.empty();
        }
        if (conditions.equals(Set.of(NodeStatusMaker.MEMORY_PRESSURE))) {
            if (QosClass.of(pod.getSpec()) != QosClass.BEST_EFFORT || toleratesMemoryPressure(pod.getSpec().getTolerations())) {
                return Optional.empty();
            }
        }
        return Optional.of(message(conditions));
    }

    /** "The node had condition: [MemoryPressure DiskPressure]. ", worded (and spaced) as the kubelet words it. */
    static String message(Set<String> conditions) {
        List<String> named = ORDER.stream().filter(conditions::contains).toList();
        return "The node had condition: [" + String.join(" ", named) + "]. ";
    }

    /** Whether one of the tolerations tolerates the taint {@value #MEMORY_PRESSURE_TAINT} (no value) with effect NoSchedule. */
    static boolean toleratesMemoryPressure(List<Toleration> tolerations) {
        if (tolerations == null) {
            return false;
        }
        for (Toleration t : tolerations) {
            if (empty(t.getEffect()) || "NoSchedule".equals(t.getEffect())) {
                if (empty(t.getKey()) || MEMORY_PRESSURE_TAINT.equals(t.getKey())) {
                    String op = t.getOperator();
                    if ("Exists".equals(op) || (empty(op) || "Equal".equals(op)) && empty(t.getValue())) {
                        return true;
                    }
                }
            }
        }
        return false;
    }

    private static boolean empty(String s) {
        return s == null || s.isEmpty();
    }
}
