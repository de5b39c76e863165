package dev.berth.agent.node;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.NetworkInterface;
import java.net.SocketException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.function.Function;

/**
 * The node's InternalIP addresses: the configured ones; else the IPv4 address of the interface
 * of the default route ({@code /proc/net/route}, the lowest metric first); else the first
 * address of a non-loopback interface that is up.
 */
public final class NodeAddresses {
    private NodeAddresses() {
    }

    /** The node's IPs on this machine ({@code configured} when not empty). */
    public static List<String> find(List<String> configured) {
        if (!configured.isEmpty()) {
            return List.copyOf(configured);
        }
        String iface = defaultRouteInterface(MachineFacts.small(Path.of("/proc/net/route")));
        List<String> found = iface == null ? List.of() : ipv4Of(iface, NodeAddresses::interfaceAddresses);
        if (found.isEmpty()) {
            found = firstNonLoopback();
        }
        return found;
    }

    /** The interface of the default IPv4 route with the lowest metric in a /proc/net/route table, or null. */
    static String defaultRouteInterface(String table) {
        String best = null;
        long bestMetric = Long.MAX_VALUE;
        for (String line : table.split("\n")) {
            String[] f = line.trim().split("\\s+");
            // Iface Destination Gateway Flags RefCnt Use Metric Mask ...; flag 0x1: the route is up
            if (f.length < 8 || !f[1].equals("00000000") || !f[7].equals("00000000")) {
                continue;
            }
            try {
                if ((Integer.parseInt(f[3], 16) & 1) == 0) {
                    continue;
                }
                long metric = Long.parseLong(f[6]);
                if (metric < bestMetric) {
                    best = f[0];
                    bestMetric = metric;
                }
            } catch (NumberFormatException e) {
                // a malformed line is skipped
            }
        }
        return best;
    }

    static List<String> ipv4Of(String iface, Function<String, List<InetAddress>> addresses) {
        for (InetAddress a : addresses.apply(iface)) {
            if (a instanceof Inet4Address && !a.isLoopbackAddress() && !a.isLinkLocalAddress()) {
                return List.of(a.getHostAddress());
            }
        }
        return List.of();
    }

    private static List<InetAddress> interfaceAddresses(String name) {
        try {
            NetworkInterface ni = NetworkInterface.getByName(name);
            return ni == null ? List.of() : Collections.list(ni.getInetAddresses());
        } catch (SocketException e) {
            return List.of();
        }
    }

    private static List<String> firstNonLoopback() {
        List<InetAddress> v6 = new ArrayList<>();
        try {
            for (NetworkInterface ni : Collections.list(NetworkInterface.getNetworkInterfaces())) {
                if (ni.isLoopback() || !ni.isUp()) {
                    continue;
                }
                for (InetAddress a : Collections.list(ni.getInetAddresses())) {
                    if (a.isLinkLocalAddress() || a.isLoopbackAddress()) {
                        continue;
                    }
                    if (a instanceof Inet4Address) {
                        return List.of(a.getHostAddress());
                    }
                    v6.add(a);
                }
            }
        } catch (SocketException e) {
            // no interfaces to look at
        }
        return v6.isEmpty() ? List.of() : List.of(v6.get(0).getHostAddress().replaceAll("%.*", ""));
    }
}
