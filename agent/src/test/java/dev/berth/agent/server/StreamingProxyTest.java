package dev.berth.agent.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.agent.cri.CriClient;
import dev.berth.cri.v1.AttachRequest;
import dev.berth.cri.v1.AttachResponse;
import dev.berth.cri.v1.Container;
import dev.berth.cri.v1.ContainerMetadata;
import dev.berth.cri.v1.ContainerState;
import dev.berth.cri.v1.ExecRequest;
import dev.berth.cri.v1.ExecResponse;
import dev.berth.cri.v1.ListContainersRequest;
import dev.berth.cri.v1.ListContainersResponse;
import dev.berth.cri.v1.ListPodSandboxRequest;
import dev.berth.cri.v1.ListPodSandboxResponse;
import dev.berth.cri.v1.PodSandbox;
import dev.berth.cri.v1.PodSandboxState;
import dev.berth.cri.v1.PortForwardRequest;
import dev.berth.cri.v1.PortForwardResponse;
import dev.berth.cri.v1.RuntimeServiceGrpc;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import javax.net.ssl.SSLContext;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * /exec, /attach and /portForward: the pod and container found by the kubelet's labels, the
 * runtime asked for its URL with the request's streams and command, the upgrade request passed
 * on without the client's credentials, and after the runtime's 101 bytes pass both ways (also
 * those the runtime sent right behind its answer); a refusal comes back as it was.
 */
class StreamingProxyTest {
    @TempDir
    Path dir;

    private Server grpc;
    private ManagedChannel channel;
    private KubeletServer server;
    private ServerSocket backend;
    private Thread backendThread;
    private final List<ExecRequest> execs = new CopyOnWriteArrayList<>();
    private final List<PortForwardRequest> forwards = new CopyOnWriteArrayList<>();
    private final List<String> backendHeads = new CopyOnWriteArrayList<>();
    private volatile String backendAnswer = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
            + "X-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\nhello from the runtime|";
    private SSLContext tls;

