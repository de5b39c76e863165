package dev.berth.podsandbox.sandbox;

import java.util.Map;

/**
 * ListPodSandbox's filter: an id or unique id prefix ("" = any), a state (null = any) and labels
 * that must all match.
 */
public record SandboxFilter(String id, SandboxState state, Map<String, String> labelSelector) {
    public static final SandboxFilter ALL = new SandboxFilter("", null, Map.of());

    public SandboxFilter {
        id = id == null ? "" : id;
        labelSelector = labelSelector == null ? Map.of() : Map.copyOf(labelSelector);
    }
}
