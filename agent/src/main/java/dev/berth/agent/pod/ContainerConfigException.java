package dev.berth.agent.pod;

/**
 * A container of a pod cannot be configured (the kubelet's CreateContainerConfigError), or its
 * image cannot be had as its pull policy says ({@code ErrImageNeverPull}, {@code ErrImagePull}):
 * {@link #reason()} is the waiting reason a pod status would show.
 */
public final class ContainerConfigException extends RuntimeException {
    private final String reason;

    public ContainerConfigException(String reason, String message) {
        super(message);
        this.reason = reason;
    }

    public String reason() {
        return reason;
    }
}
