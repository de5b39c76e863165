package dev.berth.streaming;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.common.BerthException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Port forwarding over SPDY/3.1 ({@code portforward.k8s.io}) to a TCP echo server
 * ({@link EchoServerMain}) on 127.0.0.1 inside a network namespace the test creates.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
@Tag("root")
public class SpdyPortForwardTest {
    public static final int ECHO_PORT = PortForwardTest.ECHO_PORT;
    public static final int CLOSED_PORT = PortForwardTest.CLOSED_PORT;

    public EchoNamespace ns;
    public StreamingServer server;
    public MutableClock clock = new MutableClock();

    @BeforeEach
    public void setUp() throws Exception {
        ns = new EchoNamespace("berth-test-spdypf-", ECHO_PORT);
        server = StreamingServer.start("127.0.0.1", 0, StreamingServer.Options.defaults(), req -> {
            throw BerthException.failedPrecondition("no exec here");
        }, clock);
    }

    @AfterEach
    public void tearDown() throws Exception {
        try {
            if (server != null) {
                server.close();
            }
        } finally {
            ns.close();
            assertFalse(Files.exists(Path.of("/run/netns", ns.name)), "test namespace removed");
        }
    }

    private String url(List<Integer> allowed) {
        return server.register(new StreamRequest.PortForward("sb1", "/run/netns/" + ns.name, allowed));
    }

    /** Opens a request's pair of streams, error first as the Go client does. */
    private static SpdyClient.Stream[] pair(SpdyClient c, int port, int requestId) throws Exception {
        SpdyClient.Stream error = c.stream("streamtype", "error", "port", Integer.toString(port), "requestid",
                Integer.toString(requestId));
        SpdyClient.Stream data = c.stream("streamtype", "data", "port", Integer.toString(port), "requestid",
                Integer.toString(requestId));
        return new SpdyClient.Stream[] {data, error};
    }

    @Test
    public void oneMegabyteRoundTripArrivesIntactWithFlowControlBothWays() throws Exception {
        try (SpdyClient c = SpdyClient.connect(url(List.of()), true, true, "portforward.k8s.io")) {
            assertEquals(101, c.status);
            assertEquals("portforward.k8s.io", c.protocol);
            SpdyClient.Stream[] p = pair(c, ECHO_PORT, 0);
            byte[] payload = new byte[1 << 20];
            new Random(42).nextBytes(payload);
            // 16 times the initial window: it only gets through if berth grants window as it forwards
            p[0].write(payload);
            byte[] got = p[0].awaitBytes(payload.length);
            assertEquals(payload.length, got.length);
            assertArrayEquals(payload, got);
            p[0].close();
            assertEquals("", p[1].awaitEnd(), "nothing on the error stream");
            p[0].awaitEnd();
            assertArrayEquals(payload, p[0].bytes(), "the pod's side ended after the echo, nothing more");
        }
        awaitNoConnectionInThePod();
    }

