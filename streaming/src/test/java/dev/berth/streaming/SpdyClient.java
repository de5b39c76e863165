package dev.berth.streaming;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.spdy.DefaultSpdyDataFrame;
import io.netty.handler.codec.spdy.DefaultSpdySettingsFrame;
import io.netty.handler.codec.spdy.DefaultSpdySynStreamFrame;
import io.netty.handler.codec.spdy.DefaultSpdyWindowUpdateFrame;
import io.netty.handler.codec.spdy.SpdyDataFrame;
import io.netty.handler.codec.spdy.SpdyFrame;
import io.netty.handler.codec.spdy.SpdyFrameCodec;
import io.netty.handler.codec.spdy.SpdyGoAwayFrame;
import io.netty.handler.codec.spdy.SpdyRstStreamFrame;
import io.netty.handler.codec.spdy.SpdySettingsFrame;
import io.netty.handler.codec.spdy.SpdySynReplyFrame;
import io.netty.handler.codec.spdy.SpdyVersion;
import io.netty.handler.codec.spdy.SpdyWindowUpdateFrame;
import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * The test's SPDY/3.1 client of the streaming server, speaking the protocol as the Kubernetes
 * clients do: an HTTP/1.1 upgrade with {@code X-Stream-Protocol-Version}, then streams opened
 * by the client with a {@code streamType} header. With {@code flowControl} it announces its
 * window (SETTINGS), honours the server's windows when it sends, and grants window for what it
 * receives only as far as the test lets it ({@link Stream#grant}, or at once with autoGrant).
 */
public final class SpdyClient implements AutoCloseable {
    public static final int WINDOW = 64 * 1024;

    private final EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    private final Map<Integer, Stream> streams = new ConcurrentHashMap<>();
    private final CompletableFuture<FullHttpResponse> response = new CompletableFuture<>();
    public final CompletableFuture<Void> closed = new CompletableFuture<>();
    public final CompletableFuture<Void> goAway = new CompletableFuture<>();
    private final boolean flowControl;
    private final boolean autoGrant;
    private final Object lock = new Object();
    private int sessionSendWindow = WINDOW;
    private int nextId = 1;
    private Channel channel;
    public int status;
    public HttpHeaders headers;
    public String protocol;

    private SpdyClient(boolean flowControl, boolean autoGrant) {
        this.flowControl = flowControl;
        this.autoGrant = autoGrant;
    }

    /** Upgrades to SPDY with the protocols offered in this order; {@link #status} tells how it went. */
    public static SpdyClient connect(String url, String... protocols) throws Exception {
        return connect(url, false, true, protocols);
    }

    public static SpdyClient connect(String url, boolean flowControl, boolean autoGrant, String... protocols)
            throws Exception {
        SpdyClient c = new SpdyClient(flowControl, autoGrant);
        c.start(URI.create(url), protocols);
        return c;
    }

    /** Connects and asserts the upgrade succeeded. */
    public static SpdyClient open(String url, String... protocols) throws Exception {
        SpdyClient c = connect(url, protocols);
        if (c.status != 101) {
            c.close();
            throw new AssertionError("upgrade refused with HTTP " + c.status);
        }
        return c;
    }

    private void start(URI uri, String... protocols) throws Exception {
        channel = new Bootstrap().group(group).channel(NioSocketChannel.class).handler(new ChannelInitializer<SocketChannel>() {
            @Override
            protected void initChannel(SocketChannel ch) {
                ch.pipeline().addLast("http", new HttpClientCodec());
                ch.pipeline().addLast("aggregate", new HttpObjectAggregator(1 << 20));
                ch.pipeline().addLast("upgrade", new SimpleChannelInboundHandler<FullHttpResponse>() {
                    @Override
                    protected void channelRead0(ChannelHandlerContext ctx, FullHttpResponse r) {
                        if (r.status().code() == 101) {
                            ctx.pipeline().addAfter("http", "spdy", new SpdyFrameCodec(SpdyVersion.SPDY_3_1));
                            ctx.pipeline().addAfter("spdy", "frames", new Frames());
                            ctx.pipeline().remove("aggregate");
                            ctx.pipeline().remove(this);
                            ctx.pipeline().remove("http");
                        }
                        response.complete(r.retainedDuplicate());
                    }
                });
            }
        }).connect(uri.getHost(), uri.getPort()).sync().channel();
        channel.closeFuture().addListener(f -> {
            closed.complete(null);
            response.completeExceptionally(new IllegalStateException("closed before the response"));
            for (Stream s : streams.values()) {
                s.finish();
            }
            synchronized (lock) {
                lock.notifyAll();
            }
        });
        String path = uri.getRawPath() + (uri.getRawQuery() == null ? "" : "?" + uri.getRawQuery());
        FullHttpRequest req = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.POST, path);
        req.headers().set(HttpHeaderNames.HOST, uri.getHost() + ":" + uri.getPort());
        req.headers().set(HttpHeaderNames.CONNECTION, "Upgrade");
        req.headers().set(HttpHeaderNames.UPGRADE, "SPDY/3.1");
        req.headers().set(HttpHeaderNames.CONTENT_LENGTH, 0);
        for (String p : protocols) {
            req.headers().add(SpdyUpgrade.PROTOCOL_VERSION, p);
        }
        channel.writeAndFlush(req);
        FullHttpResponse r = response.get(30, TimeUnit.SECONDS);
        status = r.status().code();
        headers = r.headers();
        protocol = r.headers().get(SpdyUpgrade.PROTOCOL_VERSION);
        r.release();
        if (status == 101 && flowControl) {
            DefaultSpdySettingsFrame s = new DefaultSpdySettingsFrame();
            s.setValue(SpdySettingsFrame.SETTINGS_INITIAL_WINDOW_SIZE, WINDOW);
            channel.writeAndFlush(s);
        }
    }

    /** Opens a stream with these headers (names lower case) and waits for the server's reply. */
    public Stream stream(String... nameValues) throws Exception {
        Map<String, String> h = new LinkedHashMap<>();
        for (int i = 0; i < nameValues.length; i += 2) {
            h.put(nameValues[i], nameValues[i + 1]);
        }
        Stream s;
        synchronized (lock) {
            s = new Stream(nextId);
            nextId += 2;
            streams.put(s.id, s);
            DefaultSpdySynStreamFrame f = new DefaultSpdySynStreamFrame(s.id, 0, (byte) 0);
            h.forEach((k, v) -> f.headers().set(k, v));
            channel.writeAndFlush(f);
        }
        s.replied.get(30, TimeUnit.SECONDS);
        return s;
    }

    /** Opens a stream without waiting for its reply (as clients do for many at once). */
    public Stream openAsync(String... nameValues) {
        Stream s;
        synchronized (lock) {
            s = new Stream(nextId);
            nextId += 2;
            streams.put(s.id, s);
            DefaultSpdySynStreamFrame f = new DefaultSpdySynStreamFrame(s.id, 0, (byte) 0);
            for (int i = 0; i < nameValues.length; i += 2) {
                f.headers().set(nameValues[i], nameValues[i + 1]);
            }
            channel.writeAndFlush(f);
        }
        return s;
    }

    public boolean isOpen() {
        return channel.isActive();
    }

    /** Drops the TCP connection without any goodbye. */
    public void abort() {
        channel.close().awaitUninterruptibly();
    }

    @Override
    public void close() {
        if (channel != null) {
            channel.close().awaitUninterruptibly();
        }
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly();
    }

    /** One stream: what arrived on it, and its ends. */
    public final class Stream {
        public final int id;
        public final CompletableFuture<Void> replied = new CompletableFuture<>();
        /** Completes when the server half-closed (FIN), reset the stream or the connection ended. */
        public final CompletableFuture<Void> ended = new CompletableFuture<>();
        private final ByteArrayOutputStream received = new ByteArrayOutputStream();
        private int sendWindow = WINDOW;
        public volatile boolean reset;

        public Stream(int id) {
            this.id = id;
        }

        /** Sends {@code data}; with flow control, waits for the server's window. */
        public void write(byte[] data) throws InterruptedException {
            int off = 0;
            while (off < data.length) {
                int n;
                synchronized (lock) {
                    while (flowControl && (sendWindow <= 0 || sessionSendWindow <= 0) && channel.isActive()) {
                        lock.wait(100);
                    }
                    if (!channel.isActive()) {
                        throw new IllegalStateException("connection closed");
                    }
                    n = Math.min(data.length - off, 16 * 1024);
                    if (flowControl) {
                        n = Math.min(n, Math.min(sendWindow, sessionSendWindow));
                        sendWindow -= n;
                        sessionSendWindow -= n;
                    }
                }
                var f = channel.writeAndFlush(new DefaultSpdyDataFrame(id, Unpooled.wrappedBuffer(data, off, n)));
                if (!channel.isWritable()) {
                    // as a Go client's write blocks on its socket
                    f.awaitUninterruptibly();
                }
                off += n;
            }
        }

        public void write(String text) throws InterruptedException {
            write(text.getBytes(StandardCharsets.UTF_8));
        }

        /** Half-closes the stream (FIN). */
        public void close() {
            DefaultSpdyDataFrame f = new DefaultSpdyDataFrame(id);
            f.setLast(true);
            channel.writeAndFlush(f);
        }

        /** Grants the server {@code n} more bytes on this stream (and on the session). */
        public void grant(int n) {
            channel.writeAndFlush(new DefaultSpdyWindowUpdateFrame(id, n));
            channel.writeAndFlush(new DefaultSpdyWindowUpdateFrame(0, n));
        }

        public byte[] bytes() {
            synchronized (received) {
                return received.toByteArray();
            }
        }

        public String text() {
            return new String(bytes(), StandardCharsets.UTF_8);
        }

        public int size() {
            synchronized (received) {
                return received.size();
            }
        }

        /** Waits until {@code n} bytes arrived or the stream ended. */
        public byte[] awaitBytes(int n) throws InterruptedException {
            long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            synchronized (received) {
                while (received.size() < n && !ended.isDone() && System.nanoTime() < end) {
                    received.wait(100);
                }
            }
            return bytes();
        }

        /** Waits for the server's end of the stream and returns everything received. */
        public String awaitEnd() {
            ended.orTimeout(60, TimeUnit.SECONDS).join();
            return text();
        }

        public void finish() {
            synchronized (received) {
                ended.complete(null);
                received.notifyAll();
            }
            replied.completeExceptionally(new IllegalStateException("stream " + id + " ended before its reply"));
        }
    }

    /** Dispatches the server's frames to the streams. */
    private final class Frames extends SimpleChannelInboundHandler<SpdyFrame> {
        @Override
        protected void channelRead0(ChannelHandlerContext ctx, SpdyFrame msg) {
            if (msg instanceof SpdySynReplyFrame r) {
                Stream s = streams.get(r.streamId());
                if (s != null) {
                    s.replied.complete(null);
                }
            } else if (msg instanceof SpdyDataFrame d) {
                Stream s = streams.get(d.streamId());
                int n = d.content().readableBytes();
                if (s != null) {
                    synchronized (s.received) {
                        ByteBuf c = d.content();
                        byte[] b = new byte[c.readableBytes()];
                        c.readBytes(b);
                        s.received.write(b, 0, b.length);
                        s.received.notifyAll();
                    }
                    if (d.isLast()) {
                        s.finish();
                    }
                }
                if (n > 0 && flowControl && autoGrant) {
                    ctx.write(new DefaultSpdyWindowUpdateFrame(d.streamId(), n));
                    ctx.writeAndFlush(new DefaultSpdyWindowUpdateFrame(0, n));
                }
            } else if (msg instanceof SpdyRstStreamFrame r) {
                Stream s = streams.get(r.streamId());
                if (s != null) {
                    s.reset = true;
                    s.finish();
                }
            } else if (msg instanceof SpdyWindowUpdateFrame w) {
                synchronized (lock) {
                    if (w.streamId() == 0) {
                        sessionSendWindow += w.deltaWindowSize();
                    } else {
                        Stream s = streams.get(w.streamId());
                        if (s != null) {
                            s.sendWindow += w.deltaWindowSize();
                        }
                    }
                    lock.notifyAll();
                }
            } else if (msg instanceof SpdyGoAwayFrame) {
                goAway.complete(null);
            }
        }
    }
}
