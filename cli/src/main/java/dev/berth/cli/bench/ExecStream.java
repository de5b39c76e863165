package dev.berth.cli.bench;

import dev.berth.cli.client.StreamClient;
import java.io.ByteArrayOutputStream;
import java.net.http.HttpClient;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs the command of an Exec URL over a WebSocket ({@code v4.channel.k8s.io}, which the
 * streaming servers of berth, containerd and CRI-O all serve) with the client's
 * {@link StreamClient} and waits for its status: the channel-3 message, then the close.
 * Output is read and dropped.
 */
final class ExecStream {
    private ExecStream() {
    }

    /** Returns the status message the server sent on the error channel (v4: JSON, {@code "status":"Success"} on exit 0). */
    static String run(HttpClient http, String url, Duration timeout) throws Exception {
        if (!url.startsWith("http:")) {
            throw new IllegalStateException("only http streaming URLs are measured, got " + url);
        }
        ByteArrayOutputStream error = new ByteArrayOutputStream();
        StreamClient.Receiver receiver = (channel, data, last) -> {
            if (channel == StreamClient.ERROR) {
                byte[] b = new byte[data.remaining()];
                data.get(b);
                synchronized (error) {
                    error.write(b, 0, b.length);
                }
            } else {
                data.position(data.limit());
            }
        };
        try (StreamClient ws = StreamClient.connect(http, StreamClient.uri(url), List.of("v4.channel.k8s.io"), receiver, timeout)) {
            ws.closed().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        }
        String s;
        synchronized (error) {
            s = error.toString(StandardCharsets.UTF_8);
        }
        if (!s.isEmpty() && !s.contains("Success")) {
            throw new IllegalStateException("exec ended with " + s);
        }
        return s;
    }
}
