package dev.berth.agent.eviction;

import io.fabric8.kubernetes.api.model.Pod;

/** What evicting a pod does: in the agent, its status, its event and its worker ({@link WorkerEvictor}); in tests, a record. */
@FunctionalInterface
public interface Evictor {
    /**
     * Evicts {@code pod}: fails it with reason Evicted and {@code message} and stops its
     * containers with {@code graceSeconds}; {@code onTerminated} runs once it is gone.
     */
    void evict(Pod pod, long graceSeconds, String message, Runnable onTerminated);
}
