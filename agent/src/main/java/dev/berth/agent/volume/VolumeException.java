package dev.berth.agent.volume;

/**
 * A pod's volume cannot be set up, or a container's mount cannot be made (the kubelet's
 * FailedMount): a missing configMap or secret, a hostPath of the wrong type, a hostile item
 * path or subPath. The message says which volume and why, for the pod's events and logs.
 */
public final class VolumeException extends RuntimeException {
    public VolumeException(String message) {
        super(message);
    }

    public VolumeException(String message, Throwable cause) {
        super(message, cause);
    }
}
