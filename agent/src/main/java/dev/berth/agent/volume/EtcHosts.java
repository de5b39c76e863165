package dev.berth.agent.volume;

import io.fabric8.kubernetes.api.model.HostAlias;
import java.util.List;

/**
 * The /etc/hosts the kubelet gives every container of a pod: for a pod on its own network,
 * the localhost lines, each pod IP with the pod's FQDN (when it has a subdomain and the
 * cluster has a domain) and hostname, then the pod's hostAliases; for a host-network pod, the
 * node's own hosts file followed by the hostAliases.
 */
final class EtcHosts {
    private EtcHosts() {
    }

    static String managed(List<String> podIps, String hostname, String fqdn, List<HostAlias> aliases) {
        StringBuilder b = new StringBuilder("# Kubernetes-managed hosts file.\n")
                .append("127.0.0.1\tlocalhost\n")
                .append("::1\tlocalhost ip6-localhost ip6-loopback\n")
                .append("fe00::0\tip6-localnet\n")
                .append("fe00::0\tip6-mcastprefix\n")
                .append("fe00::1\tip6-allnodes\n")
                .append("fe00::2\tip6-allrouters\n");
        for (String ip : podIps) {
            b.append(ip).append('\t');
            if (fqdn != null && !fqdn.isEmpty()) {
                b.append(fqdn).append('\t');
            }
            b.append(hostname).append('\n');
        }
        return b.append(aliases(aliases)).toString();
    }

    static String hostNetwork(String nodeHosts, List<HostAlias> aliases) {
        StringBuilder b = new StringBuilder("# Kubernetes-managed hosts file (host network).\n").append(nodeHosts);
        if (!nodeHosts.isEmpty() && !nodeHosts.endsWith("\n")) {
            b.append('\n');
        }
        return b.append(aliases(aliases)).toString();
    }

    private static String aliases(List<HostAlias> aliases) {
        if (aliases == null || aliases.isEmpty()) {
            return "";
        }
        StringBuilder b = new StringBuilder("\n# Entries added by HostAliases.\n");
        for (HostAlias a : aliases) {
            if (a.getIp() == null || a.getHostnames() == null || a.getHostnames().isEmpty()) {
                continue;
            }
            b.append(clean(a.getIp()));
            for (String h : a.getHostnames()) {
                b.append('\t').append(clean(h));
            }
            b.append('\n');
        }
        return b.toString();
    }

    /** A field without whitespace: an alias cannot add lines of its own. */
    private static String clean(String s) {
        return s.replaceAll("\\s", "");
    }
}
