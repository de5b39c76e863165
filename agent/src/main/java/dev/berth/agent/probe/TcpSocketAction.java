package dev.berth.agent.probe;

import java.io.IOException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.util.Locale;

/** A tcpSocket probe: the port takes a connection within the timeout (then closed at once), as the kubelet checks it. */
final class TcpSocketAction {
    private TcpSocketAction() {
    }

    static ProbeResult connect(String host, int port, Duration timeout) {
        String address = (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(host, port), (int) Math.max(1, timeout.toMillis()));
            return ProbeResult.success("");
        } catch (SocketTimeoutException e) {
            return ProbeResult.failure("dial tcp " + address + ": i/o timeout");
        } catch (ConnectException e) {
            return ProbeResult.failure("dial tcp " + address + ": connect: "
                    + (e.getMessage() == null ? "connection refused" : e.getMessage().toLowerCase(Locale.ROOT)));
        } catch (IOException | IllegalArgumentException e) {
            return ProbeResult.failure("dial tcp " + address + ": " + e.getMessage());
        }
    }
}
