package dev.berth.streaming;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.DuplexChannel;
import io.netty.util.concurrent.ScheduledFuture;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Port forwarding over SPDY/3.1 ({@code portforward.k8s.io}). Each forwarded connection is a
 * pair of streams the client opens with the same {@code requestID} header: {@code data}
 * (bytes both ways; its {@code port} header names the port) and {@code error} (a failure
 * message, server to client). The pair's connection goes to 127.0.0.1:port in the pod's network
 * namespace; the client's FIN on the data stream half-closes it, and when the pod's side ends
 * both streams are closed. Any number of pairs may be open at once on one SPDY connection.
 * Everything here runs on the connection's event loop.
 */
final class SpdyPortForwardSession implements SpdyConnection.Handler {
    private static final Logger LOG = LoggerFactory.getLogger(SpdyPortForwardSession.class);
    static final String PROTOCOL = "portforward.k8s.io";
    static final List<String> PROTOCOLS = List.of(PROTOCOL);
    /** How long the second stream of a pair may take to arrive. */
    static final Duration PAIR_TIMEOUT = Duration.ofSeconds(30);
    /** Bytes kept for a connection that is not up yet before reading from the client pauses. */
    private static final int MAX_PENDING = 256 * 1024;

    private final StreamRequest.PortForward request;
    private final NetnsDialer dialer;
    private final Map<String, Pair> pairs = new HashMap<>();
    private SpdyConnection connection;
    private int unwritable;

    SpdyPortForwardSession(StreamRequest.PortForward request, NetnsDialer dialer) {
        this.request = request;
        this.dialer = dialer;
    }

    @Override
    public void connected(SpdyConnection c) {
        connection = c;
    }

