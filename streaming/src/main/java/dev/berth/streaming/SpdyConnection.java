package dev.berth.streaming;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelPromise;
import io.netty.channel.socket.DuplexChannel;
import io.netty.handler.codec.spdy.DefaultSpdyDataFrame;
import io.netty.handler.codec.spdy.DefaultSpdyGoAwayFrame;
import io.netty.handler.codec.spdy.DefaultSpdyRstStreamFrame;
import io.netty.handler.codec.spdy.DefaultSpdySynReplyFrame;
import io.netty.handler.codec.spdy.DefaultSpdyWindowUpdateFrame;
import io.netty.handler.codec.spdy.SpdyDataFrame;
import io.netty.handler.codec.spdy.SpdyGoAwayFrame;
import io.netty.handler.codec.spdy.SpdyHeaders;
import io.netty.handler.codec.spdy.SpdyPingFrame;
import io.netty.handler.codec.spdy.SpdyRstStreamFrame;
import io.netty.handler.codec.spdy.SpdySettingsFrame;
import io.netty.handler.codec.spdy.SpdyStreamStatus;
import io.netty.handler.codec.spdy.SpdySynStreamFrame;
import io.netty.handler.codec.spdy.SpdyWindowUpdateFrame;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.util.ReferenceCountUtil;
import java.nio.channels.ClosedChannelException;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The server side of one SPDY/3.1 connection, above Netty's frame codec: streams the client
 * opens (answered with a SYN_REPLY), their data both ways, half-closes (FIN), resets, pings and
 * GOAWAY. A {@link Handler} gives the streams their meaning (remotecommand or port-forward).
 *
 * <p>Flow control. What berth sends waits for the client's window, per stream and for the
 * session, once the client shows it takes part in SPDY/3.1 flow control (a SETTINGS frame
 * with an initial window size, or any WINDOW_UPDATE). The Go SPDY library that kubectl,
 * crictl and the kubelet use does neither and never grants window; towards it, berth's
 * writers wait on the TCP connection instead (a write completes when the socket took it).
 * What the client sends is granted back (WINDOW_UPDATE) as the handler consumes it, and the
 * handler stops reading the connection while a destination is backed up.
 *
 * <p>Every field is touched on the channel's event loop only; {@link Stream}'s methods may be
 * called from any thread.
 */
final class SpdyConnection extends ChannelInboundHandlerAdapter {
    private static final Logger LOG = LoggerFactory.getLogger(SpdyConnection.class);
    /** The SPDY/3.1 initial window, for streams and for the session. */
    static final int DEFAULT_WINDOW = 64 * 1024;
    /** Largest data frame berth sends while the client's window is enforced. */
    static final int MAX_DATA_FRAME = 16 * 1024;
    /** Streams one connection may have open at once. */
    static final int MAX_STREAMS = 1024;
    /** How long a closing connection waits for the client to close its side. */
    static final long LINGER_MS = 5000;

    /** What the streams of a connection mean. Called on the event loop. */
    interface Handler {
        /** The connection is up. */
        default void connected(SpdyConnection connection) {
        }

        /** The client opened {@code stream} (already answered). */
        void opened(Stream stream);

        /** Bytes on {@code stream}; the handler owns (releases) {@code data} and calls {@link Stream#consumed}. */
        void data(Stream stream, ByteBuf data);

        /** The client half-closed {@code stream} (FIN). */
        void remoteClosed(Stream stream);

        /** The client reset {@code stream}; nothing more goes either way. */
        void reset(Stream stream);

        /** The connection is gone. */
        default void closed() {
        }
    }

    private final Handler handler;
    private final Map<Integer, Stream> streams = new HashMap<>();
    private final Set<Stream> blocked = new LinkedHashSet<>();
    private Channel channel;
    private int lastClientStream;
    private boolean flowControl;
    private int initialSendWindow = DEFAULT_WINDOW;
    private int sessionSendWindow = DEFAULT_WINDOW;
    private int sessionCredit;
    private boolean closing;

    SpdyConnection(Handler handler) {
        this.handler = handler;
    }

    Channel channel() {
        return channel;
    }

    /** Stops (or resumes) reading from the client. */
    void pauseReading(boolean paused) {
        if (channel.config().isAutoRead() == paused) {
            channel.config().setAutoRead(!paused);
        }
    }

    /**
     * Ends the connection once everything queued went out: GOAWAY, then the TCP connection is
     * half-closed and closed when the client closes its side (or after a grace period).
     */
    void closeGracefully() {
        onLoop(() -> {
            closing = true;
            closeIfDrained();
        });
    }

