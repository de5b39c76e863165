package dev.berth.agent.status;

import dev.berth.cri.v1.ContainerStatus;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * What a pod's worker knows beyond what the runtime reports, by container name: why a
 * container waits (a failed pull, a configuration error, a restart held back), and the last
 * run of a container that was restarted (the runtime's record of it is removed with the
 * restart; the status keeps it as lastState). Written by the pod's passes, read for its status.
 */
public final class PodKnowledge {
    private final Map<String, Waiting> waiting = new ConcurrentHashMap<>();
    private final Map<String, ContainerStatus> lastRuns = new ConcurrentHashMap<>();

    /** Why containers wait, by name: changed by the passes. */
    public Map<String, Waiting> waiting() {
        return waiting;
    }

    /** The run before the current one of each restarted container, by name: changed by the passes. */
    public Map<String, ContainerStatus> lastRuns() {
        return lastRuns;
    }
}
