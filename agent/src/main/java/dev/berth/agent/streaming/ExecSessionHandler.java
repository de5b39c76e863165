package dev.berth.agent.streaming;

import dev.berth.common.BerthException;
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
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One exec over the channel.k8s.io WebSocket protocols: every binary message starts with a
 * channel byte: 0 stdin (client to server), 1 stdout, 2 stderr, 3 error (the final status
 * JSON), 4 resize. With {@code v5.channel.k8s.io} a message {@code [255, n]} from the client
 * closes its channel n (stdin EOF). The session ends when the process exits (its status goes
 * out on channel 3 and the socket closes) or when the client goes away (the process is killed).
 */
final class ExecSessionHandler extends ChannelInboundHandlerAdapter {
    private static final Logger LOG = LoggerFactory.getLogger(ExecSessionHandler.class);
    static final String V5 = "v5.channel.k8s.io";
    static final String V4 = "v4.channel.k8s.io";
    static final List<String> PROTOCOLS = List.of(V5, V4);

    static final int STDIN = 0;
    static final int STDOUT = 1;
    static final int STDERR = 2;
    static final int ERROR = 3;
    static final int RESIZE = 4;
    static final int CLOSE = 255;
    private static final byte[] EOF = new byte[0];
    private static final int STDIN_HIGH = 16;
    private static final int STDIN_LOW = 4;
    private static final long DRAIN_AFTER_EXIT_MS = 2000;

    private final StreamRequest.Exec request;
    private final String protocol;
    private final ExecBackend backend;
    private final BlockingQueue<byte[]> stdinQueue = new LinkedBlockingQueue<>();
    private volatile ExecBackend.Session session;
    private Channel channel;
    private volatile boolean stdinClosed;

    ExecSessionHandler(StreamRequest.Exec request, String protocol, ExecBackend backend) {
        this.request = request;
        this.protocol = protocol;
        this.backend = backend;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        channel = ctx.channel();
        // starting runs the runtime (a child process): never on the event loop
        Thread t = new Thread(this::begin, "berth-exec-start");
        t.setDaemon(true);
        t.start();
    }

    private void begin() {
        ExecBackend.Session s;
        try {
            s = backend.start(request);
        } catch (RuntimeException e) {
            String reason = e instanceof BerthException b && b.kind() == BerthException.Kind.NOT_FOUND ? "NotFound"
                    : "InternalError";
            sendStatusAndClose(failure(reason, String.valueOf(e.getMessage()), null));
            return;
        }
        session = s;
        channel.closeFuture().addListener(f -> {
            s.kill();
            stdinQueue.offer(EOF);
        });
        Thread out = pump(s.stdout(), request.stdout() ? STDOUT : -1);
        Thread err = pump(s.stderr(), request.stderr() ? STDERR : -1);
        if (request.stdin()) {
            startStdin(s.stdin());
        } else {
            closeQuietly(s.stdin());
        }
        s.exit().whenComplete((code, t) -> {
            // output written before the exit goes out before the status
            try {
                // a background child of the command may hold the pipes open: do not wait for it forever
                out.join(DRAIN_AFTER_EXIT_MS);
                err.join(DRAIN_AFTER_EXIT_MS);
                closeQuietly(s.stdout());
                closeQuietly(s.stderr());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (t != null || code == null) {
                sendStatusAndClose(failure("InternalError", "exec failed: " + t, null));
            } else if (code == 0) {
                sendStatusAndClose("{\"metadata\":{},\"status\":\"Success\"}");
            } else {
                sendStatusAndClose(failure("NonZeroExitCode", "command terminated with non-zero exit code: exit status "
                        + code, code));
            }
        });
    }

    private static String failure(String reason, String message, Integer code) {
        StringBuilder b = new StringBuilder("{\"metadata\":{},\"status\":\"Failure\",\"message\":")
                .append(jsonString(message)).append(",\"reason\":\"").append(reason).append('"');
        if (code != null) {
            b.append(",\"details\":{\"causes\":[{\"reason\":\"ExitCode\",\"message\":\"").append(code).append("\"}]}");
        }
        return b.append('}').toString();
    }

    private static String jsonString(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : String.valueOf(s).toCharArray()) {
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                default -> {
                    if (c < 0x20) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        return b.append('"').toString();
    }

    private void sendStatusAndClose(String json) {
        if (!channel.isActive()) {
            return;
        }
        byte[] body = json.getBytes(StandardCharsets.UTF_8);
        ByteBuf buf = Unpooled.buffer(body.length + 1).writeByte(ERROR).writeBytes(body);
        channel.write(new BinaryWebSocketFrame(buf));
        channel.writeAndFlush(new CloseWebSocketFrame(1000, "")).addListener(ChannelFutureListener.CLOSE);
    }

    /** Copies a process stream into messages on {@code ch} (or discards it when ch < 0). */
    private Thread pump(InputStream in, int ch) {
        Thread t = new Thread(() -> {
            byte[] buf = new byte[32 * 1024];
            try {
                int n;
                while ((n = in.read(buf)) >= 0) {
                    if (ch < 0 || n == 0 || !channel.isActive()) {
                        continue;
                    }
                    ByteBuf frame = Unpooled.buffer(n + 1).writeByte(ch).writeBytes(buf, 0, n);
                    var f = channel.writeAndFlush(new BinaryWebSocketFrame(frame));
                    if (!channel.isWritable()) {
                        f.awaitUninterruptibly();
                    }
                }
            } catch (IOException e) {
                // the process went away
            } finally {
                closeQuietly(in);
            }
        }, "berth-exec-" + (ch == STDERR ? "stderr" : "stdout"));
        t.setDaemon(true);
        t.start();
        return t;
    }

    private void startStdin(OutputStream stdin) {
        Thread t = new Thread(() -> {
            try (stdin) {
                while (true) {
                    byte[] b = stdinQueue.take();
                    if (b == EOF) {
                        return;
                    }
                    if (stdinQueue.size() <= STDIN_LOW && !channel.config().isAutoRead()) {
                        channel.config().setAutoRead(true);
                    }
                    stdin.write(b);
                    stdin.flush();
                }
            } catch (IOException e) {
                // the process closed its stdin or exited
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                stdinQueue.clear();
                channel.config().setAutoRead(true);
            }
        }, "berth-exec-stdin");
        t.setDaemon(true);
        t.start();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        try {
            ByteBuf c = ChannelFrames.data(ctx, msg);
            if (c == null) {
                return;
            }
            int ch = c.readUnsignedByte();
            if (ch == STDIN) {
                if (request.stdin() && !stdinClosed && c.isReadable()) {
                    byte[] b = new byte[c.readableBytes()];
                    c.readBytes(b);
                    stdinQueue.offer(b);
                    if (stdinQueue.size() >= STDIN_HIGH) {
                        ctx.channel().config().setAutoRead(false);
                    }
                }
            } else if (ch == CLOSE && V5.equals(protocol) && c.isReadable()) {
                if (c.readUnsignedByte() == STDIN && !stdinClosed) {
                    stdinClosed = true;
                    stdinQueue.offer(EOF);
                }
            } else if (ch == RESIZE) {
                LOG.debug("resize ignored for non-TTY exec in {}", request.containerId());
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
        LOG.debug("exec session in {} failed: {}", request.containerId(), cause.toString());
        ctx.close();
    }

    private static void closeQuietly(java.io.Closeable c) {
        try {
            c.close();
        } catch (IOException e) {
            // already closed
        }
    }
}
