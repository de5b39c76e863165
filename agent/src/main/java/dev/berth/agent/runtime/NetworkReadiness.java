package dev.berth.agent.runtime;

/**
 * NetworkReady until berth's CNI networking is wired in: pods other than host-network ones
 * cannot get an interface yet, so the condition says so.
 */
public final class NetworkReadiness implements Readiness.Check {
    @Override
    public Readiness check() {
        return Readiness.notReady(Readiness.NETWORK_READY, "NetworkPluginNotReady",
                "berth's CNI network plugin is not initialized");
    }
}
