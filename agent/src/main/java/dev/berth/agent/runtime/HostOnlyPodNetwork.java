package dev.berth.agent.runtime;

import dev.berth.common.BerthException;
import dev.berth.networking.PodNetwork;
import java.util.List;
import java.util.Set;

/**
 * The pod network until berth's CNI networking is wired in: host-network pods need none, and
 * every other pod is refused honestly (FAILED_PRECONDITION) rather than started without an
 * interface.
 */
public final class HostOnlyPodNetwork implements PodNetwork {
    @Override
    public PodNetworkStatus attach(PodAttachment attachment) {
        throw BerthException.failedPrecondition(
                "pod networking is not available yet: only host-network pods can run (sandbox %s)", attachment.sandboxId());
    }

    @Override
    public void detach(PodAttachment attachment) {
        // nothing was ever attached
    }

    @Override
    public NetworkReadiness readiness() {
        return new NetworkReadiness(false, "NetworkPluginNotReady", "berth's CNI network plugin is not initialized");
    }

    @Override
    public void garbageCollect(Set<String> liveSandboxIds) {
    }

    @Override
    public void setPodCidrs(List<String> cidrs) {
    }
}
