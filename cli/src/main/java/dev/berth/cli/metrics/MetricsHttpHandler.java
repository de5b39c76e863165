package dev.berth.cli.metrics;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufOutputStream;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.handler.timeout.ReadTimeoutException;
import io.prometheus.metrics.expositionformats.ExpositionFormatWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Answers {@code GET /metrics} (Prometheus text, or OpenMetrics when asked for) and
 * {@code GET /healthz} (JSON, 200 or 503); HEAD is answered like GET without a body. Other
 * paths get 404, other methods 405.
 */
@ChannelHandler.Sharable
final class MetricsHttpHandler extends SimpleChannelInboundHandler<FullHttpRequest> {
    private static final Logger LOG = LoggerFactory.getLogger(MetricsHttpHandler.class);
    static final String ALLOW = "GET, HEAD";

    private final BerthMetrics metrics;
    private final Health health;
    private final Executor renderer;
    /** The size of the last exposition, to size the next buffer. */
    private volatile int lastSize = 16 * 1024;

    /**
     * @param renderer where answers are rendered (off the event loop, whose thread only moves
     *     bytes); one thread keeps the answers of a connection in request order
     */
    MetricsHttpHandler(BerthMetrics metrics, Health health, Executor renderer) {
        this.metrics = metrics;
        this.health = health;
        this.renderer = renderer;
    }

    /** What the answer depends on, taken from the request before Netty releases it. */
    private record Request(HttpMethod method, String path, String accept, boolean keepAlive) {
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest http) {
        Request request = new Request(http.method(), new QueryStringDecoder(http.uri()).path(),
                http.headers().get(HttpHeaderNames.ACCEPT), HttpUtil.isKeepAlive(http) && http.decoderResult().isSuccess());
        if (!http.decoderResult().isSuccess()) {
            respond(ctx, request, text(HttpResponseStatus.BAD_REQUEST, "bad request\n"));
            return;
        }
        try {
            // every answer goes through the one renderer thread, so pipelined requests are answered in order
            renderer.execute(() -> respond(ctx, request, answer(ctx, request)));
        } catch (RejectedExecutionException e) {
            respond(ctx, new Request(request.method(), request.path(), request.accept(), false),
                    text(HttpResponseStatus.SERVICE_UNAVAILABLE, "too many requests in flight\n"));
        }
    }

    private FullHttpResponse answer(ChannelHandlerContext ctx, Request request) {
        if (!request.path().equals("/metrics") && !request.path().equals("/healthz")) {
            return text(HttpResponseStatus.NOT_FOUND, "not found: berth serves /metrics and /healthz\n");
        }
        if (!request.method().equals(HttpMethod.GET) && !request.method().equals(HttpMethod.HEAD)) {
            FullHttpResponse r = text(HttpResponseStatus.METHOD_NOT_ALLOWED, "method not allowed: use GET\n");
            r.headers().set(HttpHeaderNames.ALLOW, ALLOW);
            return r;
        }
        try {
            return request.path().equals("/metrics") ? metrics(ctx, request) : health();
        } catch (IOException | RuntimeException e) {
            LOG.warn("cannot answer {}: {}", request.path(), e.toString());
            return text(HttpResponseStatus.INTERNAL_SERVER_ERROR, "cannot answer " + request.path() + ": " + e + "\n");
        }
    }

    private FullHttpResponse metrics(ChannelHandlerContext ctx, Request request) throws IOException {
        ExpositionFormatWriter writer = Exposition.writerFor(request.accept());
        ByteBuf body = ctx.alloc().buffer(lastSize + lastSize / 8);
        try (ByteBufOutputStream out = new ByteBufOutputStream(body)) {
            writer.write(out, metrics.snapshot());
        } catch (IOException | RuntimeException e) {
            body.release();
            throw e;
        }
        lastSize = body.readableBytes();
        FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK, body);
        r.headers().set(HttpHeaderNames.CONTENT_TYPE, writer.getContentType());
        return r;
    }

    private FullHttpResponse health() {
        Health.Report report = health.check();
        FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.valueOf(report.httpStatus()),
                Unpooled.copiedBuffer(report.json() + "\n", StandardCharsets.UTF_8));
        r.headers().set(HttpHeaderNames.CONTENT_TYPE, HttpHeaderValues.APPLICATION_JSON);
        r.headers().set(HttpHeaderNames.CACHE_CONTROL, HttpHeaderValues.NO_CACHE);
        return r;
    }

    private static FullHttpResponse text(HttpResponseStatus status, String body) {
        FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status,
                Unpooled.copiedBuffer(body, StandardCharsets.UTF_8));
        r.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/plain; charset=utf-8");
        return r;
    }

    private static void respond(ChannelHandlerContext ctx, Request request, FullHttpResponse response) {
        HttpUtil.setContentLength(response, response.content().readableBytes());
        if (request.method().equals(HttpMethod.HEAD)) {
            // the headers of the GET answer, without its body
            response.content().clear();
        }
        boolean keepAlive = request.keepAlive();
        HttpUtil.setKeepAlive(response, keepAlive);
        var written = ctx.writeAndFlush(response);
        if (!keepAlive) {
            written.addListener(ChannelFutureListener.CLOSE);
        }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (cause instanceof ReadTimeoutException) {
            LOG.debug("metrics: closing idle connection from {}", ctx.channel().remoteAddress());
        } else {
            LOG.debug("metrics: connection from {} failed: {}", ctx.channel().remoteAddress(), cause.toString());
        }
        ctx.close();
    }
}
