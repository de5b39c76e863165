package dev.berth.agent.eviction;

import java.util.Map;

/** Where the eviction manager's node-level signals come from: the machine, or a test's numbers. */
@FunctionalInterface
public interface NodeSignals {
    /** Every signal that could be measured now, by name ({@link Signals}); a signal left out is not known. */
    Map<String, Observation> observe();
}
