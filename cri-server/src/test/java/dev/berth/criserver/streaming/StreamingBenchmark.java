package dev.berth.criserver.streaming;

import dev.berth.streaming.*;
import java.time.Clock;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;

/**
 * Not a test: exec round-trip latency ({@code true} in a runc container, from registering the
 * request to the final status, p50/p95) over WebSocket without and with a TTY (the TTY client
 * sending its terminal size first as kubectl and crictl do) and over SPDY, and port-forward
 * throughput (bytes echoed back by busybox {@code nc -e cat} on 127.0.0.1 in a scratch network
 * namespace, MB/s one way) over WebSocket, over SPDY as the Go clients speak it (no flow
 * control) and over SPDY with SPDY/3.1 flow control.
 *
 * <p>Run as root: {@code java -cp cri-server/target/classes:cri-server/target/test-classes:<test classpath>
 * dev.berth.streaming.StreamingBenchmark [execs] [megabytes]} (0 megabytes: no port-forward).
 */
public final class StreamingBenchmark {
    static final int CHUNK = Integer.getInteger("chunk", 64 * 1024);

    private StreamingBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        int execs = args.length > 0 ? Integer.parseInt(args[0]) : 100;
        int mb = args.length > 1 ? Integer.parseInt(args[1]) : 64;
        ((ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME))
                .setLevel(ch.qos.logback.classic.Level.WARN);
        try (RuncContainer ctr = new RuncContainer();
                StreamingServer server = StreamingServer.start("127.0.0.1", 0, StreamingServer.Options.defaults(),
                        ProcessExecBackend.runtime(ctr.manager), Clock.systemUTC())) {
            for (boolean tty : new boolean[] {false, true}) {
                for (int i = 0; i < 10; i++) {
                    execTrue(server, ctr, tty);
                }
                long[] ns = new long[execs];
                for (int i = 0; i < execs; i++) {
                    long t0 = System.nanoTime();
                    execTrue(server, ctr, tty);
                    ns[i] = System.nanoTime() - t0;
                }
                report("exec true over WebSocket" + (tty ? " with a TTY" : ""), ns);
            }
            long[] ns = new long[execs];
            for (int i = 0; i < 10; i++) {
                execTrueSpdy(server, ctr);
            }
            for (int i = 0; i < execs; i++) {
                long t0 = System.nanoTime();
                execTrueSpdy(server, ctr);
                ns[i] = System.nanoTime() - t0;
            }
            report("exec true over SPDY", ns);
        }
        if (mb > 0) {
            portForward(mb);
        }
    }

    /** The same echo through {@code kubectl port-forward} (SPDY, Go client) and a fake API server in front of berth. */
    private static void kubectlPortForward(StreamingServer server, String netns, int mb, String tag) throws Exception {
        String kubectl = KubectlStreamingTest.findKubectl();
        java.nio.file.Path home = java.nio.file.Files.createTempDirectory("berth-bench-kubectl");
        java.nio.file.Files.writeString(home.resolve("config"), "apiVersion: v1\nkind: Config\n");
        int local;
        try (java.net.ServerSocket probe = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            local = probe.getLocalPort();
        }
        Process p = null;
        try (FakeApiServer api = new FakeApiServer("bench", q -> null,
                () -> server.register(new StreamRequest.PortForward("bench", "/run/netns/" + netns, List.of())))) {
            ProcessBuilder b = new ProcessBuilder(kubectl, "--server", api.url(), "port-forward", "--address",
                    "127.0.0.1", "pod/bench", local + ":7777").redirectErrorStream(true);
            b.environment().put("HOME", home.toString());
            b.environment().put("KUBECONFIG", home.resolve("config").toString());
            p = b.start();
            var out = new java.io.BufferedReader(new java.io.InputStreamReader(p.getInputStream()));
            String line;
            while ((line = out.readLine()) != null && !line.startsWith("Forwarding from")) {
                // kubectl's warnings
            }
            byte[] payload = new byte[mb << 20];
            new Random(3).nextBytes(payload);
            try (java.net.Socket s = new java.net.Socket(java.net.InetAddress.getLoopbackAddress(), local)) {
                Thread writer = new Thread(() -> {
                    try {
                        s.getOutputStream().write(payload);
                    } catch (java.io.IOException e) {
                        // the count below tells
                    }
                });
                long t0 = System.nanoTime();
                writer.start();
                byte[] got = s.getInputStream().readNBytes(payload.length);
                long t = System.nanoTime() - t0;
                writer.join();
                if (!Arrays.equals(payload, got)) {
                    throw new AssertionError("kubectl port-forward: " + got.length + " bytes, not the same");
                }
                System.out.printf("port-forward echo of %d MB through kubectl 1.20 (SPDY)%s: %.1f MB/s%n", mb, tag,
                        mb / (t / 1e9));
            }
        } finally {
            if (p != null) {
                p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
            try (var files = java.nio.file.Files.walk(home)) {
                for (var f : files.sorted(java.util.Comparator.reverseOrder()).toList()) {
                    java.nio.file.Files.deleteIfExists(f);
                }
            }
        }
    }

    private static void report(String what, long[] ns) {
        Arrays.sort(ns);
        System.out.printf("%s x%d: p50 %.1f ms, p95 %.1f ms%n", what, ns.length, ns[ns.length / 2] / 1e6,
                ns[(int) (ns.length * 0.95)] / 1e6);
    }

    private static void execTrueSpdy(StreamingServer server, RuncContainer ctr) throws Exception {
        try (SpdyClient c = SpdyClient.open(server.register(new StreamRequest.Exec(ctr.id, List.of("true"), false,
                false, true, true)), "v4.channel.k8s.io")) {
            SpdyClient.Stream error = c.stream("streamtype", "error");
            c.stream("streamtype", "stdout");
            c.stream("streamtype", "stderr");
            if (!error.awaitEnd().contains("Success")) {
                throw new AssertionError("exec failed: " + error.text());
            }
        }
    }

    private static void execTrue(StreamingServer server, RuncContainer ctr, boolean tty) {
        ChannelClient c = ChannelClient.open(server.register(new StreamRequest.Exec(ctr.id, List.of("true"), tty,
                false, true, !tty)), "v5.channel.k8s.io");
        if (tty) {
            c.sendText(RemoteCommand.RESIZE, "{\"Width\":80,\"Height\":24}");
        }
        c.awaitClose();
        if (!c.text(RemoteCommand.ERROR).contains("Success")) {
            throw new AssertionError("exec failed: " + c.text(RemoteCommand.ERROR));
        }
    }

    private static void portForward(int mb) throws Exception {
        String netns = "berth-bench-pf-" + HexFormat.of().toHexDigits(new Random().nextInt());
        PortForwardTest.run("ip", "netns", "add", netns);
        Process echo = null;
        try {
            PortForwardTest.run("ip", "netns", "exec", netns, "ip", "link", "set", "lo", "up");
            echo = new ProcessBuilder("ip", "netns", "exec", netns, "/bin/busybox", "nc", "-ll", "-p", "7777", "-e",
                    "/bin/cat").redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            Thread.sleep(500);
            try (StreamingServer server = StreamingServer.start("127.0.0.1", 0, StreamingServer.Options.defaults(),
                    req -> null, Clock.systemUTC())) {
                byte[] chunk = new byte[CHUNK];
                new Random(1).nextBytes(chunk);
                int n = mb * (1 << 20) / CHUNK;
                for (int round = 0; round < 2; round++) {
                    String tag = round == 0 ? " (warm-up)" : "";
                    ChannelClient c = ChannelClient.open(server.register(new StreamRequest.PortForward("bench",
                            "/run/netns/" + netns, List.of())) + "?port=7777", "portforward.k8s.io");
                    long t0 = System.nanoTime();
                    for (int i = 0; i < n; i++) {
                        c.send(0, chunk);
                    }
                    byte[] got = c.awaitBytes(0, 2 + n * chunk.length);
                    long t = System.nanoTime() - t0;
                    if (got.length != 2 + n * chunk.length) {
                        throw new AssertionError("got " + got.length + " bytes back");
                    }
                    System.out.printf("port-forward echo of %d MB over WebSocket%s: %.1f MB/s%n", mb, tag, mb / (t / 1e9));
                    c.socket.sendClose(1000, "").join();
                    c.awaitClose();
                    kubectlPortForward(server, netns, mb, tag);
                    for (boolean flowControl : new boolean[] {false, true}) {
                        try (SpdyClient s = SpdyClient.connect(server.register(new StreamRequest.PortForward("bench",
                                "/run/netns/" + netns, List.of())), flowControl, true, "portforward.k8s.io")) {
                            SpdyClient.Stream error = s.stream("streamtype", "error", "port", "7777", "requestid", "0");
                            SpdyClient.Stream data = s.stream("streamtype", "data", "port", "7777", "requestid", "0");
                            long s0 = System.nanoTime();
                            for (int i = 0; i < n; i++) {
                                data.write(chunk);
                            }
                            int size = data.awaitBytes(n * chunk.length).length;
                            long st = System.nanoTime() - s0;
                            if (size != n * chunk.length) {
                                throw new AssertionError("got " + size + " bytes back over SPDY: " + error.text());
                            }
                            System.out.printf("port-forward echo of %d MB over SPDY%s%s: %.1f MB/s%n", mb,
                                    flowControl ? " with flow control" : "", tag, mb / (st / 1e9));
                        }
                    }
                }
            }
        } finally {
            if (echo != null) {
                echo.descendants().forEach(ProcessHandle::destroyForcibly);
                echo.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
            }
            PortForwardTest.run("ip", "netns", "delete", netns);
        }
    }
}
