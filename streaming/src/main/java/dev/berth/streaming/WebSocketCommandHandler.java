package dev.berth.streaming;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.websocketx.BinaryWebSocketFrame;
import io.netty.handler.codec.http.websocketx.CloseWebSocketFrame;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.util.ReferenceCountUtil;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One exec or attach over the channel.k8s.io WebSocket protocols: every binary message starts
 * with a channel byte: 0 stdin (client to server), 1 stdout, 2 stderr, 3 error (the final
 * status JSON), 4 resize (TTY size JSON). With {@code v5.channel.k8s.io} a message
 * {@code [255, n]} from the client closes its channel n (stdin EOF). {@link RemoteCommand}
 * runs the session; this class only maps it onto WebSocket messages.
 */
public final class WebSocketCommandHandler extends ChannelInboundHandlerAdapter implements RemoteCommand.Transport {
    private static final Logger LOG = LoggerFactory.getLogger(WebSocketCommandHandler.class);
    static final String V5 = "v5.channel.k8s.io";
    static final String V4 = "v4.channel.k8s.io";
    static final List<String> PROTOCOLS = List.of(V5, V4);
    public static final int CLOSE = 255;

    private final String protocol;
    private final RemoteCommand command;
    private Channel channel;

    WebSocketCommandHandler(StreamRequest.Command request, String protocol, ExecBackend backend) {
        this.protocol = protocol;
        this.command = new RemoteCommand(request, backend, this);
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        channel = ctx.channel();
        command.start();
    }

    @Override
    public void send(int stream, byte[] buf, int len) {
        ByteBuf frame = Unpooled.buffer(len + 1).writeByte(stream).writeBytes(buf, 0, len);
        var f = channel.writeAndFlush(new BinaryWebSocketFrame(frame));
        if (!channel.isWritable()) {
            f.awaitUninterruptibly();
        }
    }

    @Override
    public void finish(String json) {
        if (!channel.isActive()) {
            return;
        }
        byte[] body = json.getBytes(StandardCharsets.UTF_8);
        ByteBuf buf = Unpooled.buffer(body.length + 1).writeByte(RemoteCommand.ERROR).writeBytes(body);
        channel.write(new BinaryWebSocketFrame(buf));
        channel.writeAndFlush(new CloseWebSocketFrame(1000, "")).addListener(ChannelFutureListener.CLOSE);
    }

    @Override
    public boolean isOpen() {
        return channel.isActive();
    }

    @Override
    public void onClose(Runnable r) {
        channel.closeFuture().addListener(f -> r.run());
    }

    @Override
    public void pauseInput(boolean paused) {
        if (channel.config().isAutoRead() == paused) {
            channel.config().setAutoRead(!paused);
        }
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        try {
            ByteBuf c = ChannelFrames.data(ctx, msg);
            if (c == null) {
                return;
            }
            int ch = c.readUnsignedByte();
            if (ch == RemoteCommand.STDIN) {
                byte[] b = new byte[c.readableBytes()];
                c.readBytes(b);
                command.stdin(b);
            } else if (ch == CLOSE && V5.equals(protocol) && c.isReadable()) {
                if (c.readUnsignedByte() == RemoteCommand.STDIN) {
                    command.closeStdin();
                }
            } else if (ch == RemoteCommand.RESIZE) {
                command.resize(c.toString(StandardCharsets.UTF_8));
            }
        } finally {
            ReferenceCountUtil.release(msg);
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
        LOG.debug("{} session in {} failed: {}", command.request().kind(), command.request().containerId(),
                cause.toString());
        ctx.close();
    }
}