    @BeforeEach
    void start() throws Exception {
        backend = new ServerSocket(0, 50, java.net.InetAddress.getLoopbackAddress());
        backendThread = new Thread(this::serveBackend, "fake-streaming-server");
        backendThread.setDaemon(true);
        backendThread.start();
        String base = "http://127.0.0.1:" + backend.getLocalPort();
        String name = "streaming-proxy-" + System.nanoTime();
        grpc = InProcessServerBuilder.forName(name).directExecutor().addService(new RuntimeServiceGrpc.RuntimeServiceImplBase() {
            @Override
            public void listPodSandbox(ListPodSandboxRequest r, StreamObserver<ListPodSandboxResponse> out) {
                Map<String, String> labels = Map.of("io.kubernetes.pod.namespace", "ns", "io.kubernetes.pod.name", "web",
                        "io.kubernetes.pod.uid", "uid-1");
                boolean match = labels.entrySet().containsAll(r.getFilter().getLabelSelectorMap().entrySet());
                ListPodSandboxResponse.Builder b = ListPodSandboxResponse.newBuilder();
                if (match) {
                    b.addItems(PodSandbox.newBuilder().setId("sb-old").setState(PodSandboxState.SANDBOX_NOTREADY).setCreatedAt(1)
                            .putAllLabels(labels));
                    b.addItems(PodSandbox.newBuilder().setId("sb-1").setState(PodSandboxState.SANDBOX_READY).setCreatedAt(2)
                            .putAllLabels(labels));
                }
                out.onNext(b.build());
                out.onCompleted();
            }

            @Override
            public void listContainers(ListContainersRequest r, StreamObserver<ListContainersResponse> out) {
                ListContainersResponse.Builder b = ListContainersResponse.newBuilder();
                if (r.getFilter().getPodSandboxId().equals("sb-1")) {
                    b.addContainers(Container.newBuilder().setId("c-exited").setCreatedAt(5).setState(ContainerState.CONTAINER_EXITED)
                            .setMetadata(ContainerMetadata.newBuilder().setName("app")).putLabels("io.kubernetes.container.name", "app"));
                    b.addContainers(Container.newBuilder().setId("c-running").setCreatedAt(3).setState(ContainerState.CONTAINER_RUNNING)
                            .setMetadata(ContainerMetadata.newBuilder().setName("app")).putLabels("io.kubernetes.container.name", "app"));
                }
                out.onNext(b.build());
                out.onCompleted();
            }

            @Override
            public void exec(ExecRequest r, StreamObserver<ExecResponse> out) {
                execs.add(r);
                out.onNext(ExecResponse.newBuilder().setUrl(base + "/exec/tok1").build());
                out.onCompleted();
            }

            @Override
            public void attach(AttachRequest r, StreamObserver<AttachResponse> out) {
                out.onNext(AttachResponse.newBuilder().setUrl(base + "/attach/tok2").build());
                out.onCompleted();
            }

            @Override
            public void portForward(PortForwardRequest r, StreamObserver<PortForwardResponse> out) {
                forwards.add(r);
                out.onNext(PortForwardResponse.newBuilder().setUrl(base + "/portforward/tok3").build());
                out.onCompleted();
            }
        }).build().start();
        channel = InProcessChannelBuilder.forName(name).directExecutor().build();
        TestPki pki = new TestPki("ca");
        ServerSettings s = new ServerSettings("127.0.0.1", 0, 0, null, null, pki.writeCa(dir.resolve("ca.crt")), false,
                ServerSettings.AuthorizationMode.ALWAYS_ALLOW, false, null, null, null, null);
        var clock = java.time.Clock.systemUTC();
        server = KubeletServer.start("node-a", new Authenticator(null, false, Duration.ofMinutes(2), Duration.ofSeconds(30), clock),
                new Authorizer(null, Duration.ofMinutes(5), Duration.ofSeconds(30), clock),
                new StreamingProxy(new CriClient(channel, Duration.ofSeconds(10), Duration.ofSeconds(10))), null,
                List.of(new KubeletServer.Listener("127.0.0.1", 0, ServerTls.context(s, dir, "node-a", List.of(), clock), false)));
        tls = TestPki.context(ServerTls.readCertificate(Files.readAllBytes(dir.resolve("pki/agent.crt"))), pki.client("CN=apiserver"));
    }

    @AfterEach
    void stop() throws Exception {
        server.close();
        channel.shutdownNow();
        grpc.shutdownNow();
        backend.close();
    }

    /** A stand-in for a runtime's streaming server: reads the request head, answers, then echoes. */
    private void serveBackend() {
        while (!backend.isClosed()) {
            try {
                Socket s = backend.accept();
                Thread t = new Thread(() -> {
                    try (s) {
                        InputStream in = s.getInputStream();
                        backendHeads.add(readHead(in));
                        s.getOutputStream().write(backendAnswer.getBytes(StandardCharsets.US_ASCII));
                        s.getOutputStream().flush();
                        byte[] buf = new byte[4096];
                        int n;
                        while ((n = in.read(buf)) > 0) {
                            s.getOutputStream().write(buf, 0, n);
                            s.getOutputStream().flush();
                        }
                    } catch (IOException e) {
                        // the test's connection went
                    }
                });
                t.setDaemon(true);
                t.start();
            } catch (IOException e) {
                return;
            }
        }
    }

