package dev.berth.agent.status;

/**
 * Why a container waits, as only the pod worker knows it (the CRI has no record of a pull
 * that failed or a restart held back): the {@code reason} a pod status shows
 * (ErrImagePull, ImagePullBackOff, ErrImageNeverPull, CreateContainerConfigError,
 * CrashLoopBackOff, ...) and its human {@code message}.
 */
public record Waiting(String reason, String message) {
    public static final String ERR_IMAGE_PULL = "ErrImagePull";
    public static final String IMAGE_PULL_BACK_OFF = "ImagePullBackOff";
    public static final String ERR_IMAGE_NEVER_PULL = "ErrImageNeverPull";
    public static final String CREATE_CONTAINER_CONFIG_ERROR = "CreateContainerConfigError";
    public static final String CREATE_CONTAINER_ERROR = "CreateContainerError";
    public static final String RUN_CONTAINER_ERROR = "RunContainerError";
    public static final String CRASH_LOOP_BACK_OFF = "CrashLoopBackOff";
    public static final String CONTAINER_CREATING = "ContainerCreating";
    public static final String POD_INITIALIZING = "PodInitializing";
}
