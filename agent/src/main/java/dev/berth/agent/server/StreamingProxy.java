package dev.berth.agent.server;

import dev.berth.agent.cri.CriClient;
import dev.berth.agent.pod.KubeletKeys;
import dev.berth.cri.v1.Container;
import dev.berth.cri.v1.ContainerState;
import dev.berth.cri.v1.PodSandbox;
import dev.berth.cri.v1.PodSandboxState;
import io.grpc.StatusRuntimeException;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.util.ReferenceCountUtil;
import java.net.URI;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import javax.net.ssl.SSLException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code /exec}, {@code /attach} and {@code /portForward}, as the kubelet serves them: the pod
 * and container are found through the CRI (the kubelet's labels), the runtime is asked for a
 * streaming URL (CRI Exec, Attach, PortForward), and the client's upgrade request (SPDY/3.1 or
 * WebSocket) goes on to that URL; once the runtime answers 101 Switching Protocols, the two
 * connections are joined and bytes pass both ways unread, so any runtime's streaming server
 * works. A runtime that refuses the upgrade has its answer passed back. Either side closing
 * closes the other once what it sent is written; a slow reader holds the other side back.
 */
public final class StreamingProxy {
    private static final Logger LOG = LoggerFactory.getLogger(StreamingProxy.class);
    static final int MAX_RESPONSE_HEADERS = 16 * 1024;

    /** Request headers that stay between the client and the agent. */
    private static final List<String> NOT_FORWARDED = List.of("authorization", "host", "content-length", "transfer-encoding",
            "proxy-authorization", "keep-alive", "te", "trailer");

    private final CriClient cri;
    private final SslContext backendTls;

