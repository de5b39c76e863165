package dev.berth.agent.status;

import io.fabric8.kubernetes.api.model.Pod;

/**
 * Told by the pod workers what each pod looks like after each pass: the status upward (the
 * {@link StatusManager}) listens. Called on the pod's worker thread: it must not block.
 */
public interface PodStatusListener {
    PodStatusListener NONE = new PodStatusListener() {
        @Override
        public void synced(Pod pod, PodSnapshot snapshot) {
        }
    };

    /** A pass over {@code pod} ended (done or failed) and left the pod as {@code snapshot} shows. */
    void synced(Pod pod, PodSnapshot snapshot);

    /** The pod with this uid was stopped and removed from the runtime; its worker is gone. */
    default void terminated(String uid) {
    }
}
