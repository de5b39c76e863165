package dev.berth.cli.bench;

import dev.berth.cli.client.StreamClient;
import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
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
    static final List<String> PROTOCOLS = StreamClient.PORT_FORWARD_PROTOCOLS;
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
        URI uri = StreamClient.portForwardUri(url, port);
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
        try (StreamClient ws = StreamClient.connect(http, uri(url, port), PROTOCOLS, echo, timeout)) {
            ws.closed().whenComplete((v, e) -> echo.closed(e));
            long deadline = t0 + timeout.toNanos();
            long start = System.nanoTime();
            for (long sent = 0; sent < bytes && !echo.done.isDone(); ) {
                int n = (int) Math.min(CHUNK, bytes - sent);
                ws.send(0, PATTERN, 0, n, Math.max(1, deadline - System.nanoTime()));
                sent += n;
            }
            long end = echo.done.get(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            return new Result(bytes, (echo.firstByte - t0) / 1e6, (end - start) / 1e9);
        }
    }

    /** Reads the server's messages: checks and counts channel 0, collects channel 1; completes with the time the last byte came. */
    private static final class Echo extends StreamClient.PortChannels {
        final CompletableFuture<Long> done = new CompletableFuture<>();
        private final long expected;
        private final ByteArrayOutputStream error = new ByteArrayOutputStream();
        private long received;
        volatile long firstByte;

        Echo(long expected) {
            this.expected = expected;
        }

        @Override
        protected void error(ByteBuffer text, boolean last) {
            byte[] b = new byte[text.remaining()];
            text.get(b);
            error.write(b, 0, b.length);
            if (last) {
                done.completeExceptionally(new IllegalStateException("the server reported: " + error.toString(StandardCharsets.UTF_8)));
            }
        }

        @Override
        protected void data(ByteBuffer data) {
            if (data.hasRemaining() && firstByte == 0) {
                firstByte = System.nanoTime();
            }
            while (data.hasRemaining()) {
                if (received + data.remaining() > expected) {
                    done.completeExceptionally(new IllegalStateException("more bytes came back than were sent (" + expected + ")"));
                    data.position(data.limit());
                    return;
                }
                int offset = (int) (received % CHUNK);
                int n = Math.min(data.remaining(), CHUNK - offset);
                ByteBuffer got = data.slice().limit(n);
                int at = ByteBuffer.wrap(PATTERN, offset, n).mismatch(got);
                if (at >= 0) {
                    done.completeExceptionally(new IllegalStateException("byte " + (received + at) + " came back changed"));
                    data.position(data.limit());
                    return;
                }
                data.position(data.position() + n);
                received += n;
            }
            if (received == expected) {
                done.complete(System.nanoTime());
            }
        }

        /** The stream ended (or broke) before every byte came back. */
        void closed(Throwable e) {
            if (e != null) {
                done.completeExceptionally(e);
                return;
            }
            done.completeExceptionally(new IllegalStateException("the server closed the stream after " + received + " of " + expected
                    + " bytes came back" + (error.size() > 0 ? ": " + error.toString(StandardCharsets.UTF_8) : "")));
        }
    }
}
