package dev.berth.agent.status;

import dev.berth.cri.v1.ContainerStatus;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * What a pod's worker knows beyond what the runtime reports, by container name: why a
 * container waits (a failed pull, a configuration error, a restart held back), the last run
 * of a container that was restarted, and the newest attempt of each container the agent
 * started: the runtime keeps ended runs until its garbage collector removes them, and then
 * these keep the lastState and the restartCount going. Written by the pod's passes, read for
 * its status.
 */
public final class PodKnowledge {
    private final Map<String, Waiting> waiting = new ConcurrentHashMap<>();
    private final Map<String, ContainerStatus> lastRuns = new ConcurrentHashMap<>();
    private final Map<String, Integer> attempts = new ConcurrentHashMap<>();

    /** Why containers wait, by name: changed by the passes. */
    public Map<String, Waiting> waiting() {
        return waiting;
    }

    /** The run before the current one of each restarted container, by name: changed by the passes. */
    public Map<String, ContainerStatus> lastRuns() {
        return lastRuns;
    }

    /** The newest attempt the agent started of each container, by name: changed by the passes. */
    public Map<String, Integer> attempts() {
        return attempts;
    }
}
