package dev.berth.agent.status;

import io.fabric8.kubernetes.api.model.Container;

/**
 * What a running container's probes say, for its status: whether it has started (its startup
 * probe succeeded) and whether it is ready (its readiness probe succeeded). A container
 * without the probe is started, or ready, as soon as it runs.
 */
public interface ProbeStates {
    /** No probes are run: every running container is started and ready. */
    ProbeStates NONE = new ProbeStates() {
        @Override
        public boolean started(String podUid, Container spec, String containerId) {
            return true;
        }

        @Override
        public boolean ready(String podUid, Container spec, String containerId) {
            return true;
        }
    };

    /** Whether running container {@code containerId} (of {@code spec}, pod {@code podUid}) has started. */
    boolean started(String podUid, Container spec, String containerId);

    /** Whether running container {@code containerId} (of {@code spec}, pod {@code podUid}) passes its readiness probe. */
    boolean ready(String podUid, Container spec, String containerId);
}