    public StreamingProxy(CriClient cri) {
        this.cri = cri;
        try {
            this.backendTls = SslContextBuilder.forClient().protocols("TLSv1.3", "TLSv1.2").build();
        } catch (SSLException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Whether {@code path} is one of the streaming paths. */
    static boolean serves(String path) {
        return path.startsWith("/exec/") || path.startsWith("/attach/") || path.startsWith("/portForward/");
    }

    /** What a request asks for: the kind, the pod (namespace, name, optional uid) and container. */
    record Target(String kind, String namespace, String pod, String uid, String container) {
        /**
         * The target of a path: {@code /exec|attach/{ns}/{pod}/{container}},
         * {@code /exec|attach/{ns}/{pod}/{uid}/{container}}, {@code /portForward/{ns}/{pod}} or
         * {@code /portForward/{ns}/{pod}/{uid}}; empty when the path is none of them.
         */
        static Optional<Target> of(String path) {
            String[] p = path.substring(1).split("/", -1);
            String kind = p[0];
            boolean command = kind.equals("exec") || kind.equals("attach");
            for (String s : p) {
                if (s.isEmpty()) {
                    return Optional.empty();
                }
            }
            if (command && p.length == 4) {
                return Optional.of(new Target(kind, p[1], p[2], "", p[3]));
            }
            if (command && p.length == 5) {
                return Optional.of(new Target(kind, p[1], p[2], p[3], p[4]));
            }
            if (kind.equals("portForward") && (p.length == 3 || p.length == 4)) {
                return Optional.of(new Target(kind, p[1], p[2], p.length == 4 ? p[3] : "", ""));
            }
            return Optional.empty();
        }
    }

    /** Answers the exchange (on a worker thread: the CRI calls block). */
    void handle(Exchange ex) {
        Optional<Target> t = Target.of(ex.path);
        if (t.isEmpty() || !(ex.method().equals("GET") || ex.method().equals("POST"))) {
            ex.respond(404, "404 page not found");
            return;
        }
        Target target = t.get();
        if (!upgradeRequested(ex.request.headers())) {
            ex.respond(400, "Upgrade request required");
            return;
        }
        String url;
        try {
            url = streamingUrl(target, ex.query);
        } catch (Refusal r) {
            ex.respond(r.status, r.getMessage());
            return;
        } catch (StatusRuntimeException e) {
            ex.respond(httpStatus(e), e.getStatus().getCode() + ": " + e.getStatus().getDescription());
            return;
        }
        URI location;
        try {
            location = URI.create(url);
        } catch (IllegalArgumentException e) {
            ex.respond(500, "the runtime's streaming URL is not a URL: " + url);
            return;
        }
        if (target.kind().equals("portForward")) {
            location = withPorts(location, ex.query.getOrDefault("port", List.of()));
        }
        ex.hijack();
        URI finalLocation = location;
        ex.channel.eventLoop().execute(() -> connect(ex, finalLocation));
    }

    private static final class Refusal extends RuntimeException {
        final int status;

        Refusal(int status, String message) {
            super(message, null, false, false);
            this.status = status;
        }
    }

    /** Finds the sandbox and container and asks the runtime for the URL, as the kubelet does. */
    String streamingUrl(Target t, Map<String, List<String>> query) {
        PodSandbox sandbox = sandbox(t);
        if (t.kind().equals("portForward")) {
            List<Integer> ports = new ArrayList<>();
            for (String p : query.getOrDefault("port", List.of())) {
                try {
                    int n = Integer.parseInt(p);
                    if (n < 1 || n > 65535) {
                        throw new NumberFormatException();
                    }
                    ports.add(n);
                } catch (NumberFormatException e) {
                    throw new Refusal(400, "invalid port \"" + p + "\"");
                }
            }
            return cri.portForward(sandbox.getId(), ports);
        }
        boolean stdin = flag(query, "input", "stdin");
        boolean stdout = flag(query, "output", "stdout");
        boolean stderr = flag(query, "error", "stderr");
        boolean tty = flag(query, "tty", "tty");
        if (!stdin && !stdout && !stderr) {
            throw new Refusal(400, "you must specify at least 1 of stdin, stdout, stderr");
        }
        if (tty && stderr) {
            // a terminal merges stderr into stdout, as the kubelet has it
            stderr = false;
        }
        Container c = container(sandbox, t);
        if (t.kind().equals("exec")) {
            List<String> command = query.getOrDefault("command", List.of());
            if (command.isEmpty()) {
                throw new Refusal(400, "you must specify a command");
            }
            return cri.exec(c.getId(), command, tty, stdin, stdout, stderr);
        }
        return cri.attach(c.getId(), tty, stdin, stdout, stderr);
    }

    /** The kubelet's stream flags ({@code input=1}…; kubectl's own {@code stdin=true} is taken too). */
    private static boolean flag(Map<String, List<String>> query, String name, String alias) {
        for (String key : new String[] {name, alias}) {
            List<String> v = query.get(key);
            if (v != null && !v.isEmpty() && (v.get(0).equals("1") || v.get(0).equalsIgnoreCase("true"))) {
                return true;
            }
        }
        return false;
    }

    /** The pod's ready sandbox (the newest, when the runtime has several). */
    private PodSandbox sandbox(Target t) {
        Map<String, String> labels = t.uid().isEmpty()
                ? Map.of(KubeletKeys.POD_NAMESPACE, t.namespace(), KubeletKeys.POD_NAME, t.pod())
                : Map.of(KubeletKeys.POD_NAMESPACE, t.namespace(), KubeletKeys.POD_NAME, t.pod(), KubeletKeys.POD_UID, t.uid());
        return cri.listPodSandboxes(labels).stream().filter(s -> s.getState() == PodSandboxState.SANDBOX_READY)
                .max(Comparator.comparingLong(PodSandbox::getCreatedAt))
                .orElseThrow(() -> new Refusal(404, "pod does not exist"));
    }

    /** The container of that name in the sandbox: a running one first, else the newest. */
    private Container container(PodSandbox sandbox, Target t) {
        return cri.listContainers(sandbox.getId()).stream()
                .filter(c -> t.container().equals(c.getLabelsOrDefault(KubeletKeys.CONTAINER_NAME, c.getMetadata().getName())))
                .max(Comparator.comparing((Container c) -> c.getState() == ContainerState.CONTAINER_RUNNING)
                        .thenComparingLong(Container::getCreatedAt))
                .orElseThrow(() -> new Refusal(404, "container not found (\"" + t.container() + "\")"));
    }

    private static int httpStatus(StatusRuntimeException e) {
        return switch (e.getStatus().getCode()) {
            case NOT_FOUND -> 404;
            case INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE -> 400;
            case UNAVAILABLE, RESOURCE_EXHAUSTED -> 503;
            case DEADLINE_EXCEEDED -> 504;
            default -> 500;
        };
    }

    static boolean upgradeRequested(HttpHeaders h) {
        return h.containsValue(HttpHeaderNames.CONNECTION, HttpHeaderValues.UPGRADE, true) && h.contains(HttpHeaderNames.UPGRADE);
    }

    /** The runtime's URL with the client's {@code port} parameters when it has none (WebSocket port forwarding names its ports so). */
    static URI withPorts(URI location, List<String> ports) {
        if (ports.isEmpty() || (location.getRawQuery() != null && location.getRawQuery().contains("port="))) {
            return location;
        }
        StringBuilder q = new StringBuilder(location.getRawQuery() == null ? "" : location.getRawQuery());
        for (String p : ports) {
            if (q.length() > 0) {
                q.append('&');
            }
            q.append("port=").append(URLEncoder.encode(p, StandardCharsets.UTF_8));
        }
        return URI.create(location.getScheme() + "://" + location.getRawAuthority() + location.getRawPath() + "?" + q);
    }

    /** Opens the runtime's connection on the client's event loop and sends the client's request on. */
    private void connect(Exchange ex, URI location) {
        Channel client = ex.channel;
        boolean tls = "https".equalsIgnoreCase(location.getScheme());
        int port = location.getPort() > 0 ? location.getPort() : tls ? 443 : 80;
        String host = location.getHost();
        Backend backend = new Backend(client);
        new Bootstrap().group(client.eventLoop()).channel(NioSocketChannel.class)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, 10_000)
                .handler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel c) {
                        ChannelPipeline p = c.pipeline();
                        if (tls) {
                            p.addLast("tls", backendTls.newHandler(c.alloc(), host, port));
                        }
                        p.addLast("http", new HttpClientCodec(4096, MAX_RESPONSE_HEADERS, 8192));
                        p.addLast("backend", backend);
                    }
                }).connect(host, port).addListener((ChannelFutureListener) f -> {
                    if (!f.isSuccess()) {
                        LOG.warn("the runtime's streaming server {}:{} does not answer: {}", host, port, f.cause().toString());
                        fail(client, 502, "cannot reach the runtime's streaming server: " + f.cause().getMessage());
                        return;
                    }
                    f.channel().writeAndFlush(backendRequest(ex.request, location, host, port)).addListener(w -> {
                        if (!w.isSuccess()) {
                            f.channel().close();
                            fail(client, 502, "cannot send the request to the runtime's streaming server");
                        }
                    });
                    client.closeFuture().addListener(c -> {
                        if (!backend.joined) {
                            f.channel().close();
                        }
                    });
                });
    }

    /** The client's request, addressed to the runtime's URL, its upgrade headers kept and its credentials not. */
    static FullHttpRequest backendRequest(FullHttpRequest in, URI location, String host, int port) {
        String uri = location.getRawPath() + (location.getRawQuery() == null ? "" : "?" + location.getRawQuery());
        FullHttpRequest out = new DefaultFullHttpRequest(in.protocolVersion(), in.method(), uri.isEmpty() ? "/" : uri);
        for (Map.Entry<String, String> h : in.headers()) {
            if (!NOT_FORWARDED.contains(h.getKey().toLowerCase(java.util.Locale.ROOT))) {
                out.headers().add(h.getKey(), h.getValue());
            }
        }
        out.headers().set(HttpHeaderNames.HOST, host.contains(":") ? "[" + host + "]:" + port : host + ":" + port);
        out.headers().set(HttpHeaderNames.CONTENT_LENGTH, 0);
        return out;
    }

    private static void fail(Channel client, int status, String text) {
        DefaultFullHttpResponse r = new DefaultFullHttpResponse(io.netty.handler.codec.http.HttpVersion.HTTP_1_1,
                HttpResponseStatus.valueOf(status), io.netty.buffer.Unpooled.copiedBuffer(text + "\n", StandardCharsets.UTF_8));
        r.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/plain; charset=utf-8");
        r.headers().set(HttpHeaderNames.CONTENT_LENGTH, r.content().readableBytes());
        r.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        client.writeAndFlush(r).addListener(ChannelFutureListener.CLOSE);
    }

    /**
     * The runtime's side before the join: its answer to the upgrade. On 101 the answer goes to
     * the client and both pipelines lose their HTTP handlers for {@link Relay}s; bytes the
     * runtime sent right after its answer are kept and passed on first. Any other answer is
     * passed back to the client, which is then closed.
     */
    private static final class Backend extends ChannelInboundHandlerAdapter {
        private final Channel client;
        private final ArrayDeque<ByteBuf> early = new ArrayDeque<>();
        private boolean switched;
        private boolean refused;
        volatile boolean joined;

        Backend(Channel client) {
            this.client = client;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (switched) {
                // raw bytes after the 101 (the HTTP decoder passes them on as buffers or content)
                if (msg instanceof ByteBuf b) {
                    early.add(b);
                } else if (msg instanceof HttpContent c) {
                    if (c.content().isReadable()) {
                        early.add(c.content().retain());
                    }
                    c.release();
                } else {
                    ReferenceCountUtil.release(msg);
                }
                return;
            }
            if (refused) {
                // the runtime's refusal, passed back whole
                passBack(ctx, msg);
                return;
            }
            if (!(msg instanceof HttpResponse r)) {
                ReferenceCountUtil.release(msg);
                return;
            }
            if (r.status().code() != 101) {
                refused = true;
                r.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
                passBack(ctx, msg);
                return;
            }
            switched = true;
            ctx.channel().config().setAutoRead(false);
            ReferenceCountUtil.release(msg);
            DefaultFullHttpResponse answer = new DefaultFullHttpResponse(r.protocolVersion(), r.status());
            answer.headers().set(r.headers());
            Channel backend = ctx.channel();
            client.writeAndFlush(answer).addListener((ChannelFutureListener) f -> {
                if (!f.isSuccess()) {
                    backend.close();
                    client.close();
                    return;
                }
                join(backend);
            });
        }

        /** Passes a part of the runtime's refusal to the client; after its last part both connections close. */
        private void passBack(ChannelHandlerContext ctx, Object msg) {
            boolean last = msg instanceof LastHttpContent;
            client.writeAndFlush(msg);
            if (last) {
                client.writeAndFlush(io.netty.buffer.Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
                ctx.close();
            }
        }

        /** Replaces the HTTP handlers of both connections by relays and lets bytes flow. */
        private void join(Channel backend) {
            ChannelPipeline cp = client.pipeline();
            cp.addLast("relay", new Relay(backend));
            for (String name : List.of("dispatch", "aggregate", "http")) {
                if (cp.get(name) != null) {
                    cp.remove(name);
                }
            }
            ChannelPipeline bp = backend.pipeline();
            bp.addLast("relay", new Relay(client));
            bp.remove("http");
            bp.remove(this);
            joined = true;
            while (!early.isEmpty()) {
                client.write(early.poll());
            }
            client.flush();
            backend.closeFuture().addListener(f -> Relay.closeOnFlush(client));
            client.closeFuture().addListener(f -> Relay.closeOnFlush(backend));
            client.config().setAutoRead(true);
            backend.config().setAutoRead(true);
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            if (!switched || !joined) {
                if (!refused && !switched) {
                    fail(client, 502, "the runtime's streaming server closed the connection");
                } else {
                    client.close();
                }
            }
            early.forEach(ByteBuf::release);
            early.clear();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            LOG.debug("streaming proxy: the runtime's connection failed: {}", cause.toString());
            ctx.close();
        }
    }

    /** One direction of a joined pair: bytes in, written to the peer; reading pauses while the peer cannot take more. */
    static final class Relay extends ChannelInboundHandlerAdapter {
        private final Channel peer;

        Relay(Channel peer) {
            this.peer = peer;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (msg instanceof HttpObject) {
                // cannot happen once the codecs are gone; never let HTTP objects through as bytes
                ReferenceCountUtil.release(msg);
                return;
            }
            if (!peer.isActive()) {
                ReferenceCountUtil.release(msg);
                ctx.close();
                return;
            }
            peer.write(msg).addListener((ChannelFutureListener) f -> {
                if (!f.isSuccess()) {
                    ctx.close();
                }
            });
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            peer.flush();
            if (!peer.isWritable()) {
                ctx.channel().config().setAutoRead(false);
            }
        }

        @Override
        public void channelWritabilityChanged(ChannelHandlerContext ctx) {
            if (ctx.channel().isWritable()) {
                peer.config().setAutoRead(true);
            }
            ctx.fireChannelWritabilityChanged();
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            closeOnFlush(peer);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            LOG.debug("streaming proxy: connection failed: {}", cause.toString());
            ctx.close();
        }

        static void closeOnFlush(Channel ch) {
            if (ch.isActive()) {
                ch.writeAndFlush(io.netty.buffer.Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
            }
        }
    }
}
