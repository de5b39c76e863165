package dev.berth.agent.eviction;

import dev.berth.agent.pod.PodWorkers;
import dev.berth.agent.status.EventRecorder;
import dev.berth.agent.status.StatusManager;
import io.fabric8.kubernetes.api.model.Pod;

/**
 * Evicting in the agent: the Warning event Evicted with the message, the pod's status Failed
 * with reason Evicted (written at once, before the containers stop, so no source starts it
 * again), then its worker stops and removes it and never starts it again.
 */
public final class WorkerEvictor implements Evictor {
    private final PodWorkers workers;
    private final StatusManager status;
    private final EventRecorder events;

    public WorkerEvictor(PodWorkers workers, StatusManager status, EventRecorder events) {
        this.workers = workers;
        this.status = status;
        this.events = events;
    }

    @Override
    public void evict(Pod pod, long graceSeconds, String message, Runnable onTerminated) {
        events.event(EventRecorder.podReference(pod, null), EventRecorder.WARNING, EvictionManager.REASON, message);
        status.evicted(pod, EvictionManager.REASON, message);
        workers.evict(pod.getMetadata().getUid(), graceSeconds, onTerminated);
    }
}
