package dev.berth.cli.bench;

import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;

/**
 * Pushes bytes through a PortForward URL to an echo server in the pod and reads them back
 * over a WebSocket, one port: channel 0 carries data both ways, channel 1 the server's errors,
 * every message starts with its channel byte, and the first two bytes the server sends on each
 * channel are the port (little-endian). berth serves this as {@code portforward.k8s.io}; the
 * Kubernetes streaming library (containerd, CRI-O) as {@code v4.channel.k8s.io}; both are
 * offered and the server picks. Every echoed byte is compared with what was sent.
 */
final class PortForwardStream {
    /** The subprotocols offered, most preferred first. */
    static final List<String> PROTOCOLS = List.of("v4.channel.k8s.io", "portforward.k8s.io");
    /** Bytes of one message sent (plus its channel byte); well under every server's frame limit. */
    static final int CHUNK = 64 * 1024;
    private static final byte[] PATTERN = pattern();

    /** One round: {@code bytes} sent and as many read back and compared, in {@code seconds}; the first echoed byte came {@code firstByteMs} after connecting. */
    record Result(long bytes, double firstByteMs, double seconds) {
        /** Bytes pushed per second, in MB (10^6 bytes); each byte also came back. */
        double megabytesPerSecond() {
            return bytes / seconds / 1e6;
        }
    }

    private PortForwardStream() {
    }

    private static byte[] pattern() {
        byte[] p = new byte[CHUNK];
        new Random(18).nextBytes(p);
        return p;
    }

    /** The URL with {@code ?port=N} (the query parameter both berth and the Kubernetes library read) as a ws:// URI. */
    static URI uri(String url, int port) {
        String ws = url.replaceFirst("^http", "ws");
        URI uri = URI.create(ws + (ws.contains("?") ? "&" : "?") + "port=" + port);
        if (!"ws".equals(uri.getScheme())) {
            throw new IllegalStateException("only http streaming URLs are measured, got " + url);
        }
        return uri;
    }

    /** Sends {@code bytes} to {@code port} through {@code url}, waits until all came back unchanged, and closes. */
    static Result run(HttpClient http, String url, int port, long bytes, Duration timeout) throws Exception {
        if (bytes < 1) {
            throw new IllegalArgumentException("at least one byte is pushed");
        }
        Echo echo = new Echo(bytes);
        long t0 = System.nanoTime();
        WebSocket ws = http.newWebSocketBuilder().subprotocols(PROTOCOLS.get(0), PROTOCOLS.subList(1, PROTOCOLS.size()).toArray(String[]::new))
                .connectTimeout(timeout).buildAsync(uri(url, port), echo).get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        try {
            long deadline = t0 + timeout.toNanos();
            long start = System.nanoTime();
            for (long sent = 0; sent < bytes && !echo.done.isDone(); ) {
                int n = (int) Math.min(CHUNK, bytes - sent);
                ByteBuffer m = ByteBuffer.allocate(n + 1);
                m.put((byte) 0).put(PATTERN, 0, n).flip();
                ws.sendBinary(m, true).get(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                sent += n;
            }
            long end = echo.done.get(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            return new Result(bytes, (echo.firstByte - t0) / 1e6, (end - start) / 1e9);
        } finally {
            ws.abort();
        }
    }

    /** Reads the server's messages: checks and counts channel 0, collects channel 1; completes with the time the last byte came. */
    private static final class Echo implements WebSocket.Listener {
        final CompletableFuture<Long> done = new CompletableFuture<>();
        private final long expected;
        private final int[] portBytesLeft = {2, 2};
        private final ByteArrayOutputStream error = new ByteArrayOutputStream();
        private boolean messageStart = true;
        private int channel;
        private long received;
        volatile long firstByte;

        Echo(long expected) {
            this.expected = expected;
        }

        @Override
        public CompletionStage<?> onBinary(WebSocket ws, ByteBuffer data, boolean last) {
            if (messageStart && data.hasRemaining()) {
                channel = data.get() & 0xff;
                messageStart = false;
            }
            if (channel < 2) {
                while (portBytesLeft[channel] > 0 && data.hasRemaining()) {
                    data.get();
                    portBytesLeft[channel]--;
                }
            }
            if (channel == 0) {
                data(data);
            } else if (channel == 1 && data.hasRemaining()) {
                byte[] b = new byte[data.remaining()];
                data.get(b);
                error.write(b, 0, b.length);
                if (last) {
                    done.completeExceptionally(new IllegalStateException("the server reported: " + error.toString(StandardCharsets.UTF_8)));
                }
            }
            if (last) {
                messageStart = true;
            }
            ws.request(1);
            return null;
        }

        private void data(ByteBuffer data) {
            if (data.hasRemaining() && firstByte == 0) {
                firstByte = System.nanoTime();
            }
            while (data.hasRemaining()) {
                if (received + data.remaining() > expected) {
                    done.completeExceptionally(new IllegalStateException("more bytes came back than were sent (" + expected + ")"));
                    return;
                }
                int offset = (int) (received % CHUNK);
                int n = Math.min(data.remaining(), CHUNK - offset);
                ByteBuffer got = data.slice().limit(n);
                int at = ByteBuffer.wrap(PATTERN, offset, n).mismatch(got);
                if (at >= 0) {
                    done.completeExceptionally(new IllegalStateException("byte " + (received + at) + " came back changed"));
                    return;
                }
                data.position(data.position() + n);
                received += n;
            }
            if (received == expected) {
                done.complete(System.nanoTime());
            }
        }

        @Override
        public CompletionStage<?> onText(WebSocket ws, CharSequence data, boolean last) {
            done.completeExceptionally(new IllegalStateException("a text message on a binary protocol: " + data));
            return null;
        }

        @Override
        public CompletionStage<?> onClose(WebSocket ws, int code, String reason) {
            done.completeExceptionally(new IllegalStateException("the server closed the stream (" + code + (reason.isEmpty() ? "" : " " + reason)
                    + ") after " + received + " of " + expected + " bytes came back"
                    + (error.size() > 0 ? ": " + error.toString(StandardCharsets.UTF_8) : "")));
            return null;
        }

        @Override
        public void onError(WebSocket ws, Throwable e) {
            done.completeExceptionally(e);
        }
    }
}
