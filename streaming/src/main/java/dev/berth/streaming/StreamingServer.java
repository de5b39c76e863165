package dev.berth.streaming;

import dev.berth.common.BerthException;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.handler.codec.http.websocketx.WebSocketFrameAggregator;
import io.netty.handler.codec.spdy.SpdyFrameCodec;
import io.netty.handler.codec.spdy.SpdyVersion;
import io.netty.handler.codec.http.websocketx.WebSocketServerHandshaker;
import io.netty.handler.codec.http.websocketx.WebSocketServerHandshakerFactory;
import io.netty.handler.timeout.IdleState;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.handler.timeout.IdleStateHandler;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The streaming server behind the CRI Exec, Attach and PortForward calls. A call registers its
 * (validated) request with {@link #register} and hands the returned one-time URL to the
 * client, which connects to it with a WebSocket upgrade or a SPDY/3.1 upgrade (see
 * {@link SpdyUpgrade}; the protocols kubectl, crictl and the kubelet use by default):
 * <ul>
 * <li>{@code /exec/<token>} and {@code /attach/<token>}: subprotocols {@code v5.channel.k8s.io} and
 * {@code v4.channel.k8s.io} (see {@link WebSocketCommandHandler}, {@link RemoteCommand});</li>
 * <li>{@code /portforward/<token>?port=N...}: subprotocol {@code portforward.k8s.io}
 * (see {@link PortForwardHandler}).</li>
 * <li>over SPDY, {@code /exec/<token>} and {@code /attach/<token>} speak {@code v4.channel.k8s.io}
 * down to {@code channel.k8s.io} ({@link SpdyCommandSession}), {@code /portforward/<token>} speaks
 * {@code portforward.k8s.io} with the ports in the streams' headers ({@link SpdyPortForwardSession}).</li>
 * </ul>
 * A token is good for one connection within its time to live; an unknown, used or expired
 * token is answered 404. At most {@code maxStreams} sessions run at once (503 past that); a
 * session with no traffic either way for {@code idleTimeout} is closed, which ends its process
 * or connections.
 */
public final class StreamingServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(StreamingServer.class);
    static final int MAX_FRAME = 1 << 20;

    /**
     * The server's settings; with {@code tls} the server speaks HTTPS only (a PEM certificate
     * chain and its PKCS#8 private key) and hands out https URLs.
     */
    public record Options(Duration tokenTtl, int maxStreams, Duration idleTimeout, Tls tls) {
        public static Options defaults() {
            return new Options(Duration.ofMinutes(1), 256, Duration.ofHours(4), null);
        }

        public Options(Duration tokenTtl, int maxStreams, Duration idleTimeout) {
            this(tokenTtl, maxStreams, idleTimeout, null);
        }

        public Options {
            if (tokenTtl.isNegative() || tokenTtl.isZero() || maxStreams < 1 || idleTimeout.isNegative()
                    || idleTimeout.isZero()) {
                throw BerthException.invalidArgument("streaming: token ttl, max streams and idle timeout must be positive");
            }
        }
    }

    /** The server's certificate chain and private key, PEM files. */
    public record Tls(java.nio.file.Path certificateChain, java.nio.file.Path privateKey) {
        io.netty.handler.ssl.SslContext context() {
            try {
                return io.netty.handler.ssl.SslContextBuilder.forServer(certificateChain.toFile(), privateKey.toFile())
                        .build();
            } catch (javax.net.ssl.SSLException | IllegalArgumentException e) {
                throw BerthException.failedPrecondition("streaming: cannot use the TLS certificate %s and key %s: %s",
                        certificateChain, privateKey, e.getMessage());
            }
        }
    }

    private final EventLoopGroup loop;
    private final Channel channel;
    private final InetSocketAddress address;
    private final StreamTokens tokens;
    private final Options options;
    private final ExecBackend exec;
    private final NetnsDialer dialer;
    private final AtomicInteger active = new AtomicInteger();

    private StreamingServer(EventLoopGroup loop, Channel channel, StreamTokens tokens, Options options,
            ExecBackend exec, NetnsDialer dialer) {
        this.loop = loop;
        this.channel = channel;
        this.address = (InetSocketAddress) channel.localAddress();
        this.tokens = tokens;
        this.options = options;
        this.exec = exec;
        this.dialer = dialer;
    }

    /** Binds {@code host:port} (port 0 = ephemeral) and starts serving. */
    public static StreamingServer start(String host, int port, Options options, ExecBackend exec, Clock clock) {
        io.netty.handler.ssl.SslContext ssl = options.tls() == null ? null : options.tls().context();
        EventLoopGroup loop = new MultiThreadIoEventLoopGroup(2, r -> {
            Thread t = new Thread(r, "berth-streaming");
            t.setDaemon(true);
            return t;
        }, NioIoHandler.newFactory());
        NetnsDialer dialer = new NetnsDialer();
        StreamTokens tokens = new StreamTokens(options.tokenTtl(), clock);
        StreamingServer[] self = new StreamingServer[1];
        try {
            Channel ch = new ServerBootstrap().group(loop).channel(NioServerSocketChannel.class)
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel c) {
                            if (ssl != null) {
                                c.pipeline().addLast("tls", ssl.newHandler(c.alloc()));
                            }
                            c.pipeline().addLast("idle", new IdleStateHandler(0, 0,
                                    options.idleTimeout().toMillis(), TimeUnit.MILLISECONDS));
                            c.pipeline().addLast("http", new HttpServerCodec());
                            c.pipeline().addLast("aggregate", new HttpObjectAggregator(64 * 1024));
                            c.pipeline().addLast("route", self[0].new Router());
                        }
                    }).bind(host, port).syncUninterruptibly().channel();
            self[0] = new StreamingServer(loop, ch, tokens, options, exec, dialer);
            LOG.info("streaming server listening on {}{}", ch.localAddress(), ssl == null ? "" : " (TLS)");
            return self[0];
        } catch (RuntimeException e) {
            loop.shutdownGracefully(0, 1, TimeUnit.SECONDS);
            dialer.close();
            throw BerthException.unavailable("streaming server cannot listen on %s:%d: %s", host, port, e.getMessage());
        }
    }

    public InetSocketAddress address() {
        return address;
    }

    /** Sessions running now. */
    public int activeStreams() {
        return active.get();
    }

    /** Issues the one-time URL for {@code request}. */
    public String register(StreamRequest request) {
        String token = tokens.issue(request).orElseThrow(
                () -> BerthException.resourceExhausted("too many streaming requests are waiting for their client"));
        String host = address.getAddress().getHostAddress();
        if (host.contains(":")) {
            host = "[" + host + "]";
        }
        return (options.tls() == null ? "http://" : "https://") + host + ":" + address.getPort() + "/" + request.kind()
                + "/" + token;
    }

    @Override
    public void close() {
        channel.close().syncUninterruptibly();
        loop.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
        dialer.close();
    }

    /** Answers the upgrade request: checks the path and token, then hands over to a session. */
    private final class Router extends SimpleChannelInboundHandler<FullHttpRequest> {
        @Override
        protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
            QueryStringDecoder q = new QueryStringDecoder(req.uri());
            String[] parts = q.path().split("/");
            if (parts.length != 3 || !parts[0].isEmpty()) {
                respond(ctx, HttpResponseStatus.NOT_FOUND, "not found");
                return;
            }
            String kind = parts[1];
            if (!req.method().equals(HttpMethod.GET) && !req.method().equals(HttpMethod.POST)) {
                respond(ctx, HttpResponseStatus.METHOD_NOT_ALLOWED, "method not allowed");
                return;
            }
            Optional<StreamRequest> taken = tokens.take(kind, parts[2]);
            if (taken.isEmpty()) {
                respond(ctx, HttpResponseStatus.NOT_FOUND, "unknown or expired streaming token");
                return;
            }
            StreamRequest request = taken.get();
            if (SpdyUpgrade.requested(req.headers())) {
                upgradeToSpdy(ctx, req, request);
                return;
            }
            if (!"websocket".equalsIgnoreCase(req.headers().get(HttpHeaderNames.UPGRADE, ""))) {
                respond(ctx, HttpResponseStatus.BAD_REQUEST, "only WebSocket and SPDY/3.1 upgrades are served");
                return;
            }
            List<String> offered = new ArrayList<>();
            for (String h : req.headers().getAll(HttpHeaderNames.SEC_WEBSOCKET_PROTOCOL)) {
                for (String p : h.split(",")) {
                    offered.add(p.trim());
                }
            }
            List<String> supported = request instanceof StreamRequest.Command ? WebSocketCommandHandler.PROTOCOLS
                    : PortForwardHandler.PROTOCOLS;
            String chosen = offered.stream().filter(supported::contains).findFirst().orElse(null);
            if (chosen == null) {
                respond(ctx, HttpResponseStatus.BAD_REQUEST, "no supported subprotocol among " + offered
                        + "; supported: " + supported);
                return;
            }
            List<Integer> ports = List.of();
            if (request instanceof StreamRequest.PortForward pf) {
                try {
                    ports = PortForwardHandler.ports(q, pf);
                } catch (BerthException e) {
                    respond(ctx, HttpResponseStatus.BAD_REQUEST, e.getMessage());
                    return;
                }
            }
            if (!admit(ctx)) {
                return;
            }
            WebSocketServerHandshaker hs = new WebSocketServerHandshakerFactory("ws://" + req.headers().get(
                    HttpHeaderNames.HOST, "localhost") + req.uri(), chosen, false, MAX_FRAME).newHandshaker(req);
            if (hs == null) {
                WebSocketServerHandshakerFactory.sendUnsupportedVersionResponse(ctx.channel());
                return;
            }
            Channel ch = ctx.channel();
            List<Integer> finalPorts = ports;
            ch.pipeline().remove(this);
            hs.handshake(ch, req).addListener((ChannelFutureListener) f -> {
                if (!f.isSuccess()) {
                    ch.close();
                    return;
                }
                ch.pipeline().addLast("frames", new WebSocketFrameAggregator(MAX_FRAME));
                if (request instanceof StreamRequest.Command c) {
                    ch.pipeline().addLast("session", new WebSocketCommandHandler(c, chosen, exec));
                } else {
                    ch.pipeline().addLast("session", new PortForwardHandler((StreamRequest.PortForward) request,
                            finalPorts, dialer));
                }
            });
        }

        /** Counts the session against the limit, or refuses it (503) past the limit. */
        private boolean admit(ChannelHandlerContext ctx) {
            if (active.incrementAndGet() > options.maxStreams()) {
                active.decrementAndGet();
                respond(ctx, HttpResponseStatus.SERVICE_UNAVAILABLE, "too many streams");
                return false;
            }
            ctx.channel().closeFuture().addListener(f -> active.decrementAndGet());
            return true;
        }

        /**
         * The SPDY/3.1 upgrade: negotiates the subprotocol, answers 101 and replaces the HTTP
         * codec with the SPDY frame codec and the session. All of it happens on the event loop
         * before the next read, so bytes the client sends after the request reach the SPDY codec.
         */
        private void upgradeToSpdy(ChannelHandlerContext ctx, FullHttpRequest req, StreamRequest request) {
            List<String> supported = request instanceof StreamRequest.Command ? SpdyCommandSession.PROTOCOLS
                    : SpdyPortForwardSession.PROTOCOLS;
            SpdyUpgrade.Result hs = SpdyUpgrade.handshake(req.headers(), supported);
            if (hs.refusal() != null) {
                ctx.writeAndFlush(hs.refusal()).addListener(ChannelFutureListener.CLOSE);
                return;
            }
            if (!admit(ctx)) {
                return;
            }
            SpdyConnection.Handler session = request instanceof StreamRequest.Command c
                    ? new SpdyCommandSession(c, hs.protocol(), exec)
                    : new SpdyPortForwardSession((StreamRequest.PortForward) request, dialer);
            ChannelPipeline p = ctx.pipeline();
            p.remove("aggregate");
            ctx.writeAndFlush(SpdyUpgrade.switching(hs.protocol())).addListener(f -> {
                if (!f.isSuccess()) {
                    ctx.channel().close();
                }
            });
            p.addAfter("http", "spdy", new SpdyFrameCodec(SpdyVersion.SPDY_3_1));
            p.addAfter("spdy", "session", new SpdyConnection(session));
            p.remove(this);
            p.remove("http");
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
            if (evt instanceof IdleStateEvent e && e.state() == IdleState.ALL_IDLE) {
                ctx.close();
                return;
            }
            super.userEventTriggered(ctx, evt);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            LOG.debug("streaming request failed: {}", cause.toString());
            ctx.close();
        }
    }

    private static void respond(ChannelHandlerContext ctx, HttpResponseStatus status, String text) {
        FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status,
                Unpooled.copiedBuffer(text + "\n", StandardCharsets.UTF_8));
        r.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/plain; charset=utf-8");
        HttpUtil.setContentLength(r, r.content().readableBytes());
        ctx.writeAndFlush(r).addListener(ChannelFutureListener.CLOSE);
    }
}
