package dev.berth.cli.client;

import dev.berth.cri.v1.PortForwardRequest;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.http.HttpClient;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code berth port-forward}: local ports forwarded to ports inside a pod, as kubectl port-forward does. */
@Command(name = "port-forward", sortOptions = false,
        description = {"Forward local ports to ports in a pod's network namespace, until interrupted (Ctrl-C).",
            "Each connection accepted on a local port gets its own PortForward call and WebSocket stream to the runtime's "
                + "streaming server (portforward.k8s.io, or v4.channel.k8s.io on the Kubernetes library's servers), connected to "
                + "127.0.0.1:REMOTE in the pod. When the local client closes its side, the stream is closed (WebSocket "
                + "port-forwarding has no half-close)."},
        footerHeading = "%nExamples:%n",
        footer = {"  berth port-forward web 8080:80          # localhost:8080 -> port 80 in the pod",
            "  berth port-forward web 5432              # the same port number locally",
            "  berth port-forward web :80               # a free local port, printed",
            "  berth port-forward --address 0.0.0.0 web 8080:80"})
final class PortForwardCommand implements Callable<Integer> {
    @Mixin
    ClientOptions options;

    @Spec
    CommandSpec spec;

    @Option(names = "--address", paramLabel = "ADDRESS", split = ",", defaultValue = "127.0.0.1",
            description = "local addresses to listen on, comma-separated (default: 127.0.0.1)")
    List<String> addresses;

    @Parameters(index = "0", paramLabel = "POD", description = "pod ID, unique ID prefix or name")
    String pod;

    @Parameters(index = "1..*", arity = "1..*", paramLabel = "[LOCAL:]REMOTE", description = "ports: LOCAL on this host to REMOTE in the pod")
    List<String> ports;

    /** One forwarded port: {@code local} 0 for a free one. */
    record Mapping(int local, int remote) {
        static Mapping parse(String s) {
            String[] p = s.split(":", -1);
            if (p.length > 2) {
                throw ClientException.usage("port \"" + s + "\": expected [LOCAL:]REMOTE");
            }
            int remote = port(p[p.length - 1], s, false);
            int local = p.length == 1 ? remote : p[0].isEmpty() ? 0 : port(p[0], s, true);
            return new Mapping(local, remote);
        }

        private static int port(String n, String spec, boolean zero) {
            try {
                int v = Integer.parseInt(n);
                if (v >= (zero ? 0 : 1) && v <= 65535) {
                    return v;
                }
            } catch (NumberFormatException e) {
                // below
            }
            throw ClientException.usage("port \"" + spec + "\": " + n + " is not a port number");
        }
    }

    @Override
    public Integer call() throws Exception {
        List<Mapping> mappings = ports.stream().map(Mapping::parse).toList();
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        List<ServerSocket> listeners = new ArrayList<>();
        try (CriSession cri = options.connect()) {
            String id = Resolve.pod(cri, pod);
            HttpClient http = HttpClient.newBuilder().connectTimeout(cri.endpoints().timeout()).build();
            List<Thread> acceptors = new ArrayList<>();
            for (Mapping m : mappings) {
                int local = m.local();
                for (String a : addresses) {
                    ServerSocket s = new ServerSocket();
                    s.setReuseAddress(true);
                    try {
                        s.bind(new InetSocketAddress(InetAddress.getByName(a), local));
                    } catch (IOException e) {
                        s.close();
                        throw new ClientException(ExitCodes.FAILED, "cannot listen on " + a + ":" + local + ": " + e.getMessage(), e);
                    }
                    listeners.add(s);
                    // with ":REMOTE" every address gets the port the first one was given
                    local = s.getLocalPort();
                    String shown = a.contains(":") ? "[" + a + "]" : a;
                    out.println("Forwarding from " + shown + ":" + local + " -> " + m.remote());
                    acceptors.add(accept(s, cri, http, id, m.remote(), out, err));
                }
            }
            out.flush();
            Runtime.getRuntime().addShutdownHook(new Thread(() -> listeners.forEach(PortForwardCommand::closeQuietly)));
            for (Thread t : acceptors) {
                t.join();
            }
        } finally {
            listeners.forEach(PortForwardCommand::closeQuietly);
        }
        return ExitCodes.OK;
    }

    private static Thread accept(ServerSocket s, CriSession cri, HttpClient http, String pod, int remote, PrintWriter out, PrintWriter err) {
        Thread t = new Thread(() -> {
            while (!s.isClosed()) {
                Socket c;
                try {
                    c = s.accept();
                } catch (IOException e) {
                    return;
                }
                out.println("Handling connection for " + s.getLocalPort());
                out.flush();
                Thread h = new Thread(() -> {
                    try {
                        String url = cri.runtime().portForward(PortForwardRequest.newBuilder().setPodSandboxId(pod).addPort(remote).build()).getUrl();
                        forward(c, http, url, remote, cri.endpoints().timeout());
                    } catch (RuntimeException | IOException e) {
                        err.println("berth port-forward: error forwarding port " + remote + ": " + e.getMessage());
                        err.flush();
                    } finally {
                        closeQuietly(c);
                    }
                }, "berth-forward-" + remote);
                h.setDaemon(true);
                h.start();
            }
        }, "berth-accept-" + s.getLocalPort());
        t.start();
        return t;
    }

    /** Copies between the local connection and the pod's port until either side ends; errors the server reports are thrown. */
    static void forward(Socket local, HttpClient http, String url, int remote, Duration timeout) throws IOException {
        OutputStream toLocal = local.getOutputStream();
        StringBuilder error = new StringBuilder();
        CountDownLatch done = new CountDownLatch(1);
        StreamClient.PortChannels channels = new StreamClient.PortChannels() {
            @Override
            protected void data(ByteBuffer data) throws IOException {
                byte[] b = new byte[data.remaining()];
                data.get(b);
                toLocal.write(b);
                toLocal.flush();
            }

            @Override
            protected void error(ByteBuffer text, boolean last) {
                synchronized (error) {
                    if (error.length() < 4096) {
                        error.append(StandardCharsets.UTF_8.decode(text));
                    }
                }
                text.position(text.limit());
                if (last) {
                    done.countDown();
                }
            }
        };
        try (StreamClient ws = StreamClient.connect(http, StreamClient.portForwardUri(url, remote), StreamClient.PORT_FORWARD_PROTOCOLS, channels, timeout)) {
            ws.closed().whenComplete((v, e) -> done.countDown());
            Thread up = new Thread(() -> {
                byte[] buf = new byte[32 * 1024];
                try (InputStream in = local.getInputStream()) {
                    int n;
                    while ((n = in.read(buf)) >= 0) {
                        if (n > 0) {
                            ws.send(0, buf, 0, n);
                        }
                    }
                } catch (IOException e) {
                    // either side went away
                }
                done.countDown();
            }, "berth-forward-up-" + remote);
            up.setDaemon(true);
            up.start();
            try {
                done.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        synchronized (error) {
            if (error.length() > 0) {
                throw new IOException(error.toString().strip());
            }
        }
    }

    private static void closeQuietly(java.io.Closeable c) {
        try {
            c.close();
        } catch (IOException e) {
            // closing anyway
        }
    }
}
