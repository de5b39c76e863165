package dev.berth.podsandbox.container;

import java.util.Map;

/**
 * CRI {@code ContainerFilter}: every set field must match. {@code idPrefix} matches ids that
 * start with it (CRI callers pass truncated ids); {@code labels} is an equality selector.
 */
public record ContainerFilter(String idPrefix, ContainerState state, String sandboxId, Map<String, String> labels) {
    public ContainerFilter {
        idPrefix = idPrefix == null ? "" : idPrefix;
        sandboxId = sandboxId == null ? "" : sandboxId;
        labels = labels == null ? Map.of() : Map.copyOf(labels);
    }

    public static ContainerFilter all() {
        return new ContainerFilter("", null, "", Map.of());
    }

    public boolean matches(ContainerRecord r) {
        if (!r.id().startsWith(idPrefix)) {
            return false;
        }
        if (state != null && r.state() != state) {
            return false;
        }
        if (!sandboxId.isEmpty() && !r.sandboxId().equals(sandboxId)) {
            return false;
        }
        for (Map.Entry<String, String> e : labels.entrySet()) {
            if (!e.getValue().equals(r.labels().get(e.getKey()))) {
                return false;
            }
        }
        return true;
    }
}
