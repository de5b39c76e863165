package dev.berth.agent.status;

import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.NetworkInterface;
import java.net.SocketException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.function.Supplier;

/**
 * The node's addresses for pod statuses (hostIP, hostIPs) until the node's own code says
 * which addresses it registered: the first IPv4 and the first global IPv6 address of the
 * interfaces that are up, loopback and link-local addresses left out.
 */
public final class HostAddresses {
    private HostAddresses() {
    }

    /** Detects the addresses once, at the first call. */
    public static Supplier<List<String>> detected() {
        return new Supplier<>() {
            private volatile List<String> found;

            @Override
            public List<String> get() {
                List<String> f = found;
                if (f == null) {
                    f = detect();
                    found = f;
                }
                return f;
            }
        };
    }

    static List<String> detect() {
        String v4 = null;
        String v6 = null;
        try {
            for (NetworkInterface nic : Collections.list(NetworkInterface.getNetworkInterfaces())) {
                if (!nic.isUp() || nic.isLoopback()) {
                    continue;
                }
                for (InetAddress a : Collections.list(nic.getInetAddresses())) {
                    if (a.isLoopbackAddress() || a.isLinkLocalAddress()) {
                        continue;
                    }
                    if (a instanceof Inet4Address && v4 == null) {
                        v4 = a.getHostAddress();
                    } else if (a instanceof Inet6Address && v6 == null) {
                        String s = a.getHostAddress();
                        int zone = s.indexOf('%');
                        v6 = zone < 0 ? s : s.substring(0, zone);
                    }
                }
            }
        } catch (SocketException e) {
            return List.of();
        }
        List<String> out = new ArrayList<>();
        if (v4 != null) {
            out.add(v4);
        }
        if (v6 != null) {
            out.add(v6);
        }
        return List.copyOf(out);
    }
}
