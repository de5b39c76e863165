package dev.berth.cli.bench;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;

/**
 * Runs the command of an Exec URL over a WebSocket ({@code v4.channel.k8s.io}, which the
 * streaming servers of berth, containerd and CRI-O all serve) and waits for its status: the
 * channel-3 message, then the close. Output is read and dropped.
 */
final class ExecStream {
    private ExecStream() {
    }

    /** Returns the status message the server sent on the error channel (v4: JSON, {@code "status":"Success"} on exit 0). */
    static String run(HttpClient http, String url, Duration timeout) throws Exception {
        URI uri = URI.create(url.replaceFirst("^http", "ws"));
        if (!uri.getScheme().equals("ws")) {
            throw new IllegalStateException("only http streaming URLs are measured, got " + url);
        }
        CompletableFuture<String> status = new CompletableFuture<>();
        WebSocket.Listener listener = new WebSocket.Listener() {
            private final java.io.ByteArrayOutputStream message = new java.io.ByteArrayOutputStream();
            private String error = "";

            @Override
            public CompletionStage<?> onBinary(WebSocket ws, ByteBuffer data, boolean last) {
                byte[] b = new byte[data.remaining()];
                data.get(b);
                message.write(b, 0, b.length);
                if (last) {
                    byte[] m = message.toByteArray();
                    message.reset();
                    if (m.length > 0 && m[0] == 3) {
                        error += new String(m, 1, m.length - 1, StandardCharsets.UTF_8);
                    }
                }
                ws.request(1);
                return null;
            }

            @Override
            public CompletionStage<?> onClose(WebSocket ws, int code, String reason) {
                status.complete(error);
                return null;
            }

            @Override
            public void onError(WebSocket ws, Throwable e) {
                status.completeExceptionally(e);
            }
        };
        WebSocket ws = http.newWebSocketBuilder().subprotocols("v4.channel.k8s.io").connectTimeout(timeout)
                .buildAsync(uri, listener).get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        try {
            String s = status.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            if (!s.isEmpty() && !s.contains("Success")) {
                throw new IllegalStateException("exec ended with " + s);
            }
            return s;
        } finally {
            ws.abort();
        }
    }
}
