package dev.berth.networking.cni;

import dev.berth.networking.PodNetwork;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

/**
 * A test's own CNI world: config, cache and lease directories under a temporary root, and a
 * default network with a test-only bridge and subnet, so tests never touch a real node's
 * network. {@link #close()} removes the bridges, the test networks' iptables rules and chains
 * and the directories.
 */
final class BridgeFixture implements AutoCloseable {
    static final List<Path> PLUGIN_DIRS = List.of(Path.of("/usr/lib/cni"), Path.of("/opt/cni/bin"));

    final String networkName;
    final String bridge;
    final String subnet;
    final Path root;
    final Path configDir;
    final Path cacheDir;
    final Path ipamDir;
    private final Set<String> extraBridges = new LinkedHashSet<>();
    private final Set<String> extraNetworks = new LinkedHashSet<>();

    BridgeFixture(String networkName, String bridge, String subnet) {
        this.networkName = networkName;
        this.bridge = bridge;
        this.subnet = subnet;
        try {
            this.root = Files.createTempDirectory("berth-cni-" + networkName);
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        this.configDir = root.resolve("net.d");
        this.cacheDir = root.resolve("cni/results");
        this.ipamDir = root.resolve("cni/ipam");
        removeBridge(bridge);
        sweepRules(networkName);
    }

    CniPodNetwork.DefaultNetworkSettings defaultNetwork() {
        return new CniPodNetwork.DefaultNetworkSettings(networkName, bridge, subnet, ipamDir, "99-berth-default.conflist");
    }

    CniPodNetwork network() {
        return network(PLUGIN_DIRS, Duration.ofSeconds(60));
    }

    CniPodNetwork network(List<Path> binDirs, Duration timeout) {
        return new CniPodNetwork(new CniPodNetwork.Settings(configDir, binDirs, cacheDir, timeout, defaultNetwork()));
    }

    /** Another bridge / network name this test creates, cleaned up with the fixture. */
    void alsoCleanUp(String network, String bridgeName) {
        extraNetworks.add(network);
        extraBridges.add(bridgeName);
    }

    static PodNetwork.PodAttachment pod(String id, TestNetns ns, List<PodNetwork.PortMapping> ports) {
        return new PodNetwork.PodAttachment(id, "pod-" + id, "berth-test", "uid-" + id, ns == null ? null : ns.path, ports, Map.of(), "");
    }

    // ---- what is on the system

    /** IP lease files host-local keeps for {@code network} in this fixture's lease directory. */
    List<String> leases(String network) {
        Path dir = ipamDir.resolve(network);
        List<String> out = new ArrayList<>();
        if (!Files.isDirectory(dir)) {
            return out;
        }
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
            for (Path p : ds) {
                String n = p.getFileName().toString();
                if (!n.equals("lock") && !n.startsWith("last_reserved_ip")) {
                    out.add(n);
                }
            }
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        return out;
    }

    /** Interfaces enslaved to the bridge (the host ends of pods' veths). */
    static List<String> portsOf(String bridgeName) {
        Sh.Result r = Sh.run("ip", "-o", "link", "show", "master", bridgeName);
        if (r.exit() != 0) {
            return List.of();
        }
        return r.out().lines().filter(l -> !l.isBlank()).toList();
    }

    /** iptables/ip6tables lines (rules and chain heads) that belong to these pods of this network. */
    static List<String> rulesOf(String network, Iterable<String> containerIds) {
        Set<String> out = new LinkedHashSet<>();
        for (String save : new String[] {"iptables-save", "ip6tables-save"}) {
            String dump = Sh.run(save).ok().out();
            for (String id : containerIds) {
                for (String line : dump.split("\n")) {
                    if (line.contains("name: \\\"" + network + "\\\" id: \\\"" + id + "\\\"")) {
                        out.add(line);
                    }
                }
                String masq = BridgeMasqueradeRules.chainName(network, id);
                String dnat = "CNI-DN-" + masq.substring(4, 4 + 21);
                for (String line : dump.split("\n")) {
                    if (line.contains(masq) || line.contains(dnat)) {
                        out.add(line);
                    }
                }
            }
        }
        return List.copyOf(out);
    }

    /** Every iptables/ip6tables line tagged with this network's name, whichever pod it is for. */
    static List<String> rulesOfNetwork(String network) {
        List<String> out = new ArrayList<>();
        for (String save : new String[] {"iptables-save", "ip6tables-save"}) {
            for (String line : Sh.run(save).ok().out().split("\n")) {
                if (line.contains("name: \\\"" + network + "\\\"")) {
                    out.add(line);
                }
            }
        }
        return out;
    }

    // ---- cleanup

    @Override
    public void close() {
        Set<String> bridges = new LinkedHashSet<>(extraBridges);
        bridges.add(bridge);
        bridges.forEach(BridgeFixture::removeBridge);
        Set<String> nets = new LinkedHashSet<>(extraNetworks);
        nets.add(networkName);
        nets.forEach(BridgeFixture::sweepRules);
        try (Stream<Path> s = Files.walk(root)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            // the temp dir is gone already
        }
    }

    private static void removeBridge(String name) {
        for (String port : portsOf(name)) {
            String ifname = port.split(":")[1].trim().split("@")[0];
            Sh.run("ip", "link", "delete", ifname);
        }
        Sh.run("ip", "link", "delete", name);
    }

    /** Removes every nat rule tagged with this test network's name and the chains they jump to. */
    static void sweepRules(String network) {
        for (String family : new String[] {"iptables", "ip6tables"}) {
            String dump = Sh.run(family + "-save", "-t", "nat").out();
            List<String> deletes = new ArrayList<>();
            Set<String> chains = new LinkedHashSet<>();
            for (String line : dump.split("\n")) {
                if (line.startsWith("-A ") && line.contains("name: \\\"" + network + "\\\"")) {
                    String chain = line.split(" ")[1];
                    int j = line.indexOf(" -j ");
                    String target = j < 0 ? "" : line.substring(j + 4).split(" ")[0];
                    if ((target.startsWith("CNI-") && !target.startsWith("CNI-HOSTPORT")) || target.startsWith("BERTH-MASQ-")) {
                        chains.add(target);
                    }
                    if (!chains.contains(chain)) {
                        deletes.add("-D" + line.substring(2));
                    }
                }
            }
            if (deletes.isEmpty() && chains.isEmpty()) {
                continue;
            }
            StringBuilder in = new StringBuilder("*nat\n");
            deletes.forEach(d -> in.append(d).append('\n'));
            chains.forEach(c -> in.append("-F ").append(c).append('\n'));
            chains.forEach(c -> in.append("-X ").append(c).append('\n'));
            in.append("COMMIT\n");
            try {
                Path f = Files.createTempFile("berth-sweep", ".rules");
                Files.writeString(f, in.toString());
                Sh.run("sh", "-c", family + "-restore --noflush -w < " + f);
                Files.deleteIfExists(f);
            } catch (IOException e) {
                throw new AssertionError(e);
            }
        }
    }
}
