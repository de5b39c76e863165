package dev.berth.agent.status;

import io.fabric8.kubernetes.api.model.ObjectReference;
import io.fabric8.kubernetes.api.model.Pod;

/**
 * Where the agent reports what it did to an object, as core/v1 Events (Pulling, Pulled,
 * Failed, BackOff, Created, Started, Killing for pods). Recording never blocks and never
 * fails: an event that cannot be delivered is dropped.
 */
public interface EventRecorder {
    String NORMAL = "Normal";
    String WARNING = "Warning";

    EventRecorder NONE = (involved, type, reason, message) -> {
    };

    /** Reports that {@code reason} ({@code message}) happened to {@code involved}. */
    void event(ObjectReference involved, String type, String reason, String message);

    /**
     * A reference to {@code pod}, or to its container {@code container} when not null
     * (field path {@code spec.containers{name}}, or {@code spec.initContainers{name}}).
     */
    static ObjectReference podReference(Pod pod, String container) {
        var m = pod.getMetadata();
        ObjectReference r = podReference(m.getNamespace(), m.getName(), m.getUid(), m.getResourceVersion(), container);
        if (container != null && pod.getSpec() != null
                && pod.getSpec().getInitContainers().stream().anyMatch(c -> container.equals(c.getName()))) {
            r.setFieldPath("spec.initContainers{" + container + "}");
        }
        return r;
    }

    /** A reference to a pod known by its names and uid only (e.g. from a sandbox's labels). */
    static ObjectReference podReference(String namespace, String name, String uid, String resourceVersion, String container) {
        ObjectReference r = new ObjectReference();
        r.setApiVersion("v1");
        r.setKind("Pod");
        r.setNamespace(namespace);
        r.setName(name);
        r.setUid(uid);
        r.setResourceVersion(resourceVersion);
        if (container != null) {
            r.setFieldPath("spec.containers{" + container + "}");
        }
        return r;
    }
}
