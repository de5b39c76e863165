package dev.berth.networking.cni;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.common.BerthException;
import dev.berth.networking.PodNetwork;
import dev.berth.networking.PodNetwork.PodNetworkStatus;
import dev.berth.networking.PodNetwork.PortMapping;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.ConnectException;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * berth's CNI client with Debian's real plugins (bridge, host-local, portmap, loopback) on real
 * network namespaces: the default network on a test-only bridge and subnet.
 */
@Tag("root")
class CniPodNetworkTest {
    private static final String NET = "berthtest";
    private static final String BRIDGE = "berthtest0";
    private static final String GATEWAY = "10.199.0.1";
    private static BridgeFixture fx;

    private final List<AutoCloseable> cleanup = new ArrayList<>();

    @BeforeAll
    static void setUp() {
        fx = new BridgeFixture(NET, BRIDGE, "10.199.0.0/24");
        fx.alsoCleanUp("berthtestb", "berthtest2");
        fx.alsoCleanUp("berthtest04", "berthtest3");
        fx.alsoCleanUp("berthtesthalf", "berthtest4");
    }

    @AfterAll
    static void tearDown() {
        fx.close();
    }

    @AfterEach
    void closeAll() throws Exception {
        for (int i = cleanup.size() - 1; i >= 0; i--) {
            cleanup.get(i).close();
        }
    }

    private TestNetns netns() {
        TestNetns ns = TestNetns.create();
        cleanup.add(ns);
        return ns;
    }

    private PodNetworkStatus attach(CniPodNetwork net, PodNetwork.PodAttachment pod) {
        cleanup.add(() -> net.detach(pod));
        return net.attach(pod);
    }

    private static void assertNothingLeft(String network, String bridge, List<String> ids) {
        assertEquals(List.of(), fx.leases(network), "IP leases left");
        assertEquals(List.of(), BridgeFixture.portsOf(bridge), "veths left on " + bridge);
        assertEquals(List.of(), BridgeFixture.rulesOf(network, ids), "iptables rules of the pods left");
        assertEquals(List.of(), BridgeFixture.rulesOfNetwork(network), "iptables rules of the network left");
    }

    @Test
    void twoPodsReachEachOtherAndTheHostAndHaveLoopbackUp() {
        CniPodNetwork net = fx.network();
        TestNetns a = netns();
        TestNetns b = netns();
        PodNetworkStatus sa = attach(net, BridgeFixture.pod("reach-a", a, List.of()));
        PodNetworkStatus sb = attach(net, BridgeFixture.pod("reach-b", b, List.of()));

        assertEquals("eth0", sa.interfaceName());
        assertEquals(1, sa.ips().size(), sa.ips().toString());
        assertTrue(sa.ips().get(0).startsWith("10.199.0."), sa.ips().toString());
        assertTrue(sb.ips().get(0).startsWith("10.199.0."), sb.ips().toString());
        assertNotEquals(sa.ips().get(0), sb.ips().get(0));

        assertTrue(a.exec("ip", "-o", "addr", "show", "dev", "eth0").ok().out().contains(sa.ips().get(0) + "/24"));
        assertTrue(a.exec("ip", "-o", "link", "show", "lo").ok().out().contains("LOOPBACK,UP"), "lo is up in the pod");
        assertTrue(a.exec("ip", "-o", "addr", "show", "dev", "lo").ok().out().contains("127.0.0.1"));

        a.exec("busybox", "ping", "-c1", "-W2", sb.ips().get(0)).ok();
        b.exec("busybox", "ping", "-c1", "-W2", sa.ips().get(0)).ok();
        a.exec("busybox", "ping", "-c1", "-W2", GATEWAY).ok();
        Sh.run("busybox", "ping", "-c1", "-W2", sa.ips().get(0)).ok();
        assertEquals(2, fx.leases(NET).size());
        assertEquals(2, BridgeFixture.portsOf(BRIDGE).size());

        net.check(BridgeFixture.pod("reach-a", a, List.of()));

        List<String> masq = BridgeFixture.rulesOfNetwork(NET);
        assertTrue(masq.stream().anyMatch(l -> l.startsWith("-A POSTROUTING -s 10.199.0.0/24 ") && l.contains("berth masquerade")
                && l.contains("-j BERTH-MASQ-")), "one masquerade jump for the subnet: " + masq);
        assertTrue(masq.stream().anyMatch(l -> l.startsWith("-A BERTH-MASQ-") && l.contains("-d 10.199.0.0/24") && l.endsWith("-j ACCEPT")),
                masq.toString());
        assertTrue(masq.stream().anyMatch(l -> l.startsWith("-A BERTH-MASQ-") && l.contains("! -d 224.0.0.0/4")
                && l.endsWith("-j MASQUERADE")), masq.toString());
        assertEquals(3, masq.size(), "no rule per pod: " + masq);

        net.detach(BridgeFixture.pod("reach-a", a, List.of()));
        assertEquals(masq, BridgeFixture.rulesOfNetwork(NET), "the rules stay while a pod is attached");
        net.detach(BridgeFixture.pod("reach-b", b, List.of()));
        assertFalse(a.exec("ip", "link", "show", "eth0").exit() == 0, "eth0 removed from the pod");
        assertNothingLeft(NET, BRIDGE, List.of("reach-a", "reach-b"));
    }

