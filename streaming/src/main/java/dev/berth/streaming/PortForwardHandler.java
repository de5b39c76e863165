package dev.berth.streaming;

import dev.berth.common.BerthException;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.handler.codec.http.websocketx.BinaryWebSocketFrame;
import io.netty.handler.codec.http.websocketx.CloseWebSocketFrame;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.util.ReferenceCountUtil;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Port forwarding over the {@code portforward.k8s.io} WebSocket protocol. The URL names the
 * ports ({@code ?port=8080&port=53}); the i-th port gets channel 2i for data (both ways) and
 * 2i+1 for errors (server to client). The first message on each of those channels carries the
 * port as two little-endian bytes. Each port is one TCP connection to 127.0.0.1:port in the
 * pod's network namespace; the session ends when the client goes away or every connection has
 * ended.
 */
final class PortForwardHandler extends ChannelInboundHandlerAdapter {
    private static final Logger LOG = LoggerFactory.getLogger(PortForwardHandler.class);
    static final String PROTOCOL = "portforward.k8s.io";
    static final List<String> PROTOCOLS = List.of(PROTOCOL);
    static final int MAX_PORTS = 64;

    private final StreamRequest.PortForward request;
    private final List<Integer> ports;
    private final NetnsDialer dialer;
    private final Channel[] backends;
    private final AtomicInteger open;
    /** What the client sent for a port before its connection was up; event loop only. */
    private final List<ByteBuf>[] pending;
    private final boolean[] failed;
    private static final int MAX_PENDING = 16;
    private Channel ws;

    PortForwardHandler(StreamRequest.PortForward request, List<Integer> ports, NetnsDialer dialer) {
        this.request = request;
        this.ports = ports;
        this.dialer = dialer;
        this.backends = new Channel[ports.size()];
        this.open = new AtomicInteger(ports.size());
        @SuppressWarnings("unchecked")
        List<ByteBuf>[] p = new List[ports.size()];
        this.pending = p;
        this.failed = new boolean[ports.size()];
    }

    /** The ports a URL asks for, checked against the request's. */
    static List<Integer> ports(QueryStringDecoder q, StreamRequest.PortForward request) {
        List<String> raw = q.parameters().getOrDefault("port", List.of());
        if (raw.isEmpty()) {
            throw BerthException.invalidArgument("port-forward: no port given (?port=N)");
        }
        if (raw.size() > MAX_PORTS) {
            throw BerthException.invalidArgument("port-forward: at most %d ports per connection", MAX_PORTS);
        }
        List<Integer> out = new ArrayList<>();
        for (String r : raw) {
            int p;
            try {
                p = Integer.parseInt(r);
            } catch (NumberFormatException e) {
                throw BerthException.invalidArgument("port-forward: invalid port %s", r);
            }
            if (p < 1 || p > 65535) {
                throw BerthException.invalidArgument("port-forward: port %d is out of range", p);
            }
            if (!request.ports().isEmpty() && !request.ports().contains(p)) {
                throw BerthException.invalidArgument("port-forward: port %d was not requested", p);
            }
            out.add(p);
        }
        return out;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        ws = ctx.channel();
        ws.closeFuture().addListener(f -> {
            for (int i = 0; i < pending.length; i++) {
                releasePending(i);
            }
            synchronized (backends) {
                for (Channel b : backends) {
                    if (b != null) {
                        b.close();
                    }
                }
            }
        });
        for (int i = 0; i < ports.size(); i++) {
            int port = ports.get(i);
            int idx = i;
            ws.write(frame(2 * i, portPrefix(port)));
            ws.write(frame(2 * i + 1, portPrefix(port)));
            PodPortConnector.connect(dialer, request, port, ws.eventLoop(), new Backend(idx), (b, error) -> {
                if (b == null) {
                    ws.writeAndFlush(frame(2 * idx + 1, error.getBytes(StandardCharsets.UTF_8)));
                    releasePending(idx);
                    backendDone();
                } else {
                    attach(idx, b);
                }
            });
        }
        ws.flush();
    }