    static String readHead(InputStream in) throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        int b;
        while ((b = in.read()) >= 0) {
            head.write(b);
            String h = head.toString(StandardCharsets.US_ASCII);
            if (h.endsWith("\r\n\r\n")) {
                return h;
            }
        }
        return head.toString(StandardCharsets.US_ASCII);
    }

    private Socket connect() throws IOException {
        Socket s = tls.getSocketFactory().createSocket("127.0.0.1", server.address(0).getPort());
        s.setSoTimeout(20_000);
        return s;
    }

    private static void send(Socket s, String text) throws IOException {
        s.getOutputStream().write(text.getBytes(StandardCharsets.US_ASCII));
        s.getOutputStream().flush();
    }

    private static String readExactly(InputStream in, int n) throws IOException {
        return new String(in.readNBytes(n), StandardCharsets.US_ASCII);
    }

    @Test
    void anExecUpgradeIsProxiedToTheRuntimesUrlAndBytesFlowBothWays() throws Exception {
        try (Socket s = connect()) {
            send(s, "POST /exec/ns/web/app?command=sh&command=-c&command=echo%20hi&input=1&output=1&error=1&tty=0 HTTP/1.1\r\n"
                    + "Host: node-a:10250\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\n"
                    + "Authorization: Bearer secret\r\nContent-Length: 0\r\n\r\n");
            String head = readHead(s.getInputStream());
            assertTrue(head.startsWith("HTTP/1.1 101"), head);
            assertTrue(head.toLowerCase().contains("x-stream-protocol-version: v4.channel.k8s.io"), head);
            assertEquals("hello from the runtime|", readExactly(s.getInputStream(), 23), "bytes right behind the 101");
            send(s, "ping-pong");
            assertEquals("ping-pong", readExactly(s.getInputStream(), 9));
        }
        ExecRequest r = execs.get(0);
        assertEquals("c-running", r.getContainerId(), "the running container of that name");
        assertEquals(List.of("sh", "-c", "echo hi"), r.getCmdList());
        assertTrue(r.getStdin() && r.getStdout() && r.getStderr());
        assertFalse(r.getTty());
        String upstream = backendHeads.get(0);
        assertTrue(upstream.startsWith("POST /exec/tok1 HTTP/1.1\r\n"), upstream);
        assertTrue(upstream.contains("Upgrade: SPDY/3.1"), upstream);
        assertFalse(upstream.toLowerCase().contains("authorization"), "the client's credentials stay with the agent: " + upstream);
    }

    @Test
    void portForwardByUidAndARefusalComesBack() throws Exception {
        backendAnswer = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nbad request";
        try (Socket s = connect()) {
            send(s, "GET /portForward/ns/web/uid-1?port=8080 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                    + "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    + "Sec-WebSocket-Protocol: portforward.k8s.io\r\n\r\n");
            String head = readHead(s.getInputStream());
            assertTrue(head.startsWith("HTTP/1.1 400"), head);
            assertEquals("bad request", readExactly(s.getInputStream(), 11));
        }
        assertEquals("sb-1", forwards.get(0).getPodSandboxId());
        assertEquals(List.of(8080), forwards.get(0).getPortList());
        assertTrue(backendHeads.get(0).startsWith("GET /portforward/tok3?port=8080 HTTP/1.1"), backendHeads.get(0));
    }

    @Test
    void unknownPodsAndContainersAndPlainRequestsAreRefused() throws Exception {
        for (String[] c : new String[][] {
            {"/exec/ns/nope/app?command=sh&output=1", "404", "pod does not exist"},
            {"/exec/ns/web/other?command=sh&output=1", "404", "container not found (\"other\")"},
            {"/exec/ns/web/app?command=sh", "400", "you must specify at least 1 of stdin, stdout, stderr"},
            {"/exec/ns/web/uid-2/app?command=sh&output=1", "404", "pod does not exist"},
        }) {
            try (Socket s = connect()) {
                send(s, "POST " + c[0] + " HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nContent-Length: 0\r\n\r\n");
                String head = readHead(s.getInputStream());
                assertTrue(head.startsWith("HTTP/1.1 " + c[1]), c[0] + ": " + head);
                int length = Integer.parseInt(head.replaceAll("(?s).*content-length: (\\d+).*", "$1"));
                assertEquals(c[2] + "\n", readExactly(s.getInputStream(), length));
            }
        }
        try (Socket s = connect()) {
            send(s, "POST /exec/ns/web/app?command=sh&output=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
            assertTrue(readHead(s.getInputStream()).startsWith("HTTP/1.1 400"));
        }
        assertTrue(execs.isEmpty());
    }
}
