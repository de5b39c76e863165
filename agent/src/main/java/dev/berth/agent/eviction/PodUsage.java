package dev.berth.agent.eviction;

import java.util.Map;

/** Where the eviction manager learns what each pod uses: the runtime's stats, or a test's numbers. */
@FunctionalInterface
public interface PodUsage {
    /** The stats of every pod the runtime knows, by pod uid; a pod left out has no stats (and is evicted first, as the kubelet does). */
    Map<String, PodStats> pods();
}
