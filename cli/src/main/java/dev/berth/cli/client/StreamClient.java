package dev.berth.cli.client;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.net.http.WebSocketHandshakeException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A WebSocket client of the Kubernetes streaming protocols, the one the streaming URLs of
 * Exec, Attach and PortForward answer on berth, containerd and CRI-O alike. Every binary
 * message starts with a channel byte: for exec and attach ({@code v5.channel.k8s.io},
 * {@code v4.channel.k8s.io}) 0 stdin, 1 stdout, 2 stderr, 3 the final status, 4 resize; for
 * port-forward ({@code portforward.k8s.io}, and {@code v4.channel.k8s.io} on the Kubernetes
 * library's servers) 2i data and 2i+1 errors of the i-th port (see {@link PortChannels}).
 * Messages are handed on in the pieces they arrive in, so a large message is never held whole.
 */
public final class StreamClient implements AutoCloseable {
    /** The exec and attach subprotocols, most preferred first (v5 can close stdin). */
    public static final List<String> COMMAND_PROTOCOLS = List.of("v5.channel.k8s.io", "v4.channel.k8s.io");
    /** The port-forward subprotocols, most preferred first; the server picks. */
    public static final List<String> PORT_FORWARD_PROTOCOLS = List.of("v4.channel.k8s.io", "portforward.k8s.io");
    public static final int STDIN = 0;
    public static final int STDOUT = 1;
    public static final int STDERR = 2;
    public static final int ERROR = 3;
    public static final int RESIZE = 4;
    /** The v5 message {@code [255, n]} closes the client's channel n. */
    private static final int CLOSE = 255;

    /** What the server sends, in pieces: {@code data} continues the message on {@code channel}; {@code last} ends it. */
    public interface Receiver {
        void data(int channel, ByteBuffer data, boolean last) throws IOException;
    }

    private final WebSocket ws;
    private final CompletableFuture<Void> closed;
    private final Object sending = new Object();

    private StreamClient(WebSocket ws, CompletableFuture<Void> closed) {
        this.ws = ws;
        this.closed = closed;
    }

    /** The streaming URL (http or https) as a WebSocket URI (ws or wss). */
    public static URI uri(String url) {
        URI uri = URI.create(url.replaceFirst("^http", "ws"));
        if (!"ws".equals(uri.getScheme()) && !"wss".equals(uri.getScheme())) {
            throw new ClientException(ExitCodes.FAILED, "the runtime answered a streaming URL that is not http(s): " + url);
        }
        return uri;
    }

    /** A PortForward URL with {@code ?port=N}, the query parameter the streaming servers read the ports from, as a WebSocket URI. */
    public static URI portForwardUri(String url, int port) {
        return uri(url + (url.contains("?") ? "&" : "?") + "port=" + port);
    }

    /** Connects to {@code uri} offering {@code protocols}; failures to connect are {@link ClientException}s with the server's reason. */
    public static StreamClient connect(HttpClient http, URI uri, List<String> protocols, Receiver receiver, Duration timeout) {
        CompletableFuture<Void> closed = new CompletableFuture<>();
        Listener listener = new Listener(receiver, closed);
        try {
            WebSocket ws = http.newWebSocketBuilder().subprotocols(protocols.get(0), protocols.subList(1, protocols.size()).toArray(String[]::new))
                    .connectTimeout(timeout).buildAsync(uri, listener).get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            return new StreamClient(ws, closed);
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            if (c instanceof WebSocketHandshakeException h) {
                Object body = h.getResponse().body();
                String why = body instanceof byte[] b ? new String(b, StandardCharsets.UTF_8).trim() : String.valueOf(body == null ? "" : body).trim();
                throw new ClientException(ExitCodes.FAILED, "the streaming server refused the session (HTTP " + h.getResponse().statusCode() + ")"
                        + (why.isEmpty() ? "" : ": " + why), h);
            }
            throw new ClientException(ExitCodes.UNREACHABLE, "cannot connect to the streaming server at " + uri.getHost() + ":" + uri.getPort() + ": " + c, c);
        } catch (TimeoutException e) {
            throw new ClientException(ExitCodes.UNREACHABLE, "the streaming server at " + uri.getHost() + ":" + uri.getPort() + " did not answer in " + timeout.toSeconds() + " s", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ClientException(ExitCodes.FAILED, "interrupted while connecting", e);
        }
    }

    /** The subprotocol the server chose. */
    public String protocol() {
        return ws.getSubprotocol();
    }

    /** Sends {@code len} bytes on {@code channel}; waits until they are sent (a slow server slows the sender). */
    public void send(int channel, byte[] b, int off, int len) throws IOException {
        send(channel, b, off, len, Long.MAX_VALUE);
    }

    /** {@link #send(int, byte[], int, int)} that gives up after {@code timeoutNanos}. */
    public void send(int channel, byte[] b, int off, int len, long timeoutNanos) throws IOException {
        ByteBuffer m = ByteBuffer.allocate(len + 1);
        m.put((byte) channel).put(b, off, len).flip();
        send(m, timeoutNanos);
    }

    /** Closes the client's {@code channel} (stdin's end of file) where the protocol can say it (v5); false where it cannot. */
    public boolean closeChannel(int channel) throws IOException {
        if (!"v5.channel.k8s.io".equals(protocol())) {
            return false;
        }
        send(ByteBuffer.wrap(new byte[] {(byte) CLOSE, (byte) channel}), Long.MAX_VALUE);
        return true;
    }

    private void send(ByteBuffer m, long timeoutNanos) throws IOException {
        synchronized (sending) {
            try {
                ws.sendBinary(m, true).get(timeoutNanos, TimeUnit.NANOSECONDS);
            } catch (TimeoutException e) {
                throw new IOException("the server took no data for " + TimeUnit.NANOSECONDS.toSeconds(timeoutNanos) + " s", e);
            } catch (ExecutionException e) {
                throw new IOException("the stream is closed: " + e.getCause(), e.getCause());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted", e);
            }
        }
    }

    /** Completes when the server closed the stream; exceptionally when it broke or a receiver failed. */
    public CompletableFuture<Void> closed() {
        return closed;
    }

    /** Says goodbye (a normal close) and drops the connection. */
    @Override
    public void close() {
        if (!ws.isOutputClosed()) {
            try {
                ws.sendClose(WebSocket.NORMAL_CLOSURE, "").get(2, TimeUnit.SECONDS);
            } catch (ExecutionException | TimeoutException e) {
                // the connection is going anyway
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        ws.abort();
        closed.complete(null);
    }

    /** Splits the server's messages into channel byte and data, one message at a time. */
    private static final class Listener implements WebSocket.Listener {
        private final Receiver receiver;
        private final CompletableFuture<Void> closed;
        private boolean messageStart = true;
        private int channel;

        Listener(Receiver receiver, CompletableFuture<Void> closed) {
            this.receiver = receiver;
            this.closed = closed;
        }

        @Override
        public CompletionStage<?> onBinary(WebSocket ws, ByteBuffer data, boolean last) {
            if (messageStart && data.hasRemaining()) {
                channel = data.get() & 0xff;
                messageStart = false;
            }
            try {
                if (!messageStart) {
                    receiver.data(channel, data, last);
                }
            } catch (IOException | RuntimeException e) {
                closed.completeExceptionally(e);
                ws.abort();
                return null;
            }
            if (last) {
                messageStart = true;
            }
            ws.request(1);
            return null;
        }

        @Override
        public CompletionStage<?> onText(WebSocket ws, CharSequence data, boolean last) {
            // the base64 protocols are not offered; a text message is ignored
            ws.request(1);
            return null;
        }

        @Override
        public CompletionStage<?> onClose(WebSocket ws, int code, String reason) {
            closed.complete(null);
            return null;
        }

        @Override
        public void onError(WebSocket ws, Throwable error) {
            closed.completeExceptionally(error);
        }
    }

    /**
     * The port-forward side of the protocol for one port: the first two bytes the server sends
     * on the data channel (0) and on the error channel (1) are the port, little-endian; then
     * channel 0 carries the connection's bytes and channel 1 the server's error text.
     */
    public abstract static class PortChannels implements Receiver {
        private final int[] portBytesLeft = {2, 2};
        private boolean errorOpen;

        /** Bytes the pod's end of the connection sent. */
        protected abstract void data(ByteBuffer data) throws IOException;

        /** A piece of the server's error text; {@code last} ends the message. */
        protected abstract void error(ByteBuffer text, boolean last) throws IOException;

        @Override
        public final void data(int channel, ByteBuffer data, boolean last) throws IOException {
            if (channel > 1) {
                return;
            }
            while (portBytesLeft[channel] > 0 && data.hasRemaining()) {
                data.get();
                portBytesLeft[channel]--;
            }
            if (channel == 0) {
                if (data.hasRemaining()) {
                    data(data);
                }
            } else if (data.hasRemaining() || (last && errorOpen)) {
                errorOpen = !last;
                error(data, last);
            }
        }
    }
}
