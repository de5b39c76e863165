package dev.berth.streaming;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.websocketx.CloseWebSocketFrame;
import io.netty.handler.codec.http.websocketx.PingWebSocketFrame;
import io.netty.handler.codec.http.websocketx.PongWebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketFrame;

/** The WebSocket side shared by exec and port-forward sessions: control frames, and channel-prefixed data. */
final class ChannelFrames {
    private ChannelFrames() {
    }

    /**
     * Answers a ping and a close itself; for a data frame that carries a channel byte, returns
     * its content with the channel byte still to read; for anything else, null. The caller
     * still owns (and releases) {@code msg}.
     */
    static ByteBuf data(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof PingWebSocketFrame p) {
            ctx.writeAndFlush(new PongWebSocketFrame(p.content().retain()));
            return null;
        }
        if (msg instanceof CloseWebSocketFrame) {
            ctx.writeAndFlush(new CloseWebSocketFrame(1000, "")).addListener(ChannelFutureListener.CLOSE);
            return null;
        }
        if (!(msg instanceof WebSocketFrame frame) || msg instanceof PongWebSocketFrame) {
            return null;
        }
        ByteBuf c = frame.content();
        return c.isReadable() ? c : null;
    }
}
