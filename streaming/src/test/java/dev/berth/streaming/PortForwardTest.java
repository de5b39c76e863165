package dev.berth.streaming;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.common.BerthException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
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
 * Port forwarding over WebSocket to a TCP echo server ({@link EchoServerMain}) listening on
 * 127.0.0.1 inside a network namespace the test creates.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
@Tag("root")
public class PortForwardTest {
    public static final int ECHO_PORT = 7777;
    public static final int CLOSED_PORT = 7778;

    public String netns;
    public Process echo;
    public StreamingServer server;
    public MutableClock clock = new MutableClock();

    @BeforeEach
    public void setUp() throws Exception {
        netns = "berth-test-pf-" + HexFormat.of().toHexDigits(new Random().nextInt());
        run("ip", "netns", "add", netns);
        run("ip", "netns", "exec", netns, "ip", "link", "set", "lo", "up");
        echo = EchoServerMain.inNetns(netns, ECHO_PORT).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        awaitListening();
        server = StreamingServer.start("127.0.0.1", 0, StreamingServer.Options.defaults(), req -> {
            throw BerthException.failedPrecondition("no exec here");
        }, clock);
    }

    @AfterEach
    public void tearDown() throws Exception {
        if (server != null) {
            server.close();
        }
        if (echo != null) {
            echo.descendants().forEach(ProcessHandle::destroyForcibly);
            echo.destroyForcibly().waitFor();
        }
        // anything still running in the namespace (forked cat processes) goes with it
        Process pids = new ProcessBuilder("ip", "netns", "pids", netns).start();
        for (String pid : new String(pids.getInputStream().readAllBytes()).trim().split("\\s+")) {
            if (!pid.isEmpty()) {
                ProcessHandle.of(Long.parseLong(pid)).ifPresent(ProcessHandle::destroyForcibly);
            }
        }
        pids.waitFor();
        run("ip", "netns", "delete", netns);
        assertFalse(Files.exists(Path.of("/run/netns", netns)), "test namespace removed");
    }

    private String url(List<Integer> allowed, int... ports) {
        String u = server.register(new StreamRequest.PortForward("sb1", "/run/netns/" + netns, allowed));
        StringBuilder q = new StringBuilder();
        for (int p : ports) {
            q.append(q.length() == 0 ? "?" : "&").append("port=").append(p);
        }
        return u + q;
    }

    @Test
    public void oneMegabyteRoundTripArrivesIntact() throws Exception {
        ChannelClient c = ChannelClient.open(url(List.of(), ECHO_PORT), "portforward.k8s.io");
        assertEquals("portforward.k8s.io", c.protocol);
        byte[] prefix = {(byte) (ECHO_PORT & 0xff), (byte) (ECHO_PORT >> 8)};
        c.awaitBytes(1, 2);
        assertArrayEquals(prefix, c.messages.get(0).get(0), "port first on the data channel");
        assertArrayEquals(prefix, c.messages.get(1).get(0), "port first on the error channel");
        byte[] payload = new byte[1 << 20];
        new Random(42).nextBytes(payload);
        for (int off = 0; off < payload.length; off += 32 * 1024) {
            c.send(0, java.util.Arrays.copyOfRange(payload, off, off + 32 * 1024));
        }
        byte[] got = c.awaitBytes(0, 2 + payload.length);
        assertEquals(2 + payload.length, got.length);
        assertArrayEquals(payload, java.util.Arrays.copyOfRange(got, 2, got.length));
        assertEquals(2, c.channel(1).length, "nothing on the error channel but the port");
        c.socket.sendClose(1000, "").join();
        c.awaitClose();
    }

