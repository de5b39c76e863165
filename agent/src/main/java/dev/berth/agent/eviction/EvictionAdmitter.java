package dev.berth.agent.eviction;

import dev.berth.agent.pod.PodAdmitter;
import dev.berth.agent.status.EventRecorder;
import dev.berth.agent.status.StatusManager;
import io.fabric8.kubernetes.api.model.Pod;
import java.util.Optional;
import java.util.Set;
import java.util.function.Predicate;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The pod workers' admission under node pressure ({@link Admission}, with the eviction
 * manager's conditions). A refused pod gets the Warning event Evicted with the message and the
 * status Failed, Evicted, "Pod was rejected: " and the message ({@link StatusManager#rejected}),
 * as the kubelet rejects a pod. A pod that already ran when the agent started (an earlier agent
 * admitted it) is admitted again, as it is adopted, not started.
 */
public final class EvictionAdmitter implements PodAdmitter {
    private static final Logger LOG = LoggerFactory.getLogger(EvictionAdmitter.class);

    private final Supplier<Set<String>> conditions;
    private final Predicate<String> adopted;
    private final StatusManager status;
    private final EventRecorder events;

    /**
     * @param conditions the pressure conditions True now ({@link EvictionManager#conditions})
     * @param adopted whether a pod uid had a sandbox in the runtime when the agent started
     */
    public EvictionAdmitter(Supplier<Set<String>> conditions, Predicate<String> adopted, StatusManager status, EventRecorder events) {
        this.conditions = conditions;
        this.adopted = adopted;
        this.status = status;
        this.events = events;
    }

    @Override
    public boolean admit(Pod pod) {
        if (adopted.test(pod.getMetadata().getUid())) {
            return true;
        }
        Optional<String> refusal = Admission.refusal(pod, conditions.get());
        if (refusal.isEmpty()) {
            return true;
        }
        String message = refusal.get();
        LOG.info("pod {}/{}: not admitted: {}", pod.getMetadata().getNamespace(), pod.getMetadata().getName(), message);
        events.event(EventRecorder.podReference(pod, null), EventRecorder.WARNING, EvictionManager.REASON, message);
        status.rejected(pod, EvictionManager.REASON, message);
        return false;
    }
}