    /** On the event loop: the connection is up; sends it what the client sent so far. */
    private void attach(int idx, Channel b) {
        if (!ws.isActive()) {
            b.close();
            releasePending(idx);
            return;
        }
        synchronized (backends) {
            backends[idx] = b;
        }
        List<ByteBuf> queued = pending[idx];
        pending[idx] = null;
        if (queued != null) {
            for (ByteBuf q : queued) {
                b.write(q);
            }
            b.flush();
        }
        updateReading();
    }

    private void releasePending(int idx) {
        List<ByteBuf> queued = pending[idx];
        pending[idx] = null;
        failed[idx] = true;
        if (queued != null) {
            queued.forEach(ReferenceCountUtil::release);
        }
    }

    private static byte[] portPrefix(int port) {
        return new byte[] {(byte) (port & 0xff), (byte) (port >>> 8)};
    }

    private static BinaryWebSocketFrame frame(int channel, byte[] data) {
        return new BinaryWebSocketFrame(Unpooled.buffer(data.length + 1).writeByte(channel).writeBytes(data));
    }

    private void backendDone() {
        if (open.decrementAndGet() == 0 && ws.isActive()) {
            ws.writeAndFlush(new CloseWebSocketFrame(1000, "")).addListener(ChannelFutureListener.CLOSE);
        }
    }

    private void updateReading() {
        boolean writable = true;
        synchronized (backends) {
            for (Channel b : backends) {
                if (b != null && b.isActive() && !b.isWritable()) {
                    writable = false;
                }
            }
        }
        ws.config().setAutoRead(writable);
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        try {
            ByteBuf c = ChannelFrames.data(ctx, msg);
            if (c == null) {
                return;
            }
            int ch = c.readUnsignedByte();
            if (ch % 2 != 0 || ch / 2 >= backends.length || !c.isReadable()) {
                return;
            }
            Channel b;
            synchronized (backends) {
                b = backends[ch / 2];
            }
            int idx = ch / 2;
            if (b == null) {
                // not connected yet: keep the bytes until it is (bounded by pausing reads)
                if (!failed[idx]) {
                    if (pending[idx] == null) {
                        pending[idx] = new ArrayList<>();
                    }
                    pending[idx].add(c.retain());
                    if (pending[idx].size() >= MAX_PENDING) {
                        ctx.channel().config().setAutoRead(false);
                    }
                }
                return;
            }
            if (!b.isActive()) {
                return;
            }
            b.writeAndFlush(c.retain());
            if (!b.isWritable()) {
                ctx.channel().config().setAutoRead(false);
            }
        } finally {
            ReferenceCountUtil.release(msg);
        }
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        boolean w = ctx.channel().isWritable();
        synchronized (backends) {
            for (Channel b : backends) {
                if (b != null) {
                    b.config().setAutoRead(w);
                }
            }
        }
        ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
        if (evt instanceof IdleStateEvent) {
            ctx.close();
            return;
        }
        super.userEventTriggered(ctx, evt);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        LOG.debug("port-forward session for {} failed: {}", request.sandboxId(), cause.toString());
        ctx.close();
    }

    /** One port's TCP connection in the pod: its bytes go to the client on the data channel. */
    private final class Backend extends ChannelInboundHandlerAdapter {
        private final int index;

        Backend(int index) {
            this.index = index;
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            if (!ws.isWritable()) {
                ctx.channel().config().setAutoRead(false);
            }
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf data = (ByteBuf) msg;
            ByteBuf out = ctx.alloc().buffer(1).writeByte(2 * index);
            ws.writeAndFlush(new BinaryWebSocketFrame(Unpooled.wrappedBuffer(out, data)));
            if (!ws.isWritable()) {
                ctx.channel().config().setAutoRead(false);
            }
        }

        @Override
        public void channelWritabilityChanged(ChannelHandlerContext ctx) {
            updateReading();
            ctx.fireChannelWritabilityChanged();
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            updateReading();
            backendDone();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            if (ws.isActive()) {
                ws.writeAndFlush(frame(2 * index + 1, String.valueOf(cause.getMessage()).getBytes(StandardCharsets.UTF_8)));
            }
            ctx.close();
        }
    }
}
