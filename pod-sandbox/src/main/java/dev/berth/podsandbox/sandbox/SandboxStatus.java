package dev.berth.podsandbox.sandbox;

import java.util.List;
import java.util.Map;

/**
 * What PodSandboxStatus and ListPodSandbox report of one sandbox.
 *
 * @param ips the pod's IPs, primary first (empty for host-network pods)
 * @param info verbose facts (infra pid, namespace paths, cgroup, config); empty unless asked for
 */
public record SandboxStatus(
        String id,
        SandboxConfig.Metadata metadata,
        SandboxState state,
        long createdAtNanos,
        List<String> ips,
        SandboxConfig.NamespaceOptions namespaces,
        Map<String, String> labels,
        Map<String, String> annotations,
        String runtimeHandler,
        Map<String, Object> info) {
}
