package dev.berth.criserver.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.berth.networking.PodNetwork;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** NetworkReady is what the pod network says, and a failing check is reported, not thrown. */
class NetworkReadinessTest {
    private static PodNetwork saying(PodNetwork.NetworkReadiness r, RuntimeException fail) {
        return new PodNetwork() {
            @Override
            public PodNetworkStatus attach(PodAttachment attachment) {
                throw new UnsupportedOperationException();
            }

            @Override
            public void detach(PodAttachment attachment) {
                throw new UnsupportedOperationException();
            }

            @Override
            public NetworkReadiness readiness() {
                if (fail != null) {
                    throw fail;
                }
                return r;
            }

            @Override
            public void garbageCollect(Set<String> liveSandboxIds) {
            }

            @Override
            public void setPodCidrs(List<String> cidrs) {
            }
        };
    }

    @Test
    void reportsTheNetworksOwnAnswer() {
        assertEquals(Readiness.ready(Readiness.NETWORK_READY),
                new NetworkReadiness(saying(new PodNetwork.NetworkReadiness(true, "", ""), null)).check());
        assertEquals(Readiness.notReady(Readiness.NETWORK_READY, "NetworkPluginNotReady", "plugin x not found in [/a]"),
                new NetworkReadiness(saying(new PodNetwork.NetworkReadiness(false, "NetworkPluginNotReady", "plugin x not found in [/a]"),
                        null)).check());
        Readiness broken = new NetworkReadiness(saying(null, new IllegalStateException("boom"))).check();
        assertEquals(false, broken.ready());
        assertEquals("NetworkPluginNotReady", broken.reason());
        assertEquals("cannot tell whether the CNI network is usable: boom", broken.message());
    }
}
