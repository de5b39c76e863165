package dev.berth.agent.server;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.TooLongFrameException;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.cert.Certificate;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLPeerUnverifiedException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The agent's HTTP API, the kubelet's: a secure listener (TLS; every request authenticated by
 * the {@link Authenticator} — 401 {@code Unauthorized} otherwise — and authorized by the
 * {@link Authorizer} with the kubelet's attributes — 403 with the kubelet's text otherwise) and
 * optionally a read-only plain-HTTP listener that serves only the kubelet's read-only paths
 * ({@link #READ_ONLY_PREFIXES}) to GET without authentication.
 * <p>
 * Requests run on a pool of worker threads, never on an I/O thread: an {@link Endpoint}
 * registered by path prefix ({@link #route}) may block and stream; {@code /exec},
 * {@code /attach} and {@code /portForward} go to the {@link StreamingProxy}. Request lines are
 * bounded to 8 KiB and headers to 32 KiB (431 beyond), bodies to 1 MiB (413). A connection reads
 * its next request only when the answer to the last one is complete.
 */
public final class KubeletServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(KubeletServer.class);
    /** The paths the kubelet's read-only port serves (its default handlers). */
    public static final List<String> READ_ONLY_PREFIXES = List.of("/healthz", "/pods", "/stats", "/metrics", "/spec");
    static final int MAX_INITIAL_LINE = 8 * 1024;
    static final int MAX_HEADERS = 32 * 1024;
    static final int MAX_BODY = 1 << 20;
    static final int MAX_WORKERS = 256;
    static final String PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8";

    /** One listener: where, with TLS or plain, and whether it is the read-only one. */
    public record Listener(String address, int port, SslContext ssl, boolean readOnly) {
    }

    private final String nodeName;
    private final Authenticator authenticator;
    private final Authorizer authorizer;
    private final StreamingProxy streams;
    private final MeterRegistry metrics;
    private final Map<String, Endpoint> routes = new ConcurrentHashMap<>();
    private final EventLoopGroup loop;
    private final ThreadPoolExecutor workers;
    private final List<Channel> channels = new ArrayList<>();

    private KubeletServer(String nodeName, Authenticator authenticator, Authorizer authorizer, StreamingProxy streams, MeterRegistry metrics) {
        this.nodeName = nodeName;
        this.authenticator = authenticator;
        this.authorizer = authorizer;
        this.streams = streams;
        this.metrics = metrics;
        this.loop = new MultiThreadIoEventLoopGroup(2, dev.berth.common.DaemonThreads.named("kubelet-api-io"), NioIoHandler.newFactory());
        this.workers = new ThreadPoolExecutor(0, MAX_WORKERS, 60, TimeUnit.SECONDS, new SynchronousQueue<>(),
                dev.berth.common.DaemonThreads.named("kubelet-api"));
    }

    /**
     * Starts listening. {@code streams} null: no exec, attach or port forwarding (404);
     * {@code metrics}: where the server counts its requests (null: nowhere).
     */
    public static KubeletServer start(String nodeName, Authenticator authenticator, Authorizer authorizer, StreamingProxy streams,
                                      MeterRegistry metrics, List<Listener> listeners) {
        KubeletServer s = new KubeletServer(nodeName, authenticator, authorizer, streams, metrics);
        try {
            for (Listener l : listeners) {
                s.channels.add(s.listen(l));
            }
        } catch (RuntimeException e) {
            s.close();
            throw e;
        }
        return s;
    }

    /** Answers requests whose path is {@code prefix} or under it (the longest registered prefix wins). */
    public KubeletServer route(String prefix, Endpoint endpoint) {
        routes.put(normalize(prefix), endpoint);
        return this;
    }

    /** Serves {@code /metrics} from {@code registry} (the text format Prometheus scrapes). */
    public KubeletServer metrics(String path, PrometheusMeterRegistry registry) {
        return route(path, (req, resp) -> {
            if (!req.segments().isEmpty()) {
                resp.error(404, "404 page not found");
                return;
            }
            byte[] text = registry.scrape().getBytes(StandardCharsets.UTF_8);
            resp.start(200, PROMETHEUS_TEXT);
            try (OutputStream out = resp.body()) {
                out.write(text);
            }
        });
    }

    /**
     * The agent's HTTP API as {@code settings} say: the secure listener (port != 0) with its
     * certificate (configured, or self-signed under {@code stateDir}), client certificates
     * checked against the client CA, bearer tokens through TokenReview and requests authorized
     * through SubjectAccessReview when connected ({@code api} non-null) and so configured; the
     * read-only listener as {@link ServerSettings#effectiveReadOnlyPort} says. It serves
     * {@code /healthz}, {@code /metrics} ({@code agentMetrics}), {@code /metrics/probes}
     * ({@code probeMetrics}) and the streaming paths; content endpoints are added with
     * {@link #route}. Null when no listener is configured.
     */
    public static KubeletServer forAgent(ServerSettings settings, String nodeName, java.nio.file.Path stateDir, List<String> nodeIps,
                                         io.fabric8.kubernetes.client.KubernetesClient api, dev.berth.agent.cri.CriClient cri,
                                         PrometheusMeterRegistry agentMetrics, PrometheusMeterRegistry probeMetrics) {
        boolean connected = api != null;
        List<Listener> listeners = new ArrayList<>();
        if (settings.port() != 0) {
            SslContext ssl = ServerTls.context(settings, stateDir, nodeName, nodeIps, java.time.Clock.systemUTC());
            listeners.add(new Listener(settings.address(), settings.port(), ssl, false));
        }
        int readOnlyPort = settings.effectiveReadOnlyPort(connected);
        if (readOnlyPort != 0) {
            listeners.add(new Listener(settings.readOnlyAddress(), readOnlyPort, null, true));
        }
        if (listeners.isEmpty()) {
            return null;
        }
        io.fabric8.kubernetes.client.KubernetesClient tokenReviews = connected && settings.tokenWebhook() ? api : null;
        io.fabric8.kubernetes.client.KubernetesClient accessReviews =
                connected && settings.authorization() == ServerSettings.AuthorizationMode.WEBHOOK ? api : null;
        if (!connected && settings.authorization() == ServerSettings.AuthorizationMode.WEBHOOK && settings.port() != 0) {
            LOG.info("the agent runs standalone: no API server to ask SubjectAccessReview, authenticated requests are allowed");
        }
        if (settings.port() != 0 && settings.clientCaFile() == null && tokenReviews == null && !settings.anonymousAuth()) {
            LOG.warn("the agent's HTTP API has no way to authenticate a client (no client CA, no token webhook, no anonymous access):"
                    + " every request to the secure port is refused");
        }
        java.time.Clock clock = java.time.Clock.systemUTC();
        KubeletServer server = start(nodeName,
                new Authenticator(tokenReviews, settings.anonymousAuth(), settings.authnSuccessTtl(), settings.authnFailureTtl(), clock),
                new Authorizer(accessReviews, settings.authzAllowTtl(), settings.authzDenyTtl(), clock),
                cri == null ? null : new StreamingProxy(cri), agentMetrics, listeners);
        server.route("/healthz", (req, resp) -> {
            if (!req.segments().isEmpty() && !req.segments().equals(List.of("ping"))) {
                resp.error(404, "404 page not found");
                return;
            }
            resp.start(200, "text/plain; charset=utf-8");
            try (OutputStream out = resp.body()) {
                out.write("ok".getBytes(StandardCharsets.UTF_8));
            }
        });
        if (agentMetrics != null) {
            server.metrics("/metrics", agentMetrics);
        }
        if (probeMetrics != null) {
            server.metrics("/metrics/probes", probeMetrics);
        }
        return server;
    }

    /** The agent's own metrics registry: the JVM's and the process's meters bound; the agent's parts add theirs. */
    public static PrometheusMeterRegistry agentRegistry() {
        PrometheusMeterRegistry r = new PrometheusMeterRegistry(io.micrometer.prometheusmetrics.PrometheusConfig.DEFAULT);
        new io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics().bindTo(r);
        new io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics().bindTo(r);
        new io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics().bindTo(r);
        new io.micrometer.core.instrument.binder.system.ProcessorMetrics().bindTo(r);
        new io.micrometer.core.instrument.binder.system.UptimeMetrics().bindTo(r);
        new io.micrometer.core.instrument.binder.system.FileDescriptorMetrics().bindTo(r);
        return r;
    }

    /** The address of the {@code i}-th listener (in the order given to {@link #start}). */
    public InetSocketAddress address(int i) {
        return (InetSocketAddress) channels.get(i).localAddress();
    }

    private static String normalize(String prefix) {
        String p = prefix.startsWith("/") ? prefix : "/" + prefix;
        while (p.length() > 1 && p.endsWith("/")) {
            p = p.substring(0, p.length() - 1);
        }
        return p;
    }

    private Channel listen(Listener l) {
        try {
            Channel ch = new ServerBootstrap().group(loop).channel(NioServerSocketChannel.class)
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel c) {
                            c.config().setAutoRead(false);
                            if (l.ssl() != null) {
                                c.pipeline().addLast("tls", l.ssl().newHandler(c.alloc()));
                            }
                            c.pipeline().addLast("http", new HttpServerCodec(MAX_INITIAL_LINE, MAX_HEADERS, 8192));
                            c.pipeline().addLast("aggregate", new HttpObjectAggregator(MAX_BODY));
                            c.pipeline().addLast("dispatch", new Dispatcher(l.readOnly()));
                        }
                    }).bind(l.address(), l.port()).syncUninterruptibly().channel();
            LOG.info("the agent's HTTP API listens on {}{}", ch.localAddress(),
                    l.readOnly() ? " (read-only, plain HTTP)" : l.ssl() != null ? " (TLS)" : " (plain HTTP)");
            return ch;
        } catch (RuntimeException e) {
            throw new IllegalStateException("the agent's HTTP API cannot listen on " + l.address() + ":" + l.port() + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        for (Channel c : channels) {
            c.close().syncUninterruptibly();
        }
        loop.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
        workers.shutdownNow();
    }

    /** One connection: takes its requests one at a time and hands each to a worker. */
    private final class Dispatcher extends ChannelInboundHandlerAdapter {
        private final boolean readOnly;
        private final ArrayDeque<FullHttpRequest> pending = new ArrayDeque<>();
        private boolean busy;

        Dispatcher(boolean readOnly) {
            this.readOnly = readOnly;
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            ctx.read();
            ctx.fireChannelActive();
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (!(msg instanceof FullHttpRequest req)) {
                io.netty.util.ReferenceCountUtil.release(msg);
                return;
            }
            if (busy) {
                pending.add(req);
                return;
            }
            dispatch(ctx, req);
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            if (!busy && pending.isEmpty() && ctx.channel().isActive()) {
                ctx.read();
            }
        }

        private void dispatch(ChannelHandlerContext ctx, FullHttpRequest req) {
            busy = true;
            Exchange ex = new Exchange(ctx.channel(), req, () -> ctx.executor().execute(() -> next(ctx)));
            if (req.decoderResult().isFailure()) {
                Throwable cause = req.decoderResult().cause();
                boolean tooLong = cause instanceof TooLongFrameException;
                req.release();
                ex.respond(tooLong ? 431 : 400, tooLong ? "request header fields too large" : "bad request");
                ctx.channel().close();
                return;
            }
            Certificate[] peer = peer(ctx.channel());
            try {
                workers.execute(() -> {
                    try {
                        serve(ex, peer, readOnly);
                    } finally {
                        req.release();
                    }
                });
            } catch (RejectedExecutionException e) {
                req.release();
                ex.respond(503, "too many requests");
            }
        }

        private void next(ChannelHandlerContext ctx) {
            busy = false;
            FullHttpRequest queued = pending.poll();
            if (queued != null) {
                dispatch(ctx, queued);
            } else if (ctx.channel().isActive()) {
                ctx.read();
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            pending.forEach(FullHttpRequest::release);
            pending.clear();
            ctx.fireChannelInactive();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            LOG.debug("the agent's HTTP API: connection from {} failed: {}", ctx.channel().remoteAddress(), cause.toString());
            ctx.close();
        }
    }

    private static Certificate[] peer(Channel ch) {
        SslHandler ssl = ch.pipeline().get(SslHandler.class);
        if (ssl == null) {
            return null;
        }
        try {
            return ssl.engine().getSession().getPeerCertificates();
        } catch (SSLPeerUnverifiedException e) {
            return null;
        }
    }

    /** Authenticates, authorizes and answers one request (on a worker). */
    private void serve(Exchange ex, Certificate[] peer, boolean readOnly) {
        String bucket = bucket(ex.path);
        try {
            if (readOnly) {
                if (!readOnlyPath(ex.path)) {
                    ex.respond(404, "404 page not found");
                    return;
                }
                if (!ex.method().equals("GET") && !ex.method().equals("HEAD")) {
                    ex.respond(405, "405: Method Not Allowed");
                    return;
                }
            } else {
                Optional<User> user = authenticator.authenticate(peer, ex.request.headers().get(HttpHeaderNames.AUTHORIZATION));
                if (user.isEmpty()) {
                    ex.respond(401, "Unauthorized");
                    return;
                }
                Authorizer.Attributes attrs = Authorizer.attributes(ex.method(), ex.path, nodeName);
                switch (authorizer.authorize(user.get(), attrs)) {
                    case ALLOW -> {
                    }
                    case DENY -> {
                        LOG.debug("{}", Authorizer.forbidden(user.get(), attrs));
                        ex.respond(403, Authorizer.forbidden(user.get(), attrs));
                        return;
                    }
                    default -> {
                        ex.respond(500, "Authorization error (user=" + user.get().name() + ", verb=" + attrs.verb() + ", resource="
                                + attrs.resource() + ", subresource=" + attrs.subresource() + ")");
                        return;
                    }
                }
                if (StreamingProxy.serves(ex.path)) {
                    if (streams == null) {
                        ex.respond(404, "404 page not found");
                    } else {
                        streams.handle(ex);
                    }
                    return;
                }
            }
            String prefix = match(ex.path);
            if (prefix == null) {
                ex.respond(404, "404 page not found");
                return;
            }
            routes.get(prefix).handle(ex.endpointRequest(prefix), ex);
            ex.endpointDone();
        } catch (IOException | RuntimeException e) {
            if (ex.started()) {
                LOG.debug("the agent's HTTP API: {} {} ended early: {}", ex.method(), ex.path, e.toString());
                ex.channel.close();
            } else {
                LOG.warn("the agent's HTTP API: {} {} failed: {}", ex.method(), ex.path, e.toString());
                ex.respond(500, "Internal Error: " + e.getMessage());
            }
        } finally {
            if (metrics != null) {
                Counter.builder("berth_agent_http_requests").description("requests to the agent's HTTP API, by path, method and answer")
                        .tag("path", bucket).tag("method", ex.method()).tag("server_type", readOnly ? "readonly" : "readwrite")
                        .tag("code", Integer.toString(ex.status())).register(metrics).increment();
            }
        }
    }

    /** The longest registered prefix that {@code path} is or is under, or null. */
    String match(String path) {
        String best = null;
        for (String p : routes.keySet()) {
            if ((path.equals(p) || path.startsWith(p.equals("/") ? "/" : p + "/")) && (best == null || p.length() > best.length())) {
                best = p;
            }
        }
        return best;
    }

    static boolean readOnlyPath(String path) {
        for (String p : READ_ONLY_PREFIXES) {
            if (path.equals(p) || path.startsWith(p + "/")) {
                return true;
            }
        }
        return false;
    }

    /** The path's first segment, for counting (bounded: unknown paths are "other"). */
    private String bucket(String path) {
        String first = path.length() > 1 ? path.substring(1).split("/", 2)[0] : "";
        if (List.of("exec", "attach", "portForward").contains(first) || (match("/" + first) != null && routes.containsKey("/" + first))) {
            return first;
        }
        String m = match(path);
        return m == null ? "other" : m.substring(1).split("/", 2)[0];
    }
}
