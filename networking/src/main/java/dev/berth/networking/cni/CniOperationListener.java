package dev.berth.networking.cni;

/**
 * Told about each CNI operation {@link CniPodNetwork} runs through a network's plugin chain:
 * ADD (including the loopback plugin), DEL, CHECK, STATUS and GC. berth's metrics implement it;
 * networking itself records nothing. Called on the thread that ran the operation, after it
 * ended: an implementation must be quick and must not throw.
 */
@FunctionalInterface
public interface CniOperationListener {
    /** Operations as the CNI specification names them. */
    enum Operation { ADD, DEL, CHECK, STATUS, GC }

    /** Listens to nothing. */
    CniOperationListener NONE = (operation, network, durationNanos, success) -> { };

    /**
     * @param network the name of the network configuration the chain belongs to
     * @param durationNanos wall-clock time of the whole chain
     * @param success false when a plugin failed (the operation threw)
     */
    void completed(Operation operation, String network, long durationNanos, boolean success);
}