    @Test
    void withALingerTheMasqueradeRulesOutliveTheLastPodUntilTheLingerEndsOrTheNetworkCloses() throws Exception {
        CniPodNetwork net = fx.network();
        net.lingerMasquerades(Duration.ofHours(1));
        cleanup.add(net::close);
        TestNetns a = netns();
        attach(net, BridgeFixture.pod("linger-a", a, List.of()));
        List<String> masq = BridgeFixture.rulesOfNetwork(NET);
        assertEquals(3, masq.size(), masq.toString());
        net.detach(BridgeFixture.pod("linger-a", a, List.of()));
        assertEquals(masq, BridgeFixture.rulesOfNetwork(NET), "the rules stay for the linger time");
        TestNetns b = netns();
        attach(net, BridgeFixture.pod("linger-b", b, List.of()));
        b.exec("busybox", "ping", "-c1", "-W2", GATEWAY).ok();
        net.detach(BridgeFixture.pod("linger-b", b, List.of()));
        net.close();
        assertNothingLeft(NET, BRIDGE, List.of("linger-a", "linger-b"));

        // a short linger ends by itself, and a pod attached meanwhile keeps the rules
        CniPodNetwork shortLinger = fx.network();
        shortLinger.lingerMasquerades(Duration.ofMillis(200));
        cleanup.add(shortLinger::close);
        TestNetns c = netns();
        attach(shortLinger, BridgeFixture.pod("linger-c", c, List.of()));
        shortLinger.detach(BridgeFixture.pod("linger-c", c, List.of()));
        long deadline = System.nanoTime() + 20_000_000_000L;
        while (!BridgeFixture.rulesOfNetwork(NET).isEmpty() && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        assertNothingLeft(NET, BRIDGE, List.of("linger-c"));
    }

    @Test
    void everyChainOperationIsReportedToTheListenerWithItsNetworkAndOutcome() {
        CniPodNetwork net = fx.network();
        List<String> seen = java.util.Collections.synchronizedList(new ArrayList<>());
        net.listen((op, network, nanos, ok) -> seen.add(op + " " + network + " " + ok + (nanos > 0 ? "" : " no-time")));
        TestNetns ns = netns();
        PodNetwork.PodAttachment pod = BridgeFixture.pod("listened", ns, List.of());
        attach(net, pod);
        attach(net, pod); // already attached: no plugin runs, nothing to report
        net.check(pod);
        net.detach(pod);
        net.detach(pod); // nothing cached any more: no plugin runs
        assertEquals(List.of("ADD " + NET + " true", "CHECK " + NET + " true", "DEL " + NET + " true"), seen);
        assertNothingLeft(NET, BRIDGE, List.of("listened"));
    }

    @Test
    void hostPortsAnswerFromTheHostOverTcpAndUdp() throws Exception {
        CniPodNetwork net = fx.network();
        TestNetns ns = netns();
        List<PortMapping> ports = List.of(
                new PortMapping("tcp", 8080, 18080, ""),
                new PortMapping("udp", 8081, 18081, ""),
                new PortMapping("tcp", 8080, 18082, GATEWAY));
        PodNetwork.PodAttachment pod = BridgeFixture.pod("ports", ns, ports);
        attach(net, pod);
        echoServer(ns, "tcp", 8080);
        echoServer(ns, "udp", 8081);

        assertEquals("echo:via-gateway", tcp(GATEWAY, 18080, "via-gateway"));
        assertEquals("echo:via-localhost", tcp("127.0.0.1", 18080, "via-localhost"));
        assertEquals("echo:udp-hello", udp(GATEWAY, 18081, "udp-hello"));
        assertEquals("echo:host-ip-given", tcp(GATEWAY, 18082, "host-ip-given"));
        assertThrows(ConnectException.class, () -> tcp("127.0.0.1", 18082, "not mapped on this address"));

        net.detach(pod);
        assertThrows(ConnectException.class, () -> tcp(GATEWAY, 18080, "after detach"));
        assertNothingLeft(NET, BRIDGE, List.of("ports"));
    }

    @Test
    void aFailingPluginLeavesNoHalfMadePod() throws Exception {
        Path bin = Files.createDirectories(fx.root.resolve("failbin"));
        Path script = bin.resolve("berth-test-fail");
        Files.writeString(script, """
                #!/bin/sh
                case "$CNI_COMMAND" in
                  ADD) echo '{"cniVersion":"1.0.0","code":7,"msg":"berth test plugin refuses ADD","details":"on purpose"}'
                       echo "refusing on purpose" >&2; exit 1 ;;
                  VERSION) echo '{"cniVersion":"1.0.0","supportedVersions":["0.4.0","1.0.0"]}' ;;
                esac
                exit 0
                """);
        script.toFile().setExecutable(true);
        Path confDir = Files.createDirectories(fx.root.resolve("net.d-fail"));
        Files.writeString(confDir.resolve("10-fail.conflist"), """
                {"cniVersion":"1.0.0","name":"%s","plugins":[
                  {"type":"bridge","bridge":"%s","isGateway":true,"ipMasq":true,
                   "ipam":{"type":"host-local","dataDir":"%s","ranges":[[{"subnet":"10.199.0.0/24"}]]}},
                  {"type":"portmap","capabilities":{"portMappings":true}},
                  {"type":"berth-test-fail"}]}
                """.formatted(NET, BRIDGE, fx.ipamDir));
        List<Path> dirs = new ArrayList<>(List.of(bin));
        dirs.addAll(BridgeFixture.PLUGIN_DIRS);
        CniPodNetwork net = new CniPodNetwork(new CniPodNetwork.Settings(confDir, dirs, fx.cacheDir, Duration.ofSeconds(60), null));
        assertTrue(net.readiness().ready(), net.readiness().message());
        TestNetns ns = netns();
        List<String> seen = java.util.Collections.synchronizedList(new ArrayList<>());
        net.listen((op, network, nanos, ok) -> seen.add(op + " " + network + " " + ok));

        BerthException e = assertThrows(BerthException.class,
                () -> net.attach(BridgeFixture.pod("halfmade", ns, List.of(new PortMapping("tcp", 80, 18090, "")))));
        assertEquals(List.of("ADD " + NET + " false", "DEL " + NET + " true"), seen, "the failed ADD, then its undo");
        assertTrue(e.getMessage().contains("berth-test-fail") && e.getMessage().contains("berth test plugin refuses ADD")
                && e.getMessage().contains("on purpose") && e.getMessage().contains("ADD"), e.getMessage());
        assertEquals(BerthException.Kind.FAILED_PRECONDITION, e.kind());

        assertFalse(ns.exec("ip", "link", "show", "eth0").exit() == 0, "no eth0 left in the pod");
        assertFalse(Files.exists(fx.cacheDir.resolve("halfmade.json")), "no cache entry left");
        assertNothingLeft(NET, BRIDGE, List.of("halfmade"));
    }

    @Test
    void aRealPluginFailingHalfWayThroughAddLeavesNothing() throws Exception {
        Sh.run("ip", "link", "add", "berthtest4", "type", "bridge").ok();
        Sh.run("ip", "addr", "add", "10.199.4.1/24", "dev", "berthtest4").ok();
        Path confDir = Files.createDirectories(fx.root.resolve("net.d-half"));
        Files.writeString(confDir.resolve("10-half.conflist"), """
                {"cniVersion":"1.0.0","name":"berthtesthalf","plugins":[
                  {"type":"bridge","bridge":"berthtest4","isGateway":true,"ipMasq":true,
                   "ipam":{"type":"host-local","dataDir":"%s","ranges":[[{"subnet":"10.199.5.0/24"}]]}},
                  {"type":"portmap","capabilities":{"portMappings":true}}]}
                """.formatted(fx.ipamDir));
        CniPodNetwork net = new CniPodNetwork(new CniPodNetwork.Settings(confDir, BridgeFixture.PLUGIN_DIRS, fx.cacheDir,
                Duration.ofSeconds(60), null));
        TestNetns ns = netns();
        BerthException e = assertThrows(BerthException.class,
                () -> net.attach(BridgeFixture.pod("half", ns, List.of(new PortMapping("tcp", 80, 18095, "")))));
        assertTrue(e.getMessage().contains("CNI plugin \"bridge\" failed ADD") && e.getMessage().contains("berthtest4"), e.getMessage());
        assertEquals(0, e.getSuppressed().length, "the undo succeeded: " + List.of(e.getSuppressed()));
        assertFalse(ns.exec("ip", "link", "show", "eth0").exit() == 0, "no eth0 left in the pod");
        assertFalse(Files.exists(fx.cacheDir.resolve("half.json")), "no cache entry left");
        assertNothingLeft("berthtesthalf", "berthtest4", List.of("half"));
    }

    @Test
    void aNetworkDroppedIntoTheDirectoryIsUsedForTheNextPodAndOldPodsDetachWithTheirOwn() throws Exception {
        CniPodNetwork net = fx.network();
        TestNetns a = netns();
        TestNetns b = netns();
        PodNetwork.PodAttachment podA = BridgeFixture.pod("drop-a", a, List.of());
        assertTrue(attach(net, podA).ips().get(0).startsWith("10.199.0."));

        Path dropped = fx.configDir.resolve("05-berthtestb.conflist");
        cleanup.add(() -> Files.deleteIfExists(dropped));
        Files.writeString(dropped.resolveSibling(".05-tmp"), """
                {"cniVersion":"1.0.0","name":"berthtestb","plugins":[
                  {"type":"bridge","bridge":"berthtest2","isGateway":true,"ipMasq":true,
                   "ipam":{"type":"host-local","dataDir":"%s","ranges":[[{"subnet":"10.199.2.0/24"}]]}}]}
                """.formatted(fx.ipamDir));
        Files.move(dropped.resolveSibling(".05-tmp"), dropped);

        PodNetwork.PodAttachment podB = BridgeFixture.pod("drop-b", b, List.of());
        assertTrue(attach(net, podB).ips().get(0).startsWith("10.199.2."), "the new network is used");
        assertEquals(1, BridgeFixture.portsOf("berthtest2").size());

        net.detach(podA);
        net.detach(podB);
        assertNothingLeft(NET, BRIDGE, List.of("drop-a"));
        assertNothingLeft("berthtestb", "berthtest2", List.of("drop-b"));
    }

    @Test
    void detachIsIdempotentAndCleansUpWhenTheNamespaceIsAlreadyGone() {
        CniPodNetwork net = fx.network();
        TestNetns ns = TestNetns.create();
        PodNetwork.PodAttachment pod = BridgeFixture.pod("gone", ns, List.of(new PortMapping("tcp", 80, 18091, "")));
        try {
            net.attach(pod);
        } finally {
            ns.close();
        }
        net.detach(pod);
        net.detach(pod);
        net.detach(BridgeFixture.pod("never-attached", null, List.of()));
        assertNothingLeft(NET, BRIDGE, List.of("gone"));
    }

    @Test
    void aRestartedBerthDetachesWithTheCachedConfigEvenAfterTheConfigIsGone() throws Exception {
        TestNetns ns = netns();
        PodNetwork.PodAttachment pod = BridgeFixture.pod("restart", ns, List.of(new PortMapping("udp", 53, 18092, "")));
        CniPodNetwork before = fx.network();
        cleanup.add(() -> before.detach(pod));
        before.attach(pod);

        Path conf = fx.configDir.resolve("99-berth-default.conflist");
        String saved = Files.readString(conf);
        Files.delete(conf);
        cleanup.add(() -> Files.writeString(conf, saved));
        CniPodNetwork after = new CniPodNetwork(new CniPodNetwork.Settings(fx.configDir, BridgeFixture.PLUGIN_DIRS, fx.cacheDir,
                Duration.ofSeconds(60), null));
        assertFalse(after.readiness().ready());
        assertEquals(1, fx.leases(NET).size(), "the pod's lease is still held");
        after.detach(pod);
        assertNothingLeft(NET, BRIDGE, List.of("restart"));
    }

    @Test
    void garbageCollectionRemovesWhatSandboxesThatNoLongerExistLeftBehind() throws Exception {
        CniPodNetwork net = fx.network();
        TestNetns live = netns();
        TestNetns dead = netns();
        PodNetwork.PodAttachment livePod = BridgeFixture.pod("gc-live", live, List.of());
        PodNetworkStatus liveStatus = attach(net, livePod);
        attach(net, BridgeFixture.pod("gc-dead", dead, List.of(new PortMapping("tcp", 80, 18093, ""))));
        Path orphan = fx.ipamDir.resolve(NET).resolve("10.199.0.250");
        Files.writeString(orphan, "gc-crashed\r\neth0");

        net.garbageCollect(Set.of("gc-live"));

        assertFalse(Files.exists(orphan), "a lease of an unknown sandbox is released");
        assertEquals(List.of(liveStatus.ips().get(0)), fx.leases(NET));
        assertEquals(1, BridgeFixture.portsOf(BRIDGE).size());
        assertEquals(List.of(), BridgeFixture.rulesOf(NET, List.of("gc-dead")));
        live.exec("busybox", "ping", "-c1", "-W2", GATEWAY).ok();
        net.detach(livePod);
        assertNothingLeft(NET, BRIDGE, List.of("gc-live", "gc-dead"));
    }

    @Test
    void aChainOfSpecVersionZeroFourWorksThroughAddCheckAndDel() throws Exception {
        Path confDir = Files.createDirectories(fx.root.resolve("net.d-04"));
        Files.writeString(confDir.resolve("10-v04.conflist"), """
                {"cniVersion":"0.4.0","name":"berthtest04","plugins":[
                  {"type":"bridge","bridge":"berthtest3","isGateway":true,"ipMasq":true,
                   "ipam":{"type":"host-local","dataDir":"%s","ranges":[[{"subnet":"10.199.3.0/24"}]],"routes":[{"dst":"0.0.0.0/0"}]}},
                  {"type":"portmap","capabilities":{"portMappings":true}}]}
                """.formatted(fx.ipamDir));
        CniPodNetwork net = new CniPodNetwork(new CniPodNetwork.Settings(confDir, BridgeFixture.PLUGIN_DIRS, fx.cacheDir,
                Duration.ofSeconds(60), null));
        TestNetns ns = netns();
        PodNetwork.PodAttachment pod = BridgeFixture.pod("v04", ns, List.of());
        PodNetworkStatus s = attach(net, pod);
        assertTrue(s.ips().get(0).startsWith("10.199.3."), s.ips().toString());
        ns.exec("busybox", "ping", "-c1", "-W2", "10.199.3.1").ok();
        // CHECK without host ports: Debian's portmap 1.1.1 fails CHECK of an IPv4-only pod with
        // mappings (it looks for an IPv6 chain), which berth reports as it is
        net.check(pod);
        TestNetns ns2 = netns();
        PodNetwork.PodAttachment ported = BridgeFixture.pod("v04-ports", ns2, List.of(new PortMapping("tcp", 80, 18094, "")));
        attach(net, ported);
        assertEquals(1, BridgeFixture.rulesOf("berthtest04", List.of("v04-ports")).stream().filter(l -> l.contains("dnat name")).count());
        net.detach(pod);
        net.detach(ported);
        assertNothingLeft("berthtest04", "berthtest3", List.of("v04", "v04-ports"));
    }

    @Test
    void podsAttachedAndDetachedInParallelGetDistinctAddressesAndLeaveNothing() throws Exception {
        CniPodNetwork net = fx.network();
        List<TestNetns> spaces = new ArrayList<>();
        List<PodNetwork.PodAttachment> pods = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            TestNetns ns = netns();
            spaces.add(ns);
            PodNetwork.PodAttachment pod = BridgeFixture.pod("par-" + i, ns, List.of(new PortMapping("tcp", 80, 18100 + i, "")));
            pods.add(pod);
            cleanup.add(() -> net.detach(pod));
        }
        List<String> ips = pods.parallelStream().map(p -> net.attach(p).ips().get(0)).toList();
        assertEquals(8, Set.copyOf(ips).size(), ips.toString());
        assertEquals(8, fx.leases(NET).size());
        spaces.get(0).exec("busybox", "ping", "-c1", "-W2", ips.get(7)).ok();
        pods.parallelStream().forEach(net::detach);
        assertNothingLeft(NET, BRIDGE, pods.stream().map(PodNetwork.PodAttachment::sandboxId).toList());
    }

