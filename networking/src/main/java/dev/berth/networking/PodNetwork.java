package dev.berth.networking;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What the pod sandbox lifecycle asks of networking: wire a pod's (already pinned) network
 * namespace into the node's pod network, unwire it, and say whether pods can be networked at all.
 * The CNI implementation lives in this module; the sandbox code only sees this interface.
 */
public interface PodNetwork {
    /**
     * Attaches the pod (CNI ADD through the whole chain). On failure nothing of the attachment
     * remains (a DEL has been run) and the exception says which plugin failed and why.
     */
    PodNetworkStatus attach(PodAttachment attachment);

    /**
     * Detaches the pod (CNI DEL). Idempotent: succeeds when the pod was never attached, was
     * already detached, or its namespace is gone. Uses the cached config and result of the
     * original ADD, so it works after a restart and after a config change.
     */
    void detach(PodAttachment attachment);

    /** Whether a usable network config and its plugins are present; the CRI NetworkReady condition. */
    NetworkReadiness readiness();

    /** Releases what is left of attachments of sandboxes not in {@code liveSandboxIds} (after a crash). */
    void garbageCollect(Set<String> liveSandboxIds);

    /** The pod CIDRs from the kubelet (UpdateRuntimeConfig), used by the default network. */
    void setPodCidrs(List<String> cidrs);

    /** The identity of one pod's attachment, with what CNI needs in CNI_ARGS and runtimeConfig. */
    record PodAttachment(
            String sandboxId,
            String podName,
            String podNamespace,
            String podUid,
            Path netnsPath,
            List<PortMapping> portMappings,
            Map<String, String> annotations,
            String cgroupParent) {
        public PodAttachment {
            portMappings = List.copyOf(portMappings);
            annotations = Map.copyOf(annotations);
        }
    }

    /** A host port published by the pod. {@code protocol} is tcp, udp or sctp; {@code hostIp} empty means any. */
    record PortMapping(String protocol, int containerPort, int hostPort, String hostIp) {
    }

    /** The pod's addresses (without prefix length), primary first, and the interface they are on. */
    record PodNetworkStatus(List<String> ips, String interfaceName) {
        public PodNetworkStatus {
            ips = List.copyOf(ips);
        }
    }

    /** NetworkReady as the kubelet reads it. */
    record NetworkReadiness(boolean ready, String reason, String message) {
    }
}
