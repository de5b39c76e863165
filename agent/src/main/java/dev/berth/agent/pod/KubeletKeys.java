package dev.berth.agent.pod;

/**
 * The labels and annotations the kubelet puts on sandboxes and containers, so that crictl, the
 * runtime's own tools and a later agent recognise the agent's pods as a kubelet's.
 */
public final class KubeletKeys {
    public static final String POD_NAME = "io.kubernetes.pod.name";
    public static final String POD_NAMESPACE = "io.kubernetes.pod.namespace";
    public static final String POD_UID = "io.kubernetes.pod.uid";
    public static final String CONTAINER_NAME = "io.kubernetes.container.name";

    public static final String CONTAINER_HASH = "io.kubernetes.container.hash";
    public static final String CONTAINER_RESTART_COUNT = "io.kubernetes.container.restartCount";
    public static final String CONTAINER_TERMINATION_MESSAGE_PATH = "io.kubernetes.container.terminationMessagePath";
    public static final String CONTAINER_TERMINATION_MESSAGE_POLICY = "io.kubernetes.container.terminationMessagePolicy";
    public static final String CONTAINER_PORTS = "io.kubernetes.container.ports";
    public static final String POD_TERMINATION_GRACE_PERIOD = "io.kubernetes.pod.terminationGracePeriod";

    /** Pod annotations of a static pod: where it came from and its generated uid. */
    public static final String CONFIG_SOURCE = "kubernetes.io/config.source";
    public static final String CONFIG_HASH = "kubernetes.io/config.hash";
    public static final String CONFIG_SEEN = "kubernetes.io/config.seen";

    /**
     * berth's own sandbox label: which of the agent's sources the pod came from ({@code file}
     * for static pods, {@code api} for pods bound to the node). The agent removes only
     * sandboxes it made, never a crictl user's.
     */
    public static final String POD_SOURCE = "berth.dev/pod-source";
    public static final String SOURCE_FILE = "file";
    public static final String SOURCE_API = "api";

    /** The pod's source: its {@code kubernetes.io/config.source} annotation, {@code api} without one. */
    public static String source(io.fabric8.kubernetes.api.model.Pod pod) {
        var annotations = pod.getMetadata().getAnnotations();
        String s = annotations == null ? null : annotations.get(CONFIG_SOURCE);
        return s == null || s.isEmpty() ? SOURCE_API : s;
    }

    private KubeletKeys() {
    }
}
