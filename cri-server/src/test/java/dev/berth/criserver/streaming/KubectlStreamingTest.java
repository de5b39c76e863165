package dev.berth.criserver.streaming;

import dev.berth.streaming.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * kubectl 1.20 (Debian's kubernetes-client, which speaks SPDY/3.1 for exec and port-forward)
 * against berth's streaming server, through a loopback {@link FakeApiServer} that passes the
 * upgrade on the way kube-apiserver and the kubelet do. The pod is a runc container for exec
 * and a scratch network namespace with a TCP echo server for port-forward.
 */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
@Tag("root")
class KubectlStreamingTest {
    /** Where scripts/install-deps --test leaves Debian's kubectl when another package owns /usr/bin/kubectl. */
    static final List<String> CANDIDATES = List.of("/opt/berth-test/kubernetes-client/usr/bin/kubectl", "/usr/bin/kubectl");
    static final String POD = "web";

    RuncContainer ctr;
    SpdyPortForwardTest.EchoNamespace ns;
    StreamingServer server;
    FakeApiServer api;
    Path home;
    String kubectl;
    final List<Process> started = new ArrayList<>();

    @BeforeEach
    void setUp() throws Exception {
        kubectl = findKubectl();
        home = Files.createTempDirectory("berth-kubectl-home");
        Files.writeString(home.resolve("config"), "apiVersion: v1\nkind: Config\n");
        ctr = new RuncContainer();
        ns = new SpdyPortForwardTest.EchoNamespace("berth-test-kubectl-", PortForwardTest.ECHO_PORT);
        server = StreamingServer.start("127.0.0.1", 0, StreamingServer.Options.defaults(),
                ProcessExecBackend.runtime(ctr.manager), Clock.systemUTC());
        api = new FakeApiServer(POD, this::registerExec,
                () -> server.register(new StreamRequest.PortForward("sandbox-web", "/run/netns/" + ns.name, List.of())));
    }

    @AfterEach
    void tearDown() throws Exception {
        try {
            for (Process p : started) {
                p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
            if (api != null) {
                api.close();
            }
            if (server != null) {
                server.close();
            }
        } finally {
            try {
                if (ns != null) {
                    ns.close();
                }
            } finally {
                if (ctr != null) {
                    ctr.close();
                }
                if (home != null) {
                    try (Stream<Path> s = Files.walk(home)) {
                        for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                            Files.deleteIfExists(p);
                        }
                    }
                }
            }
        }
    }

    /** The exec kubectl asked the API server for, as the kubelet would hand it to the runtime. */
    private String registerExec(Map<String, List<String>> q) {
        return server.register(new StreamRequest.Exec(ctr.id, q.get("command"), flag(q, "tty"), flag(q, "stdin"),
                flag(q, "stdout"), flag(q, "stderr")));
    }

    private static boolean flag(Map<String, List<String>> q, String name) {
        String v = q.getOrDefault(name, List.of("false")).get(0);
        return v.equals("true") || v.equals("1");
    }

    static String findKubectl() throws Exception {
        for (String c : CANDIDATES) {
            if (Files.isExecutable(Path.of(c))) {
                Process p = new ProcessBuilder(c, "version", "--client").redirectErrorStream(true).start();
                String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                if (p.waitFor() == 0 && out.contains("Minor:\"20\"")) {
                    return c;
                }
            }
        }
        throw new AssertionError("Debian's kubectl 1.20 (kubernetes-client) is not installed in " + CANDIDATES
                + ": run scripts/install-deps --test");
    }

    private ProcessBuilder kubectl(String... args) {
        List<String> argv = new ArrayList<>(List.of(kubectl, "--server", api.url(), "--namespace", "default"));
        argv.addAll(Arrays.asList(args));
        ProcessBuilder b = new ProcessBuilder(argv);
        b.environment().put("HOME", home.toString());
        b.environment().put("KUBECONFIG", home.resolve("config").toString());
        return b;
    }

    private record Result(int code, String stdout, String stderr) {
    }

    private Result run(byte[] stdin, String... args) throws Exception {
        Process p = kubectl(args).start();
        started.add(p);
        CompletableFuture<byte[]> out = CompletableFuture.supplyAsync(() -> readAll(p.getInputStream()));
        CompletableFuture<byte[]> err = CompletableFuture.supplyAsync(() -> readAll(p.getErrorStream()));
        try (OutputStream in = p.getOutputStream()) {
            if (stdin != null) {
                in.write(stdin);
            }
        }
        assertTrue(p.waitFor(90, TimeUnit.SECONDS), "kubectl " + String.join(" ", args) + " finished");
        return new Result(p.exitValue(), new String(out.get(), StandardCharsets.UTF_8),
                new String(err.get(), StandardCharsets.UTF_8));
    }

    private static byte[] readAll(InputStream in) {
        try {
            return in.readAllBytes();
        } catch (IOException e) {
            return new byte[0];
        }
    }

    @Test
    void execEchoPrintsItsOutputAndSucceeds() throws Exception {
        Result r = run(null, "exec", POD, "--", "echo", "hi");
        assertEquals(0, r.code(), r.stderr());
        assertEquals("hi\n", r.stdout());
        assertTrue(api.requests.contains("POST /api/v1/namespaces/default/pods/" + POD + "/exec"), api.requests.toString());
    }

    @Test
    void theExitCodeOfTheCommandIsKubectlsExitCode() throws Exception {
        Result r = run(null, "exec", POD, "--", "sh", "-c", "echo to-stderr >&2; exit 3");
        assertEquals(3, r.code(), r.stderr());
        assertTrue(r.stderr().contains("to-stderr"), r.stderr());
    }

    @Test
    void stdinGoesThroughCatAndItsEndEndsTheCommand() throws Exception {
        byte[] input = "a line of input\n".repeat(20000).getBytes(StandardCharsets.UTF_8);
        Result r = run(input, "exec", "-i", POD, "--", "cat");
        assertEquals(0, r.code(), r.stderr());
        assertEquals(new String(input, StandardCharsets.UTF_8), r.stdout());
    }

    @Test
    void portForwardCarriesBytesToTheEchoServerAndBack() throws Exception {
        int local;
        try (ServerSocket probe = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            local = probe.getLocalPort();
        }
        Process p = kubectl("port-forward", "--address", "127.0.0.1", "pod/" + POD,
                local + ":" + PortForwardTest.ECHO_PORT).redirectErrorStream(true).start();
        started.add(p);
        BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
        String line = out.readLine();
        while (line != null && !line.startsWith("Forwarding from")) {
            line = out.readLine();
        }
        assertTrue(line != null && line.startsWith("Forwarding from 127.0.0.1:" + local), String.valueOf(line));
        Thread drain = new Thread(() -> readAll(p.getInputStream()));
        drain.setDaemon(true);
        drain.start();

        byte[] payload = new byte[1 << 20];
        new Random(7).nextBytes(payload);
        assertArrayEquals(payload, echo(local, payload), "1 MiB round trip");

        ExecutorService pool = Executors.newFixedThreadPool(5);
        try {
            List<Future<Boolean>> results = new ArrayList<>();
            for (int i = 0; i < 5; i++) {
                int n = i;
                results.add(pool.submit(() -> {
                    byte[] b = new byte[128 * 1024];
                    new Random(n).nextBytes(b);
                    return Arrays.equals(b, echo(local, b));
                }));
            }
            for (Future<Boolean> f : results) {
                assertTrue(f.get(), "concurrent connections each get their own bytes");
            }
        } finally {
            pool.shutdownNow();
        }
        assertTrue(p.isAlive(), "kubectl keeps forwarding");
        assertTrue(api.requests.contains("POST /api/v1/namespaces/default/pods/" + POD + "/portforward"),
                api.requests.toString());
    }

    /** Sends {@code payload} through the local port and reads as much back. */
    private static byte[] echo(int port, byte[] payload) throws Exception {
        try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
            s.setSoTimeout(60_000);
            Thread writer = new Thread(() -> {
                try {
                    s.getOutputStream().write(payload);
                    s.getOutputStream().flush();
                } catch (IOException e) {
                    // the read side reports the shortfall
                }
            });
            writer.start();
            byte[] got = s.getInputStream().readNBytes(payload.length);
            writer.join();
            return got;
        }
    }
}
