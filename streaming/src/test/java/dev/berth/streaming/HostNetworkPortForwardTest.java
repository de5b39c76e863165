package dev.berth.streaming;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.common.BerthException;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Port forwarding to a pod that shares the host's network: the streaming server dials the
 * loopback of its own network namespace, where a test echo server listens (no namespace, no
 * root needed).
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class HostNetworkPortForwardTest {
    ServerSocket echo;
    StreamingServer server;

    @BeforeEach
    void setUp() throws Exception {
        echo = EchoServerMain.inThisProcess(InetAddress.getByName("127.0.0.1"));
        server = StreamingServer.start("127.0.0.1", 0, StreamingServer.Options.defaults(), req -> {
            throw BerthException.failedPrecondition("no exec here");
        }, new MutableClock());
    }

    @AfterEach
    void tearDown() throws Exception {
        try {
            if (server != null) {
                server.close();
            }
        } finally {
            echo.close();
        }
    }

    /** A port of the loopback where nothing listens (bound, then closed). */
    static int closedPort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    @Test
    void aHostNetworkRequestNeedsNoNamespaceAndAPodNetworkOneStillDoes() {
        StreamRequest.PortForward host = StreamRequest.PortForward.toHostNetwork("sb1", List.of(80));
        assertTrue(host.hostNetwork());
        assertNull(host.netnsPath());
        BerthException missing = assertThrows(BerthException.class,
                () -> new StreamRequest.PortForward("sb2", null, List.of()));
        assertEquals(BerthException.Kind.FAILED_PRECONDITION, missing.kind());
        BerthException both = assertThrows(BerthException.class,
                () -> new StreamRequest.PortForward("sb3", "/run/netns/x", List.of(), true));
        assertEquals(BerthException.Kind.INVALID_ARGUMENT, both.kind());
    }

    @Test
    void spdyReachesTheHostsLoopbackBothWaysAndAClosedPortReportsOnItsErrorStream() throws Exception {
        int port = echo.getLocalPort();
        int closed = closedPort();
        String url = server.register(StreamRequest.PortForward.toHostNetwork("sb-host", List.of()));
        try (SpdyClient c = SpdyClient.open(url, "portforward.k8s.io")) {
            SpdyClient.Stream error = c.stream("streamtype", "error", "port", Integer.toString(port), "requestid", "0");
            SpdyClient.Stream data = c.stream("streamtype", "data", "port", Integer.toString(port), "requestid", "0");
            byte[] payload = new byte[256 * 1024];
            new Random(7).nextBytes(payload);
            data.write(payload);
            assertArrayEquals(payload, data.awaitBytes(payload.length));
            data.close();
            assertEquals("", error.awaitEnd(), "nothing on the error stream");

            SpdyClient.Stream badError = c.stream("streamtype", "error", "port", Integer.toString(closed), "requestid", "1");
            SpdyClient.Stream badData = c.stream("streamtype", "data", "port", Integer.toString(closed), "requestid", "1");
            String message = badError.awaitEnd();
            assertTrue(message.contains("error forwarding port " + closed + " to pod sandbox sb-host")
                    && message.contains("host's network namespace"), message);
            badData.awaitEnd();
        }
    }

    @Test
    void webSocketReachesTheHostsLoopback() throws Exception {
        int port = echo.getLocalPort();
        String url = server.register(StreamRequest.PortForward.toHostNetwork("sb-host", List.of(port))) + "?port=" + port;
        ChannelClient c = ChannelClient.open(url, "portforward.k8s.io");
        c.awaitBytes(1, 2);
        c.send(0, "hello host".getBytes());
        byte[] got = c.awaitBytes(0, 2 + 10);
        assertEquals("hello host", new String(got, 2, 10));
        assertEquals(2, c.channel(1).length, "nothing on the error channel but the port");
        c.socket.sendClose(1000, "").join();
        c.awaitClose();
    }

    @Test
    void aServerOnlyOnTheIpv6LoopbackIsReachedToo() throws Exception {
        ServerSocket v6;
        try {
            v6 = EchoServerMain.inThisProcess(InetAddress.getByName("::1"));
        } catch (IOException e) {
            org.junit.jupiter.api.Assumptions.assumeTrue(false, "no IPv6 loopback here: " + e.getMessage());
            return;
        }
        try (v6) {
            int port = v6.getLocalPort();
            String url = server.register(StreamRequest.PortForward.toHostNetwork("sb-host", List.of()));
            try (SpdyClient c = SpdyClient.open(url, "portforward.k8s.io")) {
                SpdyClient.Stream error = c.stream("streamtype", "error", "port", Integer.toString(port), "requestid", "0");
                SpdyClient.Stream data = c.stream("streamtype", "data", "port", Integer.toString(port), "requestid", "0");
                data.write("six");
                assertEquals("six", new String(data.awaitBytes(3)));
                data.close();
                assertEquals("", error.awaitEnd());
            }
        }
    }
}
