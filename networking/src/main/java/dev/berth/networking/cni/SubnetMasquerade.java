package dev.berth.networking.cni;

import dev.berth.common.BerthException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Source NAT for the pods of berth's default network, set up once for the network's subnets
 * instead of once per pod. The bridge plugin's own {@code ipMasq} costs every pod its own nat
 * chain and about ten iptables runs on ADD (and more on DEL); berth's default network turns it
 * off and lists its subnets under {@code berthMasquerade} instead, and this class keeps one
 * chain with the same effect for all of them: traffic from a subnet to the same subnet is left
 * alone ({@code ACCEPT}), traffic to anywhere else except multicast is masqueraded.
 *
 * <p>In the nat table: {@code POSTROUTING -s SUBNET -j CHAIN} per subnet and, in CHAIN,
 * {@code -d SUBNET -j ACCEPT} per subnet and {@code ! -d 224.0.0.0/4 -j MASQUERADE} (ff00::/8
 * for IPv6), every rule tagged {@code name: "NETWORK" berth masquerade}. The chain is named
 * after the network and berth's result cache directory, so two berth daemons on one host keep
 * separate chains. Rules are added before the first pod's plugins run and removed when no pod
 * is attached any more, or when none has been for the daemon's linger time (see
 * {@link Masquerades}), and at start-up garbage collection and shutdown when no pod needs them.
 */
final class SubnetMasquerade {
    private final String network;
    private final String chain;
    private final String comment;
    /** The subnets whose rules are in place; null when unknown (after a restart). */
    private Set<String> installed;

    SubnetMasquerade(String network, String owner) {
        this.network = network;
        this.chain = chainName(network, owner);
        this.comment = "name: \"" + network + "\" berth masquerade";
    }

    String chain() {
        return chain;
    }

    static String chainName(String network, String owner) {
        try {
            byte[] d = MessageDigest.getInstance("SHA-256").digest((network + "\n" + owner).getBytes(StandardCharsets.UTF_8));
            return "BERTH-MASQ-" + HexFormat.of().formatHex(d).substring(0, 16);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Makes sure traffic from {@code subnets} is masqueraded (subnets already covered stay covered). */
    synchronized void ensure(List<String> subnets) {
        Set<String> wanted = new LinkedHashSet<>(installed == null ? Set.of() : installed);
        wanted.addAll(subnets);
        if (installed != null && installed.equals(wanted)) {
            return;
        }
        for (String family : new String[] {"iptables", "ip6tables"}) {
            List<String> mine = wanted.stream().filter(s -> IptablesCommands.family(s).equals(family)).toList();
            if (!mine.isEmpty()) {
                apply(family, mine);
            }
        }
        installed = wanted;
    }

    /** Removes every rule and the chain (from both families when what is in place is unknown). Idempotent. */
    synchronized void removeAll() {
        if (installed != null && installed.isEmpty()) {
            return;
        }
        for (String family : new String[] {"iptables", "ip6tables"}) {
            boolean had = installed == null || installed.stream().anyMatch(s -> IptablesCommands.family(s).equals(family));
            if (had) {
                apply(family, List.of());
            }
        }
        installed = Set.of();
    }

    /** Brings the family's nat table to exactly {@code subnets} (none: chain and jumps removed) in one restore. */
    private void apply(String family, List<String> subnets) {
        if (!IptablesCommands.available(family)) {
            if (subnets.isEmpty()) {
                return;
            }
            throw BerthException.failedPrecondition("cannot masquerade the pods of network \"%s\": %s-save/%s-restore not found",
                    network, family, family);
        }
        String save = IptablesCommands.saveNat(family).orElseThrow(() -> BerthException.failedPrecondition(
                "cannot masquerade the pods of network \"%s\": %s-save -t nat failed", network, family));
        boolean chainExists = false;
        List<String> jumps = new ArrayList<>();
        for (String line : save.split("\n")) {
            if (line.startsWith(":" + chain + " ")) {
                chainExists = true;
            } else if (line.startsWith("-A POSTROUTING ") && (line.endsWith(" -j " + chain) || line.contains(" -j " + chain + " "))) {
                jumps.add(line);
            }
        }
        if (subnets.isEmpty() && !chainExists && jumps.isEmpty()) {
            return;
        }
        StringBuilder in = new StringBuilder("*nat\n");
        if (!subnets.isEmpty()) {
            if (chainExists) {
                in.append("-F ").append(chain).append('\n');
            } else {
                in.append(':').append(chain).append(" - [0:0]\n");
            }
            for (String s : subnets) {
                in.append("-A ").append(chain).append(" -d ").append(s).append(tag()).append(" -j ACCEPT\n");
            }
            String multicast = family.equals("ip6tables") ? "ff00::/8" : "224.0.0.0/4";
            in.append("-A ").append(chain).append(" ! -d ").append(multicast).append(tag()).append(" -j MASQUERADE\n");
        }
        // the jumps are replaced as a whole: the rules iptables-save printed go, the wanted ones come
        for (String j : jumps) {
            in.append("-D").append(j.substring(2)).append('\n');
        }
        for (String s : subnets) {
            in.append("-A POSTROUTING -s ").append(s).append(tag()).append(" -j ").append(chain).append('\n');
        }
        if (subnets.isEmpty() && chainExists) {
            in.append("-F ").append(chain).append('\n').append("-X ").append(chain).append('\n');
        }
        in.append("COMMIT\n");
        if (!IptablesCommands.restoreNoflush(family, in.toString())) {
            throw BerthException.failedPrecondition("cannot %s the masquerade rules (chain %s) of network \"%s\" with %s-restore",
                    subnets.isEmpty() ? "remove" : "set up", chain, network, family);
        }
    }

    private String tag() {
        return " -m comment --comment \"" + comment.replace("\"", "\\\"") + "\"";
    }
}