    private void closeIfDrained() {
        if (!closing || !channel.isActive()) {
            return;
        }
        for (Stream s : streams.values()) {
            if (!s.queue.isEmpty()) {
                return;
            }
        }
        closing = false;
        channel.writeAndFlush(new DefaultSpdyGoAwayFrame(lastClientStream)).addListener(f -> {
            if (channel instanceof DuplexChannel d && f.isSuccess()) {
                // the client reads to the end, then closes; closing first could reset unread data
                d.shutdownOutput();
                channel.eventLoop().schedule(() -> channel.close(), LINGER_MS, TimeUnit.MILLISECONDS);
            } else {
                channel.close();
            }
        });
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        channel = ctx.channel();
        channel.closeFuture().addListener(f -> channel.eventLoop().execute(this::release));
        handler.connected(this);
    }

    private void release() {
        for (Stream s : streams.values().toArray(new Stream[0])) {
            s.failQueue();
        }
        streams.clear();
        blocked.clear();
        handler.closed();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        try {
            if (msg instanceof SpdyDataFrame d) {
                onData(d);
            } else if (msg instanceof SpdySynStreamFrame s) {
                onSynStream(ctx, s);
            } else if (msg instanceof SpdyRstStreamFrame r) {
                Stream s = streams.remove(r.streamId());
                if (s != null) {
                    s.reset = true;
                    s.failQueue();
                    blocked.remove(s);
                    handler.reset(s);
                }
            } else if (msg instanceof SpdyWindowUpdateFrame w) {
                onWindowUpdate(w);
            } else if (msg instanceof SpdySettingsFrame st) {
                if (st.isSet(SpdySettingsFrame.SETTINGS_INITIAL_WINDOW_SIZE)) {
                    int size = st.getValue(SpdySettingsFrame.SETTINGS_INITIAL_WINDOW_SIZE);
                    int delta = size - initialSendWindow;
                    initialSendWindow = size;
                    for (Stream s : streams.values()) {
                        s.sendWindow = flowControl ? s.sendWindow + delta : size;
                    }
                    flowControl = true;
                    drainAll();
                }
            } else if (msg instanceof SpdyPingFrame p) {
                // pings the client starts carry odd ids: answer them
                if ((p.id() & 1) == 1) {
                    ctx.writeAndFlush(p);
                    msg = null;
                }
            } else if (msg instanceof SpdyGoAwayFrame) {
                // the client is done with the connection
                ctx.close();
            }
        } finally {
            ReferenceCountUtil.release(msg);
        }
    }

    private void onSynStream(ChannelHandlerContext ctx, SpdySynStreamFrame f) {
        int id = f.streamId();
        if (f.isInvalid() || (id & 1) == 0 || id <= lastClientStream) {
            ctx.writeAndFlush(new DefaultSpdyRstStreamFrame(id, SpdyStreamStatus.PROTOCOL_ERROR));
            return;
        }
        lastClientStream = id;
        if (closing || streams.size() >= MAX_STREAMS) {
            ctx.writeAndFlush(new DefaultSpdyRstStreamFrame(id, SpdyStreamStatus.REFUSED_STREAM));
            return;
        }
        Stream s = new Stream(id, f.headers());
        streams.put(id, s);
        DefaultSpdySynReplyFrame reply = new DefaultSpdySynReplyFrame(id);
        // an empty header block is refused by some SPDY implementations: always name the stream's type
        String type = s.header("streamtype");
        reply.headers().set("streamtype", type == null ? "" : type);
        ctx.writeAndFlush(reply);
        handler.opened(s);
        if (f.isLast() && !s.reset) {
            s.remoteClosed = true;
            handler.remoteClosed(s);
        }
    }

    private void onData(SpdyDataFrame d) {
        int n = d.content().readableBytes();
        sessionCredit += n;
        if (sessionCredit >= DEFAULT_WINDOW / 2) {
            channel.writeAndFlush(new DefaultSpdyWindowUpdateFrame(0, sessionCredit));
            sessionCredit = 0;
        }
        Stream s = streams.get(d.streamId());
        if (s == null || s.remoteClosed) {
            return;
        }
        if (n > 0) {
            handler.data(s, d.content().retain());
        }
        if (d.isLast() && !s.reset) {
            s.remoteClosed = true;
            handler.remoteClosed(s);
            forgetIfDone(s);
        }
    }

    private void onWindowUpdate(SpdyWindowUpdateFrame w) {
        flowControl = true;
        if (w.streamId() == 0) {
            sessionSendWindow += w.deltaWindowSize();
            drainAll();
        } else {
            Stream s = streams.get(w.streamId());
            if (s != null) {
                s.sendWindow += w.deltaWindowSize();
                s.drain();
            }
        }
    }

