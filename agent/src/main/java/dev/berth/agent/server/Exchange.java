package dev.berth.agent.server;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.codec.http.QueryStringDecoder;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * One request on one connection of the HTTP API, answered from a worker thread: a whole
 * response ({@link #respond}), a streamed one ({@link EndpointResponse}: chunked, flushed as the
 * endpoint flushes, the worker held back while the client reads slowly), or the connection
 * handed over ({@link #hijack}: the streaming proxy). When the answer is complete, the
 * connection reads its next request (keep-alive) or closes.
 */
final class Exchange implements EndpointResponse {
    private static final int CHUNK = 16 * 1024;

    final Channel channel;
    final FullHttpRequest request;
    final String path;
    final Map<String, List<String>> query;
    private final boolean keepAlive;
    private final Runnable next;
    private volatile boolean started;
    private volatile boolean finished;
    private int status;
    private Body body;

    /** {@code next}: reads the connection's next request (run once the answer is complete and the connection stays). */
    Exchange(Channel channel, FullHttpRequest request, Runnable next) {
        this.channel = channel;
        this.request = request;
        QueryStringDecoder q = new QueryStringDecoder(request.uri());
        this.path = q.path();
        this.query = q.parameters();
        this.keepAlive = HttpUtil.isKeepAlive(request);
        this.next = next;
    }

    String method() {
        return request.method().name();
    }

    /** The request as an endpoint sees it: the path's segments after {@code prefix}, headers lower-cased. */
    EndpointRequest endpointRequest(String prefix) {
        String rest = path.length() > prefix.length() ? path.substring(prefix.length()) : "";
        List<String> segments = java.util.Arrays.stream(rest.split("/")).filter(s -> !s.isEmpty()).toList();
        Map<String, String> headers = new LinkedHashMap<>();
        request.headers().forEach(e -> headers.putIfAbsent(e.getKey().toLowerCase(Locale.ROOT), e.getValue()));
        return new EndpointRequest(method(), path, segments, query, headers);
    }

    int status() {
        return status;
    }

    boolean started() {
        return started;
    }

    /** A whole plain-text answer. */
    void respond(int code, String text) {
        respond(code, "text/plain; charset=utf-8", (text + "\n").getBytes(StandardCharsets.UTF_8));
    }

    /** A whole answer. */
    void respond(int code, String contentType, byte[] content) {
        if (started) {
            return;
        }
        started = true;
        status = code;
        boolean head = request.method().equals(HttpMethod.HEAD);
        FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.valueOf(code),
                head ? Unpooled.EMPTY_BUFFER : Unpooled.wrappedBuffer(content));
        r.headers().set(HttpHeaderNames.CONTENT_TYPE, contentType);
        r.headers().set(HttpHeaderNames.CONTENT_LENGTH, content.length);
        r.headers().set("X-Content-Type-Options", "nosniff");
        if (!keepAlive) {
            r.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        }
        complete(channel.writeAndFlush(r), !keepAlive);
    }

    @Override
    public void start(int code, String contentType) {
        if (started) {
            throw new IllegalStateException("the response was started already");
        }
        started = true;
        status = code;
        HttpResponse r = new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.valueOf(code));
        r.headers().set(HttpHeaderNames.CONTENT_TYPE, contentType);
        HttpUtil.setTransferEncodingChunked(r, true);
        if (!keepAlive) {
            r.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        }
        channel.writeAndFlush(r);
    }

    @Override
    public OutputStream body() {
        if (!started) {
            throw new IllegalStateException("start the response before its body");
        }
        if (body == null) {
            body = new Body();
        }
        return body;
    }

    @Override
    public boolean clientGone() {
        return !channel.isActive();
    }

    /** After the endpoint returned: ends a streamed answer it left open, or answers 500 for one it never started. */
    void endpointDone() {
        if (!started) {
            respond(500, "the endpoint gave no answer");
            return;
        }
        if (!finished) {
            if (body == null) {
                body = new Body();
            }
            body.close();
        }
    }

    /** The connection is the caller's from now on: no next request is read. */
    void hijack() {
        started = true;
        status = 101;
        finished = true;
    }

    private void complete(ChannelFuture last, boolean close) {
        finished = true;
        if (!close) {
            last.addListener(f -> {
                if (f.isSuccess()) {
                    next.run();
                } else {
                    channel.close();
                }
            });
        } else {
            last.addListener(ChannelFutureListener.CLOSE);
        }
    }

    /** The chunked body: buffered up to a chunk, pushed on flush; a write waits while the client is slow. */
    private final class Body extends OutputStream {
        private ByteBuf buf = Unpooled.buffer(CHUNK);
        private boolean closed;

        @Override
        public void write(int b) throws IOException {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            if (closed) {
                throw new IOException("the response body is closed");
            }
            while (len > 0) {
                int n = Math.min(len, CHUNK - buf.readableBytes());
                buf.writeBytes(b, off, n);
                off += n;
                len -= n;
                if (buf.readableBytes() >= CHUNK) {
                    push();
                }
            }
        }

        @Override
        public void flush() throws IOException {
            if (!closed && buf.readableBytes() > 0) {
                push();
            }
        }

        private void push() throws IOException {
            if (!channel.isActive()) {
                buf.clear();
                throw new IOException("the client has gone");
            }
            ByteBuf out = buf;
            buf = Unpooled.buffer(CHUNK);
            ChannelFuture f = channel.writeAndFlush(new DefaultHttpContent(out));
            if (!channel.isWritable()) {
                // the client reads slower than the endpoint writes: hold the endpoint back
                f.awaitUninterruptibly();
                if (!f.isSuccess()) {
                    throw new IOException("the client has gone", f.cause());
                }
            }
        }

        @Override
        public void close() {
            if (closed) {
                return;
            }
            closed = true;
            LastHttpContent last = buf.readableBytes() > 0 ? new io.netty.handler.codec.http.DefaultLastHttpContent(buf)
                    : LastHttpContent.EMPTY_LAST_CONTENT;
            if (last == LastHttpContent.EMPTY_LAST_CONTENT) {
                buf.release();
            }
            complete(channel.writeAndFlush(last), !keepAlive);
        }
    }
}
