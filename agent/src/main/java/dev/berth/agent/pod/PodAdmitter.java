package dev.berth.agent.pod;

import io.fabric8.kubernetes.api.model.Pod;

/**
 * Whether a new pod may start on this node, asked by {@link PodWorkers} once per pod uid,
 * before its worker exists (a pod already running is never asked again). A refusing admitter
 * has already reported the refusal (status, event); the workers then never start that uid.
 */
@FunctionalInterface
public interface PodAdmitter {
    /** Admits every pod. */
    PodAdmitter NONE = pod -> true;

    /** Whether {@code pod} may start; false when it is refused, for good. */
    boolean admit(Pod pod);
}
