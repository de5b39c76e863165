package dev.berth.agent.eviction;

import dev.berth.agent.node.Quantities;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Quantity;
import java.util.ArrayList;
import java.util.List;

/**
 * The message an evicted pod's status and event carry, worded as the kubelet words it: the
 * starved resource, the threshold and what was available, then every container using more of
 * it than it requested.
 */
public final class EvictionMessage {
    private EvictionMessage() {
    }

    /**
     * The message for evicting {@code pod} (with {@code stats}, null when unknown) because
     * {@code threshold} was met by {@code observed}.
     */
    public static String of(Threshold threshold, Observation observed, Pod pod, PodStats stats) {
        String resource = Signals.RESOURCE.get(threshold.signal());
        StringBuilder m = new StringBuilder("The node was low on resource: ").append(resource).append(". ");
        if (observed != null) {
            m.append("Threshold quantity: ").append(quantity(resource, threshold.quantity(observed.capacity())))
                    .append(", available: ").append(quantity(resource, observed.available())).append(". ");
        }
        if (stats == null) {
            return m.toString();
        }
        List<Container> containers = new ArrayList<>(pod.getSpec().getContainers());
        containers.addAll(pod.getSpec().getInitContainers());
        for (Container c : containers) {
            Long usage = switch (resource) {
                case "memory" -> stats.containerMemory().get(c.getName());
                case "ephemeral-storage" -> stats.containerEphemeral().get(c.getName());
                default -> null;
            };
            if (usage != null && usage > Ranking.request(c, resource)) {
                Quantity request = Ranking.requestQuantity(c, resource);
                m.append("Container ").append(c.getName()).append(" was using ").append(quantity(resource, usage))
                        .append(", request is ").append(request == null ? "0" : request.toString())
                        .append(", has larger consumption of ").append(resource).append(". ");
            }
        }
        return m.toString();
    }

    /** Bytes as binary quantities ("100Mi"), counts as decimal ones ("5k"), as the kubelet prints them. */
    static String quantity(String resource, long v) {
        if (resource.equals("memory") || resource.equals("ephemeral-storage")) {
            return Quantities.bytes(v);
        }
        String[] suffixes = {"", "k", "M", "G", "T", "P", "E"};
        int i = 0;
        while (v != 0 && v % 1000 == 0 && i < suffixes.length - 1) {
            v /= 1000;
            i++;
        }
        return v + suffixes[i];
    }
}