    @Test
    void aNewPodCidrMovesTheDefaultNetworkOnceNoPodUsesTheOldOne() throws Exception {
        CniPodNetwork net = fx.network();
        TestNetns a = netns();
        PodNetwork.PodAttachment old = BridgeFixture.pod("cidr-old", a, List.of());
        assertTrue(attach(net, old).ips().get(0).startsWith("10.199.0."));
        net.detach(old);
        cleanup.add(() -> net.setPodCidrs(List.of()));
        net.setPodCidrs(List.of("10.199.6.0/24"));

        TestNetns b = netns();
        PodNetworkStatus moved = attach(net, BridgeFixture.pod("cidr-new", b, List.of()));
        assertTrue(moved.ips().get(0).startsWith("10.199.6."), moved.ips().toString());
        b.exec("busybox", "ping", "-c1", "-W2", "10.199.6.1").ok();
        net.detach(BridgeFixture.pod("cidr-new", b, List.of()));
        assertNothingLeft(NET, BRIDGE, List.of("cidr-old", "cidr-new"));
    }

    // ---- a tiny server in the pod, a client on the host

    private void echoServer(TestNetns ns, String proto, int port) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        String cp = Path.of(PortEcho.class.getProtectionDomain().getCodeSource().getLocation().toURI()).toString();
        Process p = new ProcessBuilder(ns.execCommand(java, "-Xshare:auto", "-cp", cp, PortEcho.class.getName(), proto,
                String.valueOf(port))).redirectErrorStream(true).start();
        cleanup.add(() -> {
            p.destroyForcibly();
            p.waitFor();
        });
        InputStream in = p.getInputStream();
        BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
        String line = r.readLine();
        assertEquals("listening", line, "echo server in the pod started");
    }

    private static String tcp(String host, int port, String msg) throws IOException {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(host, port), 10_000);
            s.setSoTimeout(10_000);
            s.getOutputStream().write(msg.getBytes(StandardCharsets.UTF_8));
            s.shutdownOutput();
            return new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    private static String udp(String host, int port, String msg) throws IOException {
        try (DatagramSocket s = new DatagramSocket()) {
            s.setSoTimeout(2_000);
            byte[] data = msg.getBytes(StandardCharsets.UTF_8);
            byte[] buf = new byte[1500];
            for (int attempt = 0; ; attempt++) {
                s.send(new DatagramPacket(data, data.length, InetAddress.getByName(host), port));
                DatagramPacket reply = new DatagramPacket(buf, buf.length);
                try {
                    s.receive(reply);
                    return new String(reply.getData(), 0, reply.getLength(), StandardCharsets.UTF_8);
                } catch (java.net.SocketTimeoutException e) {
                    if (attempt == 4) {
                        throw e;
                    }
                }
            }
        }
    }
}
