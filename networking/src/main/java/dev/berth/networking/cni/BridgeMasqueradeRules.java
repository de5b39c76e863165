package dev.berth.networking.cni;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.berth.common.BerthException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * The bridge plugin finds the pod's addresses for its masquerade rules inside the pod's
 * namespace; when DEL runs after that namespace is gone it releases the lease but leaves the
 * rules (a POSTROUTING jump tagged {@code name: "NET" id: "ID"} and the per-pod chain). berth
 * removes exactly those rules itself in that case, so a pod whose namespace vanished first
 * leaves nothing behind either.
 */
final class BridgeMasqueradeRules {
    private BridgeMasqueradeRules() {
    }

    static boolean applies(ObjectNode plugin) {
        return "bridge".equals(plugin.path("type").asText()) && plugin.path("ipMasq").asBoolean(false);
    }

    /** The per-pod chain name the bridge plugin uses: "CNI-" and the SHA-512 of network name and container id, 28 characters. */
    static String chainName(String network, String containerId) {
        try {
            byte[] d = MessageDigest.getInstance("SHA-512").digest((network + containerId).getBytes(StandardCharsets.UTF_8));
            return ("CNI-" + HexFormat.of().formatHex(d)).substring(0, 28);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Whether a failed DEL of the bridge plugin only says that the pod's masquerade chain does
     * not exist: the plugin's iptables library does not recognise iptables-nft's wording of
     * "no such chain" as harmless, so DEL after an ADD that failed before the rules were made
     * reports it although everything else was released.
     */
    static boolean isMissingChainError(RuntimeException e, String network, String containerId) {
        String m = e.getMessage();
        return m != null && m.contains("Chain '" + chainName(network, containerId) + "' does not exist");
    }

    /** Removes the masquerade rules and chain of one pod from the nat tables (IPv4 and IPv6). */
    static void remove(String network, String containerId) {
        String comment = "name: \\\"" + network + "\\\" id: \\\"" + containerId + "\\\"";
        String chain = chainName(network, containerId);
        for (String family : new String[] {"iptables", "ip6tables"}) {
            if (!IptablesCommands.available(family)) {
                continue;
            }
            String save = IptablesCommands.saveNat(family).orElse(null);
            if (save == null) {
                continue;
            }
            List<String> deletes = new ArrayList<>();
            boolean chainExists = false;
            for (String line : save.split("\n")) {
                if (line.startsWith(":" + chain + " ")) {
                    chainExists = true;
                } else if (line.startsWith("-A ") && !line.startsWith("-A " + chain + " ") && line.contains(comment)
                        && line.contains("-j " + chain)) {
                    deletes.add("-D" + line.substring(2));
                }
            }
            if (deletes.isEmpty() && !chainExists) {
                continue;
            }
            StringBuilder in = new StringBuilder("*nat\n");
            deletes.forEach(d -> in.append(d).append('\n'));
            if (chainExists) {
                in.append("-F ").append(chain).append('\n').append("-X ").append(chain).append('\n');
            }
            in.append("COMMIT\n");
            if (!IptablesCommands.restoreNoflush(family, in.toString())) {
                throw BerthException.failedPrecondition("cannot remove the masquerade rules (chain %s) of container %s in network \"%s\" "
                        + "with %s-restore", chain, containerId, network, family);
            }
        }
    }
}
