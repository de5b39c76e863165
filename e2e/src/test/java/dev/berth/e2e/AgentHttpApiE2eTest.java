package dev.berth.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.agent.server.TestPki;
import dev.berth.cri.v1.ContainerState;
import dev.berth.cri.v1.ListContainersRequest;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.URLDecoder;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The agent's HTTP API under kubectl: a real agent (berth's runtime in process) runs a static
 * pod; kubectl talks to a small proxy in this test that stands in for the API server (it
 * answers discovery and the pod's GET, and passes the pod's exec, portforward and log
 * subresources on to the agent's /exec, /portForward and /containerLogs as the API server
 * does, upgrades included, authenticating with a client certificate this test made). kubectl
 * exec runs a command in the pod, kubectl port-forward reaches the pod's web server and kubectl
 * logs shows what the container printed, with Debian's kubectl 1.20 and with a newer one where
 * the machine has it; a request without credentials is refused.
 */
@Tag("root")
class AgentHttpApiE2eTest {
    private static final String IMAGE = "offline/agent-http-api:1";
    private static final String NODE = "api-node";
    private static final String POD = "web-" + NODE;
    private static final String BRIDGE = "berthks0";
    private static final String SUBNET = "10.199.16.0/20";
    /**
     * Debian's kubectl (1.20, SPDY only: where scripts/install-deps --test leaves it when another
     * package owns /usr/bin/kubectl), and a newer one at /usr/bin/kubectl when there is one
     * (WebSocket first for exec): each drives the agent.
     */
    private static final List<Path> KUBECTLS = List.of(Path.of("/opt/berth-test/kubernetes-client/usr/bin/kubectl"),
            Path.of("/usr/bin/kubectl"));

    @TempDir
    Path dir;

