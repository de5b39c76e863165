package dev.berth.networking.cni;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.networking.PodNetwork;
import dev.berth.networking.PodNetwork.PortMapping;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** Many attach/detach cycles on the default network leave nothing behind on the system. */
@Tag("root")
class CniAttachCyclesTest {
    private static final String NET = "berthcycle";
    private static final String BRIDGE = "berthtest1";
    private static BridgeFixture fx;

    @BeforeAll
    static void setUp() {
        fx = new BridgeFixture(NET, BRIDGE, "10.199.1.0/24");
    }

    @AfterAll
    static void tearDown() {
        fx.close();
    }

    @Test
    void twoHundredCreateRemoveCyclesLeaveNoLeasesLinksOrRules() throws Exception {
        CniPodNetwork net = fx.network();
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < 200; i++) {
            String id = "cycle-" + i;
            ids.add(id);
            try (TestNetns ns = TestNetns.create()) {
                PodNetwork.PodAttachment pod = BridgeFixture.pod(id, ns,
                        List.of(new PortMapping(i % 2 == 0 ? "tcp" : "udp", 80, 19000 + i % 50, "")));
                try {
                    PodNetwork.PodNetworkStatus s = net.attach(pod);
                    assertTrue(s.ips().get(0).startsWith("10.199.1."), s.ips().toString());
                    assertEquals(1, fx.leases(NET).size());
                } finally {
                    net.detach(pod);
                }
            }
        }
        assertEquals(List.of(), fx.leases(NET), "IP leases left");
        assertEquals(List.of(), BridgeFixture.portsOf(BRIDGE), "veths left");
        assertEquals(List.of(), BridgeFixture.rulesOf(NET, ids), "iptables rules of the pods left");
        assertEquals(List.of(), BridgeFixture.rulesOfNetwork(NET), "iptables rules of the network left");
        try (var files = Files.list(fx.cacheDir)) {
            assertEquals(0, files.count(), "cache entries left");
        }
    }
}
