package dev.berth.networking.cni;

import dev.berth.networking.PodNetwork;
import dev.berth.networking.PodNetwork.PortMapping;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * CNI ADD and DEL latency with berth's default chain (lo up in-process, bridge + host-local, portmap
 * with one host port), on an empty node and with 100 pods already attached. Prints figures,
 * asserts nothing; run with {@code -Dberth.benchmark=true -Dtest=CniLatencyBenchmark}.
 */
@EnabledIfSystemProperty(named = "berth.benchmark", matches = "true")
@Tag("root")
class CniLatencyBenchmark {
    private static BridgeFixture fx;

    @BeforeAll
    static void setUp() {
        fx = new BridgeFixture("berthbench", "berthbench0", "10.199.8.0/22");
    }

    @AfterAll
    static void tearDown() {
        fx.close();
    }

    @Test
    void addAndDelLatency() {
        CniPodNetwork net = fx.network();
        measure(net, "empty node", "warm", 10);
        measure(net, "empty node", "a", 100);
        List<TestNetns> resident = new ArrayList<>();
        List<PodNetwork.PodAttachment> pods = new ArrayList<>();
        try {
            for (int i = 0; i < 100; i++) {
                TestNetns ns = TestNetns.create();
                resident.add(ns);
                PodNetwork.PodAttachment pod = BridgeFixture.pod("resident-" + i, ns, List.of(new PortMapping("tcp", 80, 20000 + i, "")));
                pods.add(pod);
                net.attach(pod);
            }
            measure(net, "100 pods attached", "b", 100);
        } finally {
            pods.forEach(net::detach);
            resident.forEach(TestNetns::close);
        }
    }

    private static void measure(CniPodNetwork net, String label, String prefix, int n) {
        List<Double> add = new ArrayList<>();
        List<Double> del = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            try (TestNetns ns = TestNetns.create()) {
                PodNetwork.PodAttachment pod = BridgeFixture.pod("bench-" + prefix + i, ns, List.of(new PortMapping("tcp", 80, 21000, "")));
                long t0 = System.nanoTime();
                net.attach(pod);
                long t1 = System.nanoTime();
                net.detach(pod);
                long t2 = System.nanoTime();
                add.add((t1 - t0) / 1e6);
                del.add((t2 - t1) / 1e6);
            }
        }
        if (!prefix.equals("warm")) {
            System.out.printf("CNI %s, n=%d: ADD p50 %.1f ms p95 %.1f ms; DEL p50 %.1f ms p95 %.1f ms%n", label, n,
                    pct(add, 50), pct(add, 95), pct(del, 50), pct(del, 95));
        }
    }

    private static double pct(List<Double> v, int p) {
        List<Double> s = new ArrayList<>(v);
        Collections.sort(s);
        return s.get(Math.min(s.size() - 1, (int) Math.ceil(p / 100.0 * s.size()) - 1));
    }
}