    @Test
    void kubectlExecPortForwardAndLogsThroughTheAgent() throws Exception {
        List<Path> kubectls = KUBECTLS.stream().filter(Files::isExecutable).toList();
        Assumptions.assumeFalse(kubectls.isEmpty(), "kubectl is not installed (scripts/install-deps --test installs it)");
        Path berthDir = dir.resolve("berth");
        Path manifests = Files.createDirectories(dir.resolve("manifests"));
        AgentTests.busyboxImage(dir, berthDir.resolve("root"), IMAGE);
        TestPki pki = new TestPki("e2e-client-ca");
        Path ca = pki.writeCa(dir.resolve("client-ca.crt"));
        int port = AgentTests.freeLoopbackPort();
        Path config = Files.writeString(dir.resolve("agent.toml"), "[network]\ncni_config_dir = \"" + dir.resolve("net.d") + "\"\n"
                + "default_bridge = \"" + BRIDGE + "\"\ndefault_subnet = \"" + SUBNET + "\"\n"
                + "[agent]\ncgroups_per_qos = false\npod_logs_dir = \"" + dir.resolve("logs") + "\"\nmanifest_rescan_interval = \"2s\"\n"
                + "client_ca_file = \"" + ca + "\"\n");
        Files.writeString(manifests.resolve("web.yaml"), """
                apiVersion: v1
                kind: Pod
                metadata: {name: web}
                spec:
                  terminationGracePeriodSeconds: 0
                  containers:
                  - name: app
                    image: %s
                    command: ["/bin/sh", "-c"]
                    args: ["busybox mkdir -p /www && echo forwarded-page > /www/index.html && busybox httpd -p 8080 -h /www && echo started && exec sleep 3600"]
                """.formatted(IMAGE));
        try (BerthProcess agent = BerthProcess.startAgent(berthDir, "", "--config", config.toString(), "--metrics-address", "",
                "--node-name", NODE, "--pod-manifest-path", manifests.toString(), "--address", "127.0.0.1", "--port", Integer.toString(port),
                "--read-only-port", "0")) {
            AgentTests.await("the pod runs", Duration.ofSeconds(90), () -> agent.runtime().listContainers(
                    ListContainersRequest.getDefaultInstance()).getContainersList().stream()
                    .anyMatch(c -> c.getState() == ContainerState.CONTAINER_RUNNING) ? true : null);
            Path serving = berthDir.resolve("root/agent/pki/agent.crt");
            X509Certificate serverCert = AgentTests.await("the serving certificate", Duration.ofSeconds(30),
                    () -> Files.exists(serving) ? (X509Certificate) CertificateFactory.getInstance("X.509")
                            .generateCertificate(new java.io.ByteArrayInputStream(Files.readAllBytes(serving))) : null);
            URI agentUri = URI.create("https://127.0.0.1:" + port);

            // no credentials: refused
            HttpClient anonymous = HttpClient.newBuilder().sslContext(TestPki.context(serverCert, null)).build();
            HttpResponse<String> refused = anonymous.send(HttpRequest.newBuilder(agentUri.resolve("/healthz")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(401, refused.statusCode(), refused.body());
            HttpResponse<String> refusedExec = anonymous.send(HttpRequest.newBuilder(agentUri.resolve("/exec/default/" + POD
                    + "/app?command=id&output=1")).POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(401, refusedExec.statusCode(), refusedExec.body());

            SSLContext apiserver = TestPki.context(serverCert, pki.client("CN=kube-apiserver-kubelet-client,O=system:masters"));
            HttpClient authenticated = HttpClient.newBuilder().sslContext(apiserver).build();
            assertEquals("ok", authenticated.send(HttpRequest.newBuilder(agentUri.resolve("/healthz")).build(),
                    HttpResponse.BodyHandlers.ofString()).body());

            try (ApiServerStandIn proxy = new ApiServerStandIn(apiserver, port)) {
                Path kubeconfig = Files.writeString(dir.resolve("kubeconfig"), """
                        apiVersion: v1
                        kind: Config
                        clusters: [{name: c, cluster: {server: "http://127.0.0.1:%d"}}]
                        users: [{name: u, user: {}}]
                        contexts: [{name: x, context: {cluster: c, user: u, namespace: default}}]
                        current-context: x
                        """.formatted(proxy.port()));

                for (Path kubectl : kubectls) {
                    // kubectl exec (a newer kubectl tries WebSocket first, passed through to the runtime; 1.20 speaks SPDY)
                    Result exec = kubectl(kubectl, kubeconfig, Map.of(), "exec", POD, "-c", "app", "--", "sh", "-c",
                            "echo from-exec $((6*7))");
                    assertEquals(0, exec.code, kubectl + ": " + exec.output);
                    assertEquals("from-exec 42", exec.output.strip());
                    // and over SPDY/3.1 (kubectl's older protocol, what most API servers still speak to kubelets)
                    Result spdyExec = kubectl(kubectl, kubeconfig, Map.of("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "false"), "exec", POD,
                            "-c", "app", "--", "sh", "-c", "echo over-spdy");
                    assertEquals(0, spdyExec.code, spdyExec.output);
                    assertEquals("over-spdy", spdyExec.output.strip());

                    // kubectl port-forward (SPDY) to the pod's web server
                    int local = AgentTests.freeLoopbackPort();
                    ProcessBuilder pf = new ProcessBuilder(kubectl.toString(), "--kubeconfig", kubeconfig.toString(), "port-forward", POD,
                            local + ":8080").redirectErrorStream(true).redirectOutput(dir.resolve("port-forward.log").toFile());
                    pf.environment().put("HOME", dir.toString());
                    // SPDY/3.1, as the API server speaks to kubelets (kubectl's WebSocket tunnel is the API server's to translate)
                    pf.environment().put("KUBECTL_PORT_FORWARD_WEBSOCKETS", "false");
                    Process forward = pf.start();
                    try {
                        HttpClient plain = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
                        String page = AgentTests.await("the forwarded page", Duration.ofSeconds(60), () -> {
                            try {
                                HttpResponse<String> r = plain.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + local + "/"))
                                        .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
                                return r.statusCode() == 200 ? r.body() : null;
                            } catch (IOException e) {
                                return null;
                            }
                        });
                        assertEquals("forwarded-page\n", page, Files.readString(dir.resolve("port-forward.log")));
                    } finally {
                        forward.destroy();
                        forward.waitFor(10, TimeUnit.SECONDS);
                    }

                    // kubectl logs, read by the agent's /containerLogs
                    Result logs = kubectl(kubectl, kubeconfig, Map.of(), "logs", POD, "-c", "app");
                    assertEquals(0, logs.code, kubectl + ": " + logs.output);
                    assertTrue(logs.output.contains("started"), logs.output);
                }
            }
        } finally {
            AgentTests.emptyDirectory(manifests);
            AgentTests.removeLeftoverPods(berthDir, config);
            AgentTests.deleteBridge(BRIDGE);
        }
    }

    private record Result(int code, String output) {
    }

    private Result kubectl(Path kubectl, Path kubeconfig, Map<String, String> env, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(kubectl.toString(), "--kubeconfig", kubeconfig.toString(), "--request-timeout", "60s"));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().putAll(env);
        pb.environment().put("HOME", dir.toString());
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(90, TimeUnit.SECONDS)) {
            p.destroyForcibly();
        }
        return new Result(p.exitValue(), out);
    }

