package dev.berth.streaming;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;

/**
 * Just enough of a Kubernetes API server on loopback for kubectl's exec and port-forward: API
 * discovery, a GET of one running pod, and the pod's {@code exec} and {@code portforward}
 * subresources. Those register a request with berth's streaming server and then do what
 * kube-apiserver and the kubelet do with the client's upgrade request: pass it on to the
 * one-time URL (only the request line rewritten) and splice the bytes both ways.
 */
public final class FakeApiServer implements AutoCloseable {
    private final ServerSocket socket;
    private final String pod;
    private final Function<Map<String, List<String>>, String> execUrl;
    private final java.util.function.Supplier<String> portForwardUrl;
    private final Set<Socket> open = ConcurrentHashMap.newKeySet();
    private final Thread acceptor;
    public final List<String> requests = java.util.Collections.synchronizedList(new ArrayList<>());

    /**
     * Serves pod {@code pod} in namespace default; {@code execUrl} registers an exec from the
     * query's parameters and returns its URL, {@code portForwardUrl} a port-forward's.
     */
    public FakeApiServer(String pod, Function<Map<String, List<String>>, String> execUrl,
            java.util.function.Supplier<String> portForwardUrl) throws IOException {
        this.pod = pod;
        this.execUrl = execUrl;
        this.portForwardUrl = portForwardUrl;
        socket = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        acceptor = new Thread(this::accept, "fake-apiserver");
        acceptor.setDaemon(true);
        acceptor.start();
    }

    public String url() {
        return "http://127.0.0.1:" + socket.getLocalPort();
    }

    private void accept() {
        while (!socket.isClosed()) {
            try {
                Socket s = socket.accept();
                open.add(s);
                Thread t = new Thread(() -> serve(s), "fake-apiserver-conn");
                t.setDaemon(true);
                t.start();
            } catch (IOException e) {
                return;
            }
        }
    }

    private void serve(Socket s) {
        try (s) {
            InputStream in = s.getInputStream();
            OutputStream out = s.getOutputStream();
            while (true) {
                String head = readHead(in);
                if (head == null) {
                    return;
                }
                String[] lines = head.split("\r\n");
                String[] requestLine = lines[0].split(" ");
                URI uri = URI.create(requestLine[1]);
                requests.add(requestLine[0] + " " + uri.getPath());
                Map<String, String> headers = new LinkedHashMap<>();
                for (int i = 1; i < lines.length; i++) {
                    int c = lines[i].indexOf(':');
                    if (c > 0) {
                        headers.put(lines[i].substring(0, c).trim().toLowerCase(), lines[i].substring(c + 1).trim());
                    }
                }
                long length = Long.parseLong(headers.getOrDefault("content-length", "0"));
                in.readNBytes((int) length);
                String base = "/api/v1/namespaces/default/pods/" + pod;
                String path = uri.getPath();
                if (path.equals(base + "/exec") || path.equals(base + "/portforward")) {
                    String target = path.endsWith("/exec") ? execUrl.apply(query(uri.getRawQuery()))
                            : portForwardUrl.get();
                    proxy(s, head, target);
                    return;
                }
                String body = switch (path) {
                    case "/api" -> "{\"kind\":\"APIVersions\",\"versions\":[\"v1\"],\"serverAddressByClientCIDRs\":"
                            + "[{\"clientCIDR\":\"0.0.0.0/0\",\"serverAddress\":\"127.0.0.1\"}]}";
                    case "/apis" -> "{\"kind\":\"APIGroupList\",\"apiVersion\":\"v1\",\"groups\":[]}";
                    case "/api/v1" -> "{\"kind\":\"APIResourceList\",\"groupVersion\":\"v1\",\"resources\":["
                            + "{\"name\":\"pods\",\"singularName\":\"\",\"namespaced\":true,\"kind\":\"Pod\","
                            + "\"verbs\":[\"get\",\"list\"],\"shortNames\":[\"po\"]},"
                            + "{\"name\":\"pods/exec\",\"singularName\":\"\",\"namespaced\":true,"
                            + "\"kind\":\"PodExecOptions\",\"verbs\":[\"create\",\"get\"]},"
                            + "{\"name\":\"pods/portforward\",\"singularName\":\"\",\"namespaced\":true,"
                            + "\"kind\":\"PodPortForwardOptions\",\"verbs\":[\"create\",\"get\"]}]}";
                    default -> path.equals(base) ? podJson() : null;
                };
                if (body == null) {
                    respond(out, 404, "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":"
                            + "\"Failure\",\"message\":\"not found\",\"reason\":\"NotFound\",\"code\":404}");
                } else {
                    respond(out, 200, body);
                }
            }
        } catch (IOException e) {
            // the client went away
        } finally {
            open.remove(s);
        }
    }