    @Override
    public void opened(SpdyConnection.Stream s) {
        String type = s.header("streamtype");
        if (!"data".equals(type) && !"error".equals(type)) {
            s.reset();
            return;
        }
        String id = s.header("requestid");
        if (id == null || id.isEmpty()) {
            // clients before request ids open error then data with consecutive stream ids
            id = Integer.toString("error".equals(type) ? s.id : s.id - 2);
        }
        Pair p = pairs.get(id);
        if (p == null) {
            p = new Pair(id);
            pairs.put(id, p);
            Pair pair = p;
            p.timeout = connection.channel().eventLoop().schedule(() -> {
                if (!pair.complete()) {
                    pair.fail("timed out waiting for the " + (pair.data == null ? "data" : "error")
                            + " stream of request " + pair.id);
                }
            }, PAIR_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        }
        if ("data".equals(type) ? p.data != null : p.error != null) {
            s.reset();
            return;
        }
        if ("data".equals(type)) {
            p.data = s;
        } else {
            p.error = s;
        }
        s.attachment = p;
        if (p.complete()) {
            p.timeout.cancel(false);
            p.start();
        }
    }

    @Override
    public void data(SpdyConnection.Stream s, ByteBuf data) {
        if (!(s.attachment instanceof Pair p) || s != p.data || p.ended) {
            s.consumed(data.readableBytes());
            data.release();
            return;
        }
        p.toPod(data);
    }

    @Override
    public void remoteClosed(SpdyConnection.Stream s) {
        if (s.attachment instanceof Pair p && s == p.data) {
            p.clientDone = true;
            if (p.backend != null && p.pending == null) {
                p.shutdownBackendOutput();
            }
        }
    }

    @Override
    public void reset(SpdyConnection.Stream s) {
        if (s.attachment instanceof Pair p) {
            p.end();
        }
    }

    @Override
    public void closed() {
        for (Pair p : pairs.values().toArray(new Pair[0])) {
            p.end();
        }
    }

    private void updateReading(boolean becameUnwritable) {
        unwritable += becameUnwritable ? 1 : -1;
        connection.pauseReading(unwritable > 0);
    }

    /** One forwarded connection: its two streams and its socket in the pod. */
    private final class Pair {
        final String id;
        SpdyConnection.Stream data;
        SpdyConnection.Stream error;
        ScheduledFuture<?> timeout;
        Channel backend;
        /** What the client sent before the connection was up; null once it is. */
        List<ByteBuf> pending = new ArrayList<>();
        int pendingBytes;
        boolean clientDone;
        boolean ended;
        boolean pausedByPending;
        boolean backendUnwritable;
        int port;

        Pair(String id) {
            this.id = id;
        }

        boolean complete() {
            return data != null && error != null;
        }

        void start() {
            String raw = data.header("port");
            try {
                port = Integer.parseInt(raw == null ? "" : raw.trim());
            } catch (NumberFormatException e) {
                fail("invalid port " + raw);
                return;
            }
            if (port < 1 || port > 65535) {
                fail("port " + port + " is out of range");
                return;
            }
            if (!request.ports().isEmpty() && !request.ports().contains(port)) {
                fail("port " + port + " was not requested");
                return;
            }
            PodPortConnector.connect(dialer, request, port, connection.channel().eventLoop(),
                    new Backend(this), (b, message) -> {
                        if (b == null) {
                            fail(message);
                        } else if (ended) {
                            b.close();
                        } else {
                            attach(b);
                        }
                    });
        }

        void attach(Channel b) {
            backend = b;
            List<ByteBuf> queued = pending;
            pending = null;
            for (ByteBuf q : queued) {
                int n = q.readableBytes();
                b.write(q).addListener(f -> data.consumed(n));
            }
            b.flush();
            if (pausedByPending) {
                pausedByPending = false;
                updateReading(false);
            }
            if (clientDone) {
                shutdownBackendOutput();
            }
        }

        void toPod(ByteBuf buf) {
            int n = buf.readableBytes();
            if (pending != null) {
                pending.add(buf);
                pendingBytes += n;
                if (pendingBytes > MAX_PENDING && !pausedByPending) {
                    pausedByPending = true;
                    updateReading(true);
                }
                return;
            }
            if (!backend.isActive()) {
                buf.release();
                data.consumed(n);
                return;
            }
            backend.writeAndFlush(buf).addListener(f -> data.consumed(n));
        }

        void shutdownBackendOutput() {
            if (backend instanceof DuplexChannel d && backend.isActive()) {
                d.shutdownOutput();
            }
        }

        /** The request cannot be served: says why on the error stream and closes both streams. */
        void fail(String message) {
            if (ended) {
                return;
            }
            String text = "error forwarding port " + port + " to pod sandbox " + request.sandboxId() + ": " + message;
            LOG.debug("port-forward {}", text);
            if (error != null) {
                error.write(Unpooled.copiedBuffer(text, StandardCharsets.UTF_8));
            }
            end();
        }

        /** Closes both streams (after what was sent) and the connection in the pod. */
        void end() {
            if (ended) {
                return;
            }
            ended = true;
            pairs.remove(id);
            if (timeout != null) {
                timeout.cancel(false);
            }
            if (pending != null) {
                pending.forEach(ByteBuf::release);
                pending = null;
            }
            if (pausedByPending) {
                pausedByPending = false;
                updateReading(false);
            }
            if (backendUnwritable) {
                backendUnwritable = false;
                updateReading(false);
            }
            if (data != null) {
                data.close();
            }
            if (error != null) {
                error.close();
            }
            if (backend != null) {
                backend.close();
            }
        }
    }

    /** The pod's side of a pair: its bytes go to the client on the data stream. */
    private final class Backend extends ChannelInboundHandlerAdapter {
        private final Pair pair;

        Backend(Pair pair) {
            this.pair = pair;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf buf = (ByteBuf) msg;
            if (pair.ended) {
                buf.release();
                return;
            }
            ChannelFuture f = pair.data.write(buf);
            if (!f.isDone()) {
                // the client (its window or its socket) is behind: stop reading the pod until it caught up
                ctx.channel().config().setAutoRead(false);
                f.addListener(x -> ctx.channel().config().setAutoRead(true));
            }
        }

        @Override
        public void channelWritabilityChanged(ChannelHandlerContext ctx) {
            boolean unwritable = !ctx.channel().isWritable();
            if (unwritable != pair.backendUnwritable && !pair.ended) {
                pair.backendUnwritable = unwritable;
                updateReading(unwritable);
            }
            ctx.fireChannelWritabilityChanged();
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            pair.end();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            pair.fail(String.valueOf(cause.getMessage()));
        }
    }
}
