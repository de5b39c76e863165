package dev.berth.agent.streaming;

import dev.berth.agent.logging.Logging;
import java.time.Clock;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;

/**
 * Not a test: exec round-trip latency ({@code true} in a runc container, from registering the
 * request to the closed socket, p50/p95; without and with a TTY, the TTY client sending its
 * terminal size first as kubectl and crictl do) and port-forward throughput (bytes echoed back by
 * busybox {@code nc -e cat} on 127.0.0.1 in a scratch network namespace, MB/s one way).
 *
 * <p>Run as root: {@code java -cp agent/target/classes:agent/target/test-classes:<test classpath>
 * dev.berth.agent.streaming.StreamingBenchmark [execs] [megabytes]} (0 megabytes: no port-forward).
 */
public final class StreamingBenchmark {
    static final int CHUNK = Integer.getInteger("chunk", 64 * 1024);

    private StreamingBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        int execs = args.length > 0 ? Integer.parseInt(args[0]) : 100;
        int mb = args.length > 1 ? Integer.parseInt(args[1]) : 64;
        Logging.configure("warn", "text");
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
                Arrays.sort(ns);
                System.out.printf("exec%s true x%d: p50 %.1f ms, p95 %.1f ms%n", tty ? " -t" : "", execs,
                        ns[execs / 2] / 1e6, ns[(int) (execs * 0.95)] / 1e6);
            }
        }
        if (mb > 0) {
            portForward(mb);
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
                ChannelClient c = ChannelClient.open(server.register(new StreamRequest.PortForward("bench",
                        "/run/netns/" + netns, List.of())) + "?port=7777", "portforward.k8s.io");
                byte[] chunk = new byte[CHUNK];
                new Random(1).nextBytes(chunk);
                int n = mb * (1 << 20) / CHUNK;
                long t0 = System.nanoTime();
                for (int i = 0; i < n; i++) {
                    c.send(0, chunk);
                }
                byte[] got = c.awaitBytes(0, 2 + n * chunk.length);
                long t = System.nanoTime() - t0;
                if (got.length != 2 + n * chunk.length) {
                    throw new AssertionError("got " + got.length + " bytes back");
                }
                System.out.printf("port-forward echo of %d MB: %.1f MB/s%n", mb, mb / (t / 1e9));
                c.socket.sendClose(1000, "").join();
                c.awaitClose();
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