    private String podJson() {
        return "{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"" + pod + "\",\"namespace\":\"default\","
                + "\"uid\":\"0b5e4f64-0000-4000-8000-000000000001\",\"resourceVersion\":\"1\"},"
                + "\"spec\":{\"containers\":[{\"name\":\"main\",\"image\":\"busybox\"}]},"
                + "\"status\":{\"phase\":\"Running\",\"containerStatuses\":[{\"name\":\"main\",\"ready\":true,"
                + "\"restartCount\":0,\"image\":\"busybox\",\"imageID\":\"\",\"state\":{\"running\":{}}}]}}";
    }

    private static void respond(OutputStream out, int code, String body) throws IOException {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        out.write(("HTTP/1.1 " + code + (code == 200 ? " OK" : " Not Found") + "\r\nContent-Type: application/json\r\n"
                + "Content-Length: " + b.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
        out.write(b);
        out.flush();
    }

    /** Sends the client's request to {@code target} with only the request line and Host changed, then splices. */
    private void proxy(Socket client, String head, String target) throws IOException {
        URI t = URI.create(target);
        try (Socket upstream = new Socket()) {
            open.add(upstream);
            upstream.connect(new InetSocketAddress(t.getHost(), t.getPort()));
            String[] lines = head.split("\r\n");
            StringBuilder b = new StringBuilder(lines[0].split(" ")[0]).append(' ').append(t.getRawPath())
                    .append(t.getRawQuery() == null ? "" : "?" + t.getRawQuery()).append(" HTTP/1.1\r\n");
            for (int i = 1; i < lines.length; i++) {
                if (lines[i].toLowerCase().startsWith("host:")) {
                    b.append("Host: ").append(t.getHost()).append(':').append(t.getPort()).append("\r\n");
                } else {
                    b.append(lines[i]).append("\r\n");
                }
            }
            upstream.getOutputStream().write(b.append("\r\n").toString().getBytes(StandardCharsets.ISO_8859_1));
            Thread up = splice(client, upstream);
            splice(upstream, client).join();
            up.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static Thread splice(Socket from, Socket to) {
        Thread t = new Thread(() -> {
            try {
                from.getInputStream().transferTo(to.getOutputStream());
            } catch (IOException e) {
                // one side went away
            } finally {
                try {
                    to.shutdownOutput();
                } catch (IOException ignored) {
                    // already closed
                }
            }
        }, "fake-apiserver-splice");
        t.setDaemon(true);
        t.start();
        return t;
    }

    private static Map<String, List<String>> query(String raw) {
        Map<String, List<String>> q = new LinkedHashMap<>();
        if (raw != null) {
            for (String kv : raw.split("&")) {
                int e = kv.indexOf('=');
                String k = URLDecoder.decode(e < 0 ? kv : kv.substring(0, e), StandardCharsets.UTF_8);
                String v = e < 0 ? "" : URLDecoder.decode(kv.substring(e + 1), StandardCharsets.UTF_8);
                q.computeIfAbsent(k, x -> new ArrayList<>()).add(v);
            }
        }
        return q;
    }

    /** The request line and headers, or null at the end of the connection. */
    private static String readHead(InputStream in) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        int state = 0;
        while (state < 4) {
            int c = in.read();
            if (c < 0) {
                return null;
            }
            b.write(c);
            state = (c == '\r' && (state == 0 || state == 2)) || (c == '\n' && (state == 1 || state == 3)) ? state + 1 : 0;
        }
        String s = b.toString(StandardCharsets.ISO_8859_1);
        return s.substring(0, s.length() - 4);
    }

    @Override
    public void close() throws IOException {
        socket.close();
        for (Socket s : open) {
            s.close();
        }
        try {
            acceptor.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
