package dev.berth.streaming;

import com.fasterxml.jackson.databind.JsonNode;
import dev.berth.common.Json;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.util.concurrent.ScheduledFuture;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One exec or attach over SPDY/3.1 (the remotecommand protocols {@code v4.channel.k8s.io},
 * {@code v3.channel.k8s.io}, {@code v2.channel.k8s.io} and {@code channel.k8s.io}). The client
 * opens one stream per channel, named by its {@code streamType} header: {@code error},
 * {@code stdin}, {@code stdout}, {@code stderr} and (v3 and later, with a TTY) {@code resize}.
 * Once the streams the request calls for are all there, {@link RemoteCommand} runs the
 * session; this class only maps it onto the streams. The client's FIN on stdin is stdin's
 * end. At the end the status goes on the error stream (v4: the status JSON; older versions:
 * the failure message only, nothing on success), every stream is closed and then the
 * connection.
 */
public final class SpdyCommandSession implements SpdyConnection.Handler, RemoteCommand.Transport {
    private static final Logger LOG = LoggerFactory.getLogger(SpdyCommandSession.class);
    static final String V4 = "v4.channel.k8s.io";
    static final String V3 = "v3.channel.k8s.io";
    static final String V2 = "v2.channel.k8s.io";
    static final String V1 = "channel.k8s.io";
    /** The versions served, newest first. */
    public static final List<String> PROTOCOLS = List.of(V4, V3, V2, V1);
    /** How long the client has to open the streams it asked for. */
    static final Duration STREAM_CREATION_TIMEOUT = Duration.ofSeconds(30);

    private static final Map<String, Integer> CHANNELS = Map.of("stdin", RemoteCommand.STDIN, "stdout",
            RemoteCommand.STDOUT, "stderr", RemoteCommand.STDERR, "error", RemoteCommand.ERROR, "resize",
            RemoteCommand.RESIZE);

    private final String protocol;
    private final RemoteCommand command;
    private final Duration streamTimeout;
    /** The client's streams by channel number. */
    private final Map<Integer, SpdyConnection.Stream> streams = new ConcurrentHashMap<>();
    private final int expected;
    private final StringBuilder resizeBuffer = new StringBuilder();
    private SpdyConnection connection;
    private ScheduledFuture<?> timeout;
    private boolean started;
    private volatile boolean finished;

    SpdyCommandSession(StreamRequest.Command request, String protocol, ExecBackend backend) {
        this(request, protocol, backend, STREAM_CREATION_TIMEOUT);
    }

    SpdyCommandSession(StreamRequest.Command request, String protocol, ExecBackend backend, Duration streamTimeout) {
        this.protocol = protocol;
        this.command = new RemoteCommand(request, backend, this);
        this.streamTimeout = streamTimeout;
        int n = 1; // the error stream, always
        n += request.stdin() ? 1 : 0;
        n += request.stdout() ? 1 : 0;
        n += request.stderr() ? 1 : 0;
        n += request.tty() && resizes() ? 1 : 0;
        this.expected = n;
    }

    private boolean resizes() {
        return V4.equals(protocol) || V3.equals(protocol);
    }

