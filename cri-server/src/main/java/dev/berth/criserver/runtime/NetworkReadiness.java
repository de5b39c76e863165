package dev.berth.criserver.runtime;

import dev.berth.networking.PodNetwork;

/**
 * NetworkReady as the pod network reports it: true only when a usable CNI network config and
 * all of its plugins are present; otherwise false with the reason (no config, which file does
 * not parse, which plugin is missing where).
 */
public final class NetworkReadiness implements Readiness.Check {
    private final PodNetwork network;

    public NetworkReadiness(PodNetwork network) {
        this.network = network;
    }

    @Override
    public Readiness check() {
        PodNetwork.NetworkReadiness r;
        try {
            r = network.readiness();
        } catch (RuntimeException e) {
            return Readiness.notReady(Readiness.NETWORK_READY, "NetworkPluginNotReady",
                    "cannot tell whether the CNI network is usable: " + e.getMessage());
        }
        return r.ready() ? Readiness.ready(Readiness.NETWORK_READY)
                : Readiness.notReady(Readiness.NETWORK_READY, r.reason(), r.message());
    }
}