    /**
     * What kubectl needs of an API server for exec, port-forward and logs of one pod: discovery,
     * the pod, and its subresources proxied to the agent as the API server proxies them (query
     * translated to the kubelet's, the upgrade passed through, a client certificate of its own).
     * One thread per connection; a proxied request makes the connection a byte pipe.
     */
    private final class ApiServerStandIn implements AutoCloseable {
        private final ServerSocket socket;
        private final SSLContext toAgent;
        private final int agentPort;
        private final List<Socket> open = new java.util.concurrent.CopyOnWriteArrayList<>();

        ApiServerStandIn(SSLContext toAgent, int agentPort) throws IOException {
            this.toAgent = toAgent;
            this.agentPort = agentPort;
            this.socket = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
            Thread t = new Thread(this::accept, "api-server-stand-in");
            t.setDaemon(true);
            t.start();
        }

        int port() {
            return socket.getLocalPort();
        }

        private void accept() {
            while (!socket.isClosed()) {
                try {
                    Socket c = socket.accept();
                    open.add(c);
                    Thread t = new Thread(() -> serve(c), "api-server-stand-in-conn");
                    t.setDaemon(true);
                    t.start();
                } catch (IOException e) {
                    return;
                }
            }
        }

        private void serve(Socket c) {
            try (c) {
                InputStream in = c.getInputStream();
                OutputStream out = c.getOutputStream();
                while (true) {
                    String head = readHead(in);
                    if (head.isEmpty()) {
                        return;
                    }
                    String[] lines = head.split("\r\n");
                    String[] requestLine = lines[0].split(" ");
                    String method = requestLine[0];
                    URI uri = URI.create(requestLine[1]);
                    Map<String, String> headers = new LinkedHashMap<>();
                    for (int i = 1; i < lines.length; i++) {
                        int colon = lines[i].indexOf(':');
                        if (colon > 0) {
                            headers.put(lines[i].substring(0, colon).trim(), lines[i].substring(colon + 1).trim());
                        }
                    }
                    long length = Long.parseLong(header(headers, "content-length", "0"));
                    in.readNBytes((int) length);
                    String path = uri.getRawPath();
                    String prefix = "/api/v1/namespaces/default/pods/" + POD;
                    if (path.startsWith(prefix + "/")) {
                        String target = agentPath(path.substring(prefix.length() + 1), query(uri.getRawQuery()));
                        pipe(c, method, target, headers);
                        return;
                    }
                    String body = switch (path) {
                        case "/api" -> "{\"kind\":\"APIVersions\",\"versions\":[\"v1\"],\"serverAddressByClientCIDRs\":[{\"clientCIDR\":"
                                + "\"0.0.0.0/0\",\"serverAddress\":\"127.0.0.1\"}]}";
                        case "/apis" -> "{\"kind\":\"APIGroupList\",\"apiVersion\":\"v1\",\"groups\":[]}";
                        case "/api/v1" -> "{\"kind\":\"APIResourceList\",\"groupVersion\":\"v1\",\"resources\":["
                                + "{\"name\":\"pods\",\"singularName\":\"pod\",\"namespaced\":true,\"kind\":\"Pod\",\"verbs\":[\"get\",\"list\"],"
                                + "\"shortNames\":[\"po\"]},"
                                + "{\"name\":\"pods/exec\",\"singularName\":\"\",\"namespaced\":true,\"kind\":\"PodExecOptions\",\"verbs\":[\"create\",\"get\"]},"
                                + "{\"name\":\"pods/log\",\"singularName\":\"\",\"namespaced\":true,\"kind\":\"Pod\",\"verbs\":[\"get\"]},"
                                + "{\"name\":\"pods/portforward\",\"singularName\":\"\",\"namespaced\":true,\"kind\":\"PodPortForwardOptions\","
                                + "\"verbs\":[\"create\",\"get\"]}]}";
                        default -> path.equals(prefix) ? pod() : null;
                    };
                    if (body == null) {
                        respond(out, 404, "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"reason\":\"NotFound\",\"code\":404}");
                    } else {
                        respond(out, 200, body);
                    }
                }
            } catch (IOException e) {
                // kubectl went
            }
        }

        private static String header(Map<String, String> headers, String name, String dflt) {
            return headers.entrySet().stream().filter(e -> e.getKey().equalsIgnoreCase(name)).map(Map.Entry::getValue).findFirst()
                    .orElse(dflt);
        }

