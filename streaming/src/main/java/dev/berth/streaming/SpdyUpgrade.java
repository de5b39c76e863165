package dev.berth.streaming;

import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The HTTP/1.1 upgrade to SPDY/3.1 as the Kubernetes streaming clients make it: {@code Upgrade:
 * SPDY/3.1}, {@code Connection: Upgrade} and the subprotocols the client speaks in
 * {@code X-Stream-Protocol-Version} (repeated or comma-separated, in the client's order of
 * preference). The first of the client's protocols the server speaks wins; the answer is
 * {@code 101 Switching Protocols} naming it. Without the upgrade headers the answer is 400,
 * without a protocol 400, and with no protocol in common 403 listing the server's protocols in
 * {@code X-Accepted-Stream-Protocol-Versions}.
 */
public final class SpdyUpgrade {
    static final String SPDY_3_1 = "SPDY/3.1";
    static final String PROTOCOL_VERSION = "X-Stream-Protocol-Version";
    public static final String ACCEPTED_VERSIONS = "X-Accepted-Stream-Protocol-Versions";

    private SpdyUpgrade() {
    }

    /** The outcome of a handshake: the protocol chosen, or the response that refuses the upgrade. */
    record Result(String protocol, FullHttpResponse refusal) {
    }

    /** Whether the request asks to upgrade to SPDY (rather than to WebSocket). */
    static boolean requested(HttpHeaders h) {
        return h.get(HttpHeaderNames.UPGRADE, "").toUpperCase().startsWith("SPDY/");
    }

    static Result handshake(HttpHeaders h, List<String> serverProtocols) {
        if (!SPDY_3_1.equalsIgnoreCase(h.get(HttpHeaderNames.UPGRADE, "").trim())
                || !h.containsValue(HttpHeaderNames.CONNECTION, HttpHeaderValues.UPGRADE, true)) {
            return new Result(null, text(HttpResponseStatus.BAD_REQUEST,
                    "unable to upgrade: missing upgrade headers in request (Upgrade: SPDY/3.1, Connection: Upgrade)"));
        }
        List<String> client = new ArrayList<>();
        for (String v : h.getAll(PROTOCOL_VERSION)) {
            for (String p : v.split(",")) {
                if (!p.isBlank()) {
                    client.add(p.trim());
                }
            }
        }
        if (client.isEmpty()) {
            return new Result(null, text(HttpResponseStatus.BAD_REQUEST,
                    "unable to upgrade: " + PROTOCOL_VERSION + " is required"));
        }
        for (String p : client) {
            if (serverProtocols.contains(p)) {
                return new Result(p, null);
            }
        }
        FullHttpResponse r = text(HttpResponseStatus.FORBIDDEN, "unable to upgrade: unable to negotiate protocol: client supports "
                + client + ", server accepts " + serverProtocols);
        for (String p : serverProtocols) {
            r.headers().add(ACCEPTED_VERSIONS, p);
        }
        return new Result(null, r);
    }

    /** The 101 answer that switches the connection to SPDY/3.1 with {@code protocol}. */
    static FullHttpResponse switching(String protocol) {
        FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.SWITCHING_PROTOCOLS);
        r.headers().set(HttpHeaderNames.CONNECTION, "Upgrade");
        r.headers().set(HttpHeaderNames.UPGRADE, SPDY_3_1);
        r.headers().set(PROTOCOL_VERSION, protocol);
        return r;
    }

    private static FullHttpResponse text(HttpResponseStatus status, String text) {
        FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status,
                Unpooled.copiedBuffer(text + "\n", StandardCharsets.UTF_8));
        r.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/plain; charset=utf-8");
        HttpUtil.setContentLength(r, r.content().readableBytes());
        return r;
    }
}