    @Override
    public void connected(SpdyConnection c) {
        connection = c;
        timeout = c.channel().eventLoop().schedule(() -> {
            if (!started) {
                LOG.debug("{} session in {}: the client opened {} of {} streams in time", command.request().kind(),
                        command.request().containerId(), streams.size(), expected);
                finish(RemoteCommand.failure("Timeout", "timed out waiting for client to create streams", null));
            }
        }, streamTimeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    @Override
    public void opened(SpdyConnection.Stream s) {
        String type = s.header("streamtype");
        Integer ch = type == null ? null : CHANNELS.get(type);
        if (ch == null || (ch == RemoteCommand.RESIZE && !resizes()) || streams.containsKey(ch)) {
            LOG.debug("{} session: unexpected stream type {}", command.request().kind(), type);
            s.reset();
            return;
        }
        s.attachment = ch;
        streams.put(ch, s);
        if (!started && streams.size() == expected) {
            started = true;
            timeout.cancel(false);
            command.start();
        }
    }

    @Override
    public void data(SpdyConnection.Stream s, ByteBuf data) {
        try {
            int n = data.readableBytes();
            if (s.attachment instanceof Integer ch && ch == RemoteCommand.STDIN) {
                byte[] b = new byte[n];
                data.readBytes(b);
                command.stdin(b);
            } else if (s.attachment instanceof Integer ch && ch == RemoteCommand.RESIZE) {
                resize(data.toString(StandardCharsets.UTF_8));
            }
            s.consumed(n);
        } finally {
            data.release();
        }
    }

    /** Resize messages are JSON objects one after another; SPDY does not keep their boundaries. */
    private void resize(String text) {
        resizeBuffer.append(text);
        for (String message : completeObjects(resizeBuffer)) {
            command.resize(message);
        }
        if (resizeBuffer.length() > 4096) {
            resizeBuffer.setLength(0);
        }
    }

    /**
     * Takes the complete top-level JSON objects off the front of {@code buffer} (what is left
     * is the start of the next one); anything between objects is dropped.
     */
    static List<String> completeObjects(StringBuilder buffer) {
        List<String> out = new java.util.ArrayList<>();
        int depth = 0;
        int start = 0;
        for (int i = 0; i < buffer.length(); i++) {
            char c = buffer.charAt(i);
            if (c == '{') {
                if (depth++ == 0) {
                    start = i;
                }
            } else if (c == '}' && depth > 0 && --depth == 0) {
                out.add(buffer.substring(start, i + 1));
                start = i + 1;
            } else if (depth == 0) {
                start = i + 1;
            }
        }
        buffer.delete(0, depth > 0 ? start : buffer.length());
        return out;
    }

    @Override
    public void remoteClosed(SpdyConnection.Stream s) {
        if (s.attachment instanceof Integer ch && ch == RemoteCommand.STDIN) {
            command.closeStdin();
        }
    }

    @Override
    public void reset(SpdyConnection.Stream s) {
        if (s.attachment instanceof Integer ch) {
            streams.remove(ch, s);
            if (ch == RemoteCommand.STDIN) {
                command.closeStdin();
            }
        }
    }

    @Override
    public void closed() {
        if (timeout != null) {
            timeout.cancel(false);
        }
    }

    @Override
    public void send(int stream, byte[] buf, int len) {
        SpdyConnection.Stream s = streams.get(stream);
        if (s == null || finished) {
            return;
        }
        // one chunk in flight per stream: a slow client holds the process back, not berth's memory
        s.write(Unpooled.copiedBuffer(buf, 0, len)).awaitUninterruptibly();
    }

    @Override
    public void finish(String statusJson) {
        if (finished) {
            return;
        }
        finished = true;
        SpdyConnection.Stream error = streams.get(RemoteCommand.ERROR);
        if (error != null) {
            String out = V4.equals(protocol) ? statusJson : failureMessage(statusJson);
            if (!out.isEmpty()) {
                error.write(Unpooled.copiedBuffer(out, StandardCharsets.UTF_8));
            }
        }
        for (SpdyConnection.Stream s : streams.values()) {
            s.close();
        }
        connection.closeGracefully();
    }

    /** What versions before v4 send on the error stream: the failure's message, nothing on success. */
    static String failureMessage(String statusJson) {
        try {
            JsonNode n = Json.mapper().readTree(statusJson);
            return "Success".equals(n.path("status").asText()) ? "" : n.path("message").asText("");
        } catch (IOException e) {
            return statusJson;
        }
    }

    @Override
    public boolean isOpen() {
        return !finished && connection.channel().isActive();
    }

    @Override
    public void onClose(Runnable r) {
        connection.channel().closeFuture().addListener(f -> r.run());
    }

    @Override
    public void pauseInput(boolean paused) {
        connection.channel().eventLoop().execute(() -> connection.pauseReading(paused));
    }
}