        private static void respond(OutputStream out, int code, String body) throws IOException {
            byte[] b = body.getBytes(StandardCharsets.UTF_8);
            out.write(("HTTP/1.1 " + code + " X\r\nContent-Type: application/json\r\nContent-Length: " + b.length + "\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            out.write(b);
            out.flush();
        }

        private static String pod() {
            return "{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"" + POD + "\",\"namespace\":\"default\"},"
                    + "\"spec\":{\"nodeName\":\"" + NODE + "\",\"containers\":[{\"name\":\"app\",\"image\":\"" + IMAGE + "\","
                    + "\"ports\":[{\"containerPort\":8080}]}]},"
                    + "\"status\":{\"phase\":\"Running\"}}";
        }

        private static Map<String, List<String>> query(String raw) {
            Map<String, List<String>> q = new LinkedHashMap<>();
            if (raw == null) {
                return q;
            }
            for (String pair : raw.split("&")) {
                int eq = pair.indexOf('=');
                String k = URLDecoder.decode(eq < 0 ? pair : pair.substring(0, eq), StandardCharsets.UTF_8);
                String v = eq < 0 ? "" : URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8);
                q.computeIfAbsent(k, x -> new ArrayList<>()).add(v);
            }
            return q;
        }

        /** The kubelet path of a pod subresource, its options in the kubelet's names as the API server writes them. */
        private static String agentPath(String subresource, Map<String, List<String>> q) {
            String container = q.getOrDefault("container", List.of("app")).get(0);
            StringBuilder params = new StringBuilder();
            java.util.function.BiConsumer<String, String> add = (k, v) -> params.append(params.length() == 0 ? "?" : "&")
                    .append(URLEncoder.encode(k, StandardCharsets.UTF_8)).append('=').append(URLEncoder.encode(v, StandardCharsets.UTF_8)
                            .replace("+", "%20"));
            switch (subresource) {
                case "exec", "attach" -> {
                    for (String[] f : new String[][] {{"stdin", "input"}, {"stdout", "output"}, {"stderr", "error"}, {"tty", "tty"}}) {
                        if ("true".equals(q.getOrDefault(f[0], List.of("false")).get(0))) {
                            add.accept(f[1], "1");
                        }
                    }
                    for (String command : q.getOrDefault("command", List.of())) {
                        add.accept("command", command);
                    }
                    return "/" + subresource + "/default/" + POD + "/" + container + params;
                }
                case "portforward" -> {
                    for (String p : q.getOrDefault("ports", List.of())) {
                        add.accept("port", p);
                    }
                    return "/portForward/default/" + POD + params;
                }
                case "log" -> {
                    q.forEach((k, vs) -> {
                        if (!k.equals("container")) {
                            vs.forEach(v -> add.accept(k, v));
                        }
                    });
                    return "/containerLogs/default/" + POD + "/" + container + params;
                }
                default -> {
                    return "/nothing/" + subresource;
                }
            }
        }

        /** Sends the request on to the agent and joins the two connections. */
        private void pipe(Socket client, String method, String target, Map<String, String> headers) throws IOException {
            try (Socket agent = toAgent.getSocketFactory().createSocket("127.0.0.1", agentPort)) {
                StringBuilder head = new StringBuilder(method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1:" + agentPort + "\r\n");
                boolean upgrade = header(headers, "upgrade", null) != null;
                headers.forEach((k, v) -> {
                    String lk = k.toLowerCase(Locale.ROOT);
                    if (!lk.equals("host") && !lk.equals("authorization") && !lk.equals("content-length")
                            && !(lk.equals("connection") && !upgrade)) {
                        head.append(k).append(": ").append(v).append("\r\n");
                    }
                });
                head.append("Content-Length: 0\r\n");
                if (!upgrade) {
                    head.append("Connection: close\r\n");
                }
                head.append("\r\n");
                agent.getOutputStream().write(head.toString().getBytes(StandardCharsets.US_ASCII));
                agent.getOutputStream().flush();
                Thread up = new Thread(() -> {
                    try {
                        client.getInputStream().transferTo(agent.getOutputStream());
                    } catch (IOException e) {
                        // one side went
                    } finally {
                        try {
                            agent.shutdownOutput();
                        } catch (IOException | UnsupportedOperationException e) {
                            try {
                                agent.close();
                            } catch (IOException ignored) {
                                // closing anyway
                            }
                        }
                    }
                }, "api-server-stand-in-up");
                up.setDaemon(true);
                up.start();
                try {
                    agent.getInputStream().transferTo(client.getOutputStream());
                } catch (IOException e) {
                    // one side went
                }
            }
        }

        private static String readHead(InputStream in) throws IOException {
            ByteArrayOutputStream head = new ByteArrayOutputStream();
            int b;
            int matched = 0;
            while ((b = in.read()) >= 0) {
                head.write(b);
                matched = (b == '\r' && (matched == 0 || matched == 2)) || (b == '\n' && (matched == 1 || matched == 3)) ? matched + 1 : 0;
                if (matched == 4) {
                    return head.toString(StandardCharsets.US_ASCII);
                }
            }
            return "";
        }

        @Override
        public void close() throws IOException {
            socket.close();
            for (Socket s : open) {
                s.close();
            }
        }
    }
}