    private void drainAll() {
        for (Stream s : blocked.toArray(new Stream[0])) {
            s.drain();
        }
    }

    private void forgetIfDone(Stream s) {
        if (s.remoteClosed && s.localClosed && s.queue.isEmpty()) {
            streams.remove(s.id);
            blocked.remove(s);
        }
    }

    private void onLoop(Runnable r) {
        if (channel.eventLoop().inEventLoop()) {
            r.run();
        } else {
            channel.eventLoop().execute(r);
        }
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
        LOG.debug("SPDY streaming connection failed: {}", cause.toString());
        ctx.close();
    }

    private record Pending(ByteBuf data, boolean fin, ChannelPromise promise) {
    }

    /** One stream the client opened. */
    final class Stream {
        final int id;
        private final SpdyHeaders headers;
        private final ArrayDeque<Pending> queue = new ArrayDeque<>();
        private int sendWindow = initialSendWindow;
        private int credit;
        private boolean localClosed;
        private boolean remoteClosed;
        private boolean reset;
        /** What the handler keeps with the stream. */
        Object attachment;

        Stream(int id, SpdyHeaders headers) {
            this.id = id;
            this.headers = headers;
        }

        /** A header of the SYN_STREAM (names are lower case in SPDY), or null. */
        String header(String name) {
            return headers.getAsString(name);
        }

        /**
         * Sends {@code data} (taking ownership). The future completes when it went out: after
         * the client's window allowed it and the socket took it.
         */
        ChannelFuture write(ByteBuf data) {
            ChannelPromise p = channel.newPromise();
            onLoop(() -> enqueue(data, false, p));
            return p;
        }

        /** Half-closes the stream from berth's side (FIN) after what was written. */
        ChannelFuture close() {
            ChannelPromise p = channel.newPromise();
            onLoop(() -> enqueue(Unpooled.EMPTY_BUFFER, true, p));
            return p;
        }

        /** Aborts the stream both ways. */
        void reset() {
            onLoop(() -> {
                if (!reset && channel.isActive()) {
                    reset = true;
                    failQueue();
                    streams.remove(id);
                    blocked.remove(this);
                    channel.writeAndFlush(new DefaultSpdyRstStreamFrame(id, SpdyStreamStatus.CANCEL));
                }
            });
        }

        /** The handler is done with {@code n} bytes the client sent: the client may send as many again. */
        void consumed(int n) {
            onLoop(() -> {
                credit += n;
                if (credit >= DEFAULT_WINDOW / 2 && !reset && !remoteClosed && channel.isActive()) {
                    channel.writeAndFlush(new DefaultSpdyWindowUpdateFrame(id, credit));
                    credit = 0;
                }
            });
        }

        boolean isRemoteClosed() {
            return remoteClosed;
        }

        private void enqueue(ByteBuf data, boolean fin, ChannelPromise p) {
            if (reset || localClosed || !channel.isActive()) {
                ReferenceCountUtil.release(data);
                p.tryFailure(new ClosedChannelException());
                return;
            }
            if (fin) {
                localClosed = true;
            }
            queue.add(new Pending(data, fin, p));
            drain();
        }

        private void drain() {
            boolean wrote = false;
            while (!queue.isEmpty()) {
                Pending p = queue.peek();
                int len = p.data.readableBytes();
                int allowed = flowControl ? Math.min(MAX_DATA_FRAME, Math.min(sendWindow, sessionSendWindow))
                        : Integer.MAX_VALUE;
                if (len > 0 && allowed <= 0) {
                    blocked.add(this);
                    break;
                }
                wrote = true;
                if (len <= allowed) {
                    queue.poll();
                    DefaultSpdyDataFrame f = new DefaultSpdyDataFrame(id, p.data);
                    f.setLast(p.fin);
                    channel.write(f, p.promise);
                    take(len);
                } else {
                    channel.write(new DefaultSpdyDataFrame(id, p.data.readRetainedSlice(allowed)));
                    take(allowed);
                }
            }
            if (queue.isEmpty()) {
                blocked.remove(this);
            }
            if (wrote) {
                channel.flush();
            }
            forgetIfDone(this);
            closeIfDrained();
        }

        private void take(int n) {
            if (flowControl) {
                sendWindow -= n;
                sessionSendWindow -= n;
            }
        }

        private void failQueue() {
            Pending p;
            while ((p = queue.poll()) != null) {
                ReferenceCountUtil.release(p.data);
                p.promise.tryFailure(new ClosedChannelException());
            }
        }
    }
}