    @Test
    public void twentyConcurrentConnectionsOnOneSessionEachGetTheirOwnBytes() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(20);
        try (SpdyClient c = SpdyClient.open(url(List.of(ECHO_PORT)), "portforward.k8s.io")) {
            List<Future<String>> results = new ArrayList<>();
            for (int i = 0; i < 20; i++) {
                int n = i;
                results.add(pool.submit(() -> {
                    SpdyClient.Stream[] p = pair(c, ECHO_PORT, n);
                    byte[] payload = new byte[64 * 1024];
                    new Random(n).nextBytes(payload);
                    for (int off = 0; off < payload.length; off += 8192) {
                        p[0].write(Arrays.copyOfRange(payload, off, off + 8192));
                    }
                    byte[] got = p[0].awaitBytes(payload.length);
                    p[0].close();
                    String error = p[1].awaitEnd();
                    return Arrays.equals(payload, got) ? "" : "connection " + n + " got " + got.length
                            + " bytes" + (got.length == payload.length ? " (not its own)" : "") + ", error stream: " + error;
                }));
            }
            for (Future<String> r : results) {
                assertEquals("", r.get(), "each connection got its own bytes back");
            }
        } finally {
            pool.shutdownNow();
        }
        awaitNoConnectionInThePod();
    }

    @Test
    public void aClosedPortReportsOnItsErrorStreamAndOtherPairsGoOn() throws Exception {
        try (SpdyClient c = SpdyClient.open(url(List.of()), "portforward.k8s.io")) {
            SpdyClient.Stream[] bad = pair(c, CLOSED_PORT, 1);
            String message = bad[1].awaitEnd();
            assertTrue(message.contains("error forwarding port " + CLOSED_PORT) && message.contains("sb1"), message);
            bad[0].awaitEnd();
            SpdyClient.Stream[] good = pair(c, ECHO_PORT, 2);
            good[0].write("hello");
            assertEquals("hello", new String(good[0].awaitBytes(5)));
            good[0].close();
            assertEquals("", good[1].awaitEnd());
        }
    }

    @Test
    public void aClientThatGoesAwayClosesItsConnectionsInThePod() throws Exception {
        try (SpdyClient c = SpdyClient.open(url(List.of()), "portforward.k8s.io")) {
            for (int i = 0; i < 3; i++) {
                SpdyClient.Stream[] p = pair(c, ECHO_PORT, i);
                p[0].write("ping");
                assertEquals("ping", new String(p[0].awaitBytes(4)));
            }
            assertEquals(3, ns.established().lines().count() / 2, "three connections, both ends in the namespace");
            c.abort();
        }
        awaitNoConnectionInThePod();
    }

    @Test
    public void clientsWithoutRequestIdsPairStreamsByTheirIds() throws Exception {
        try (SpdyClient c = SpdyClient.open(url(List.of()), "portforward.k8s.io")) {
            SpdyClient.Stream error = c.stream("streamtype", "error", "port", Integer.toString(ECHO_PORT));
            SpdyClient.Stream data = c.stream("streamtype", "data", "port", Integer.toString(ECHO_PORT));
            data.write("old client");
            assertEquals("old client", new String(data.awaitBytes(10)));
            data.close();
            assertEquals("", error.awaitEnd());
        }
    }

    @Test
    public void aPortNotRequestedIsRefusedOnTheErrorStream() throws Exception {
        try (SpdyClient c = SpdyClient.open(url(List.of(ECHO_PORT)), "portforward.k8s.io")) {
            SpdyClient.Stream[] p = pair(c, CLOSED_PORT, 7);
            assertTrue(p[1].awaitEnd().contains("port " + CLOSED_PORT + " was not requested"), p[1].text());
        }
    }

    @Test
    public void usedExpiredAndUnknownTokensAre404() throws Exception {
        String u = url(List.of());
        try (SpdyClient first = SpdyClient.open(u, "portforward.k8s.io");
                SpdyClient again = SpdyClient.connect(u, "portforward.k8s.io")) {
            assertEquals(404, again.status, "a used token");
            assertTrue(first.isOpen());
        }
        String expired = url(List.of());
        clock.advance(Duration.ofSeconds(61));
        try (SpdyClient c = SpdyClient.connect(expired, "portforward.k8s.io")) {
            assertEquals(404, c.status, "an expired token");
        }
        String fresh = url(List.of());
        try (SpdyClient c = SpdyClient.connect(fresh.substring(0, fresh.lastIndexOf('/') + 1)
                + "00000000000000000000000000000000", "portforward.k8s.io")) {
            assertEquals(404, c.status, "an unknown token");
        }
        try (SpdyClient c = SpdyClient.connect(fresh.replace("/portforward/", "/exec/"), "v4.channel.k8s.io")) {
            assertEquals(404, c.status, "a token of another kind");
        }
        try (SpdyClient c = SpdyClient.connect(fresh, "v4.channel.k8s.io")) {
            assertEquals(403, c.status, "a remotecommand protocol for a port-forward");
        }
    }

    private void awaitNoConnectionInThePod() throws Exception {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!ns.established().isEmpty() && System.nanoTime() < end) {
            Thread.sleep(50);
        }
        assertEquals("", ns.established(), "every connection into the pod is closed");
    }

    /** A scratch network namespace with a TCP echo server on 127.0.0.1:port. */
    public static final class EchoNamespace implements AutoCloseable {
        public final String name;
        private final Process echo;

        public EchoNamespace(String prefix, int port) throws Exception {
            name = prefix + HexFormat.of().toHexDigits(new Random().nextInt());
            PortForwardTest.run("ip", "netns", "add", name);
            Process p = null;
            try {
                PortForwardTest.run("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up");
                p = EchoServerMain.inNetns(name, port).redirectErrorStream(true)
                        .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
                awaitListening(port);
            } catch (Exception | Error e) {
                echo = p;
                close();
                throw e;
            }
            echo = p;
        }

        public String established() throws Exception {
            Process p = new ProcessBuilder("ip", "netns", "exec", name, "ss", "-tnH", "state", "established")
                    .redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes()).trim();
            p.waitFor();
            return out;
        }

        private void awaitListening(int port) throws Exception {
            long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (System.nanoTime() < end) {
                Process p = new ProcessBuilder("ip", "netns", "exec", name, "ss", "-ltnH", "sport", "= :" + port)
                        .redirectErrorStream(true).start();
                String out = new String(p.getInputStream().readAllBytes());
                p.waitFor();
                if (out.contains(":" + port)) {
                    return;
                }
                Thread.sleep(50);
            }
            throw new AssertionError("echo server did not start");
        }

        @Override
        public void close() throws Exception {
            if (echo != null) {
                echo.descendants().forEach(ProcessHandle::destroyForcibly);
                echo.destroyForcibly().waitFor();
            }
            Process pids = new ProcessBuilder("ip", "netns", "pids", name).start();
            for (String pid : new String(pids.getInputStream().readAllBytes()).trim().split("\\s+")) {
                if (!pid.isEmpty()) {
                    ProcessHandle.of(Long.parseLong(pid)).ifPresent(ProcessHandle::destroyForcibly);
                }
            }
            pids.waitFor();
            PortForwardTest.run("ip", "netns", "delete", name);
        }
    }
}
