package dev.berth.agent.pod;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.Pod;
import java.time.Duration;

/**
 * A container's lifecycle hooks (postStart, preStop), run by the agent around the runtime's
 * start and stop. The pod sync calls them; their handlers (exec, httpGet, sleep) live with the
 * probes, which run the same actions.
 */
public interface ContainerHooks {
    /** No hooks run: containers start and stop as the runtime does it. */
    ContainerHooks NONE = new ContainerHooks() {
        @Override
        public void postStart(Pod pod, Container container, String containerId) {
        }

        @Override
        public void preStop(Pod pod, Container container, String containerId, Duration budget) {
        }
    };

    /**
     * Runs {@code container}'s postStart hook, if it has one, right after the runtime started it
     * as {@code containerId}; returns when the hook ended.
     * @throws HookFailedException when the hook failed: the caller kills the container
     */
    void postStart(Pod pod, Container container, String containerId);

    /**
     * Runs {@code container}'s preStop hook, if it has one, before the runtime is asked to stop
     * it; returns when the hook ended or {@code budget} (what is left of the grace period) ran
     * out. A failed hook is reported (event) and the stop goes on.
     */
    void preStop(Pod pod, Container container, String containerId, Duration budget);

    /** A postStart hook failed; its message says how, as the FailedPostStartHook event tells it. */
    final class HookFailedException extends RuntimeException {
        public HookFailedException(String message) {
            super(message);
        }
    }
}