    @Test
    public void twentyConcurrentConnectionsEachGetTheirOwnBytes() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(20);
        try {
            List<Future<Boolean>> results = new ArrayList<>();
            for (int i = 0; i < 20; i++) {
                int n = i;
                results.add(pool.submit(() -> {
                    ChannelClient c = ChannelClient.open(url(List.of(ECHO_PORT), ECHO_PORT), "portforward.k8s.io");
                    byte[] payload = new byte[64 * 1024];
                    new Random(n).nextBytes(payload);
                    for (int off = 0; off < payload.length; off += 8192) {
                        c.send(0, java.util.Arrays.copyOfRange(payload, off, off + 8192));
                    }
                    byte[] got = c.awaitBytes(0, 2 + payload.length);
                    c.socket.sendClose(1000, "").join();
                    c.awaitClose();
                    return java.util.Arrays.equals(payload, java.util.Arrays.copyOfRange(got, 2, got.length));
                }));
            }
            for (Future<Boolean> r : results) {
                assertTrue(r.get(), "each connection got its own bytes back");
            }
            // every connection into the pod is closed once its session is
            long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (!established().isEmpty() && System.nanoTime() < end) {
                Thread.sleep(50);
            }
            assertEquals("", established());
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    public void severalPortsInOneSessionAndAClosedPortReportsOnItsErrorChannel() throws Exception {
        ChannelClient c = ChannelClient.open(url(List.of(), ECHO_PORT, CLOSED_PORT), "portforward.k8s.io");
        c.send(0, "hello".getBytes(StandardCharsets.UTF_8));
        byte[] got = c.awaitBytes(0, 7);
        assertEquals("hello", new String(got, 2, got.length - 2, StandardCharsets.UTF_8));
        byte[] err = c.awaitBytes(3, 3);
        String message = new String(err, 2, err.length - 2, StandardCharsets.UTF_8);
        assertTrue(message.contains("7778"), message);
        c.socket.sendClose(1000, "").join();
        c.awaitClose();
    }

    @Test
    public void usedExpiredAndUnknownTokensAre404() {
        String u = url(List.of(), ECHO_PORT);
        ChannelClient first = ChannelClient.open(u, "portforward.k8s.io");
        assertEquals(404, ChannelClient.connect(u, "portforward.k8s.io"), "a used token");
        first.socket.sendClose(1000, "").join();
        first.awaitClose();

        String expired = url(List.of(), ECHO_PORT);
        clock.advance(Duration.ofSeconds(61));
        assertEquals(404, ChannelClient.connect(expired, "portforward.k8s.io"), "an expired token");

        String fresh = url(List.of(), ECHO_PORT);
        String forged = fresh.substring(0, fresh.lastIndexOf('/') + 1) + "00000000000000000000000000000000?port=" + ECHO_PORT;
        assertEquals(404, ChannelClient.connect(forged, "portforward.k8s.io"), "an unknown token");
        String wrongKind = fresh.replace("/portforward/", "/exec/");
        assertEquals(404, ChannelClient.connect(wrongKind, "v5.channel.k8s.io"), "a token of another kind");
    }

    @Test
    public void aPortNotRequestedIsRefused() {
        assertEquals(400, ChannelClient.connect(url(List.of(ECHO_PORT), CLOSED_PORT), "portforward.k8s.io"));
        assertEquals(400, ChannelClient.connect(url(List.of()), "portforward.k8s.io"), "no port at all");
    }

    private String established() throws Exception {
        Process p = new ProcessBuilder("ip", "netns", "exec", netns, "ss", "-tnH", "state", "established")
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes()).trim();
        p.waitFor();
        return out;
    }

    private void awaitListening() throws Exception {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (System.nanoTime() < end) {
            Process p = new ProcessBuilder("ip", "netns", "exec", netns, "ss", "-ltnH", "sport", "= :" + ECHO_PORT)
                    .redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes());
            p.waitFor();
            if (out.contains(":" + ECHO_PORT)) {
                return;
            }
            Thread.sleep(50);
        }
        throw new AssertionError("echo server did not start");
    }

    public static void run(String... argv) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        if (p.waitFor() != 0) {
            throw new IOException(String.join(" ", argv) + " failed: " + out);
        }
    }

}
