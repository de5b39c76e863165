package dev.berth.agent.pod;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.ResourceRequirements;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** A pod's quality of service class, as Kubernetes derives it from its containers' cpu and memory. */
public enum QosClass {
    GUARANTEED("Guaranteed"), BURSTABLE("Burstable"), BEST_EFFORT("BestEffort");

    private final String apiName;

    QosClass(String apiName) {
        this.apiName = apiName;
    }

    /** The name in the Kubernetes API ({@code status.qosClass}). */
    public String apiName() {
        return apiName;
    }

    /**
     * BestEffort when no container requests or limits cpu or memory; Guaranteed when every
     * container limits both and requests what it limits (a missing request is the limit);
     * else Burstable.
     */
    public static QosClass of(PodSpec spec) {
        List<Container> all = new ArrayList<>(spec.getInitContainers());
        all.addAll(spec.getContainers());
        boolean any = false;
        boolean guaranteed = true;
        for (Container c : all) {
            Map<String, Quantity> requests = requests(c.getResources());
            Map<String, Quantity> limits = limits(c.getResources());
            for (String r : List.of("cpu", "memory")) {
                Quantity limit = limits.get(r);
                Quantity request = requests.getOrDefault(r, limit);
                if (nonZero(limit) || nonZero(request)) {
                    any = true;
                }
                if (!nonZero(limit) || request == null || amount(request).compareTo(amount(limit)) != 0) {
                    guaranteed = false;
                }
            }
        }
        return !any ? BEST_EFFORT : guaranteed ? GUARANTEED : BURSTABLE;
    }

    static Map<String, Quantity> requests(ResourceRequirements r) {
        return r == null || r.getRequests() == null ? Map.of() : r.getRequests();
    }

    static Map<String, Quantity> limits(ResourceRequirements r) {
        return r == null || r.getLimits() == null ? Map.of() : r.getLimits();
    }

    static BigDecimal amount(Quantity q) {
        return Quantity.getAmountInBytes(q);
    }

    private static boolean nonZero(Quantity q) {
        return q != null && amount(q).signum() != 0;
    }
}
