package dev.berth.cli.client;

import com.fasterxml.jackson.databind.JsonNode;
import dev.berth.common.Json;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.http.HttpClient;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.ExecutionException;

/**
 * One exec or attach session over a streaming URL ({@link StreamClient}, channel protocols):
 * the server's stdout and stderr to ours, our stdin to the server (its end closes the remote
 * stdin where v5 can say so), the terminal's size at the start and on every resize, and the
 * final status on channel 3 turned into an exit code ({@link #exitCode(String)}).
 */
final class CommandSession {
    /** The status message is small; a server sending more is cut off here. */
    static final int MAX_STATUS_BYTES = 64 * 1024;

    private CommandSession() {
    }

    /**
     * Runs the session until the server closes it and returns the remote command's exit code.
     * {@code stdin} is null when none is sent; {@code terminal} is non-null for a TTY session.
     */
    static int run(String url, InputStream stdin, OutputStream stdout, OutputStream stderr, Terminal terminal, Duration connectTimeout)
            throws IOException {
        ByteArrayOutputStream status = new ByteArrayOutputStream();
        StreamClient.Receiver receiver = (channel, data, last) -> {
            switch (channel) {
                case StreamClient.STDOUT -> write(stdout, data);
                case StreamClient.STDERR -> write(stderr, data);
                case StreamClient.ERROR -> {
                    int n = Math.min(data.remaining(), MAX_STATUS_BYTES - status.size());
                    status.write(data.array(), data.arrayOffset() + data.position(), Math.max(0, n));
                    data.position(data.limit());
                }
                default -> data.position(data.limit());
            }
        };
        HttpClient http = HttpClient.newBuilder().connectTimeout(connectTimeout).build();
        try (StreamClient ws = StreamClient.connect(http, StreamClient.uri(url), StreamClient.COMMAND_PROTOCOLS, heap(receiver), connectTimeout)) {
            if (terminal != null) {
                Runnable resize = () -> sendSize(ws);
                resize.run();
                terminal.onResize(resize);
            }
            if (stdin != null) {
                Thread pump = new Thread(() -> pumpStdin(stdin, ws), "berth-stdin");
                pump.setDaemon(true);
                pump.start();
            }
            try {
                ws.closed().get();
            } catch (ExecutionException e) {
                if (status.size() == 0) {
                    throw new ClientException(ExitCodes.FAILED, "the stream broke: " + e.getCause(), e.getCause());
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new ClientException(ExitCodes.FAILED, "interrupted");
            }
        } finally {
            stdout.flush();
            stderr.flush();
        }
        return exitCode(status.toString(StandardCharsets.UTF_8));
    }

    /** The receiver reads array-backed buffers ({@link StreamClient} hands out heap copies when needed). */
    private static StreamClient.Receiver heap(StreamClient.Receiver r) {
        return (channel, data, last) -> {
            if (!data.hasArray()) {
                ByteBuffer copy = ByteBuffer.allocate(data.remaining());
                copy.put(data).flip();
                data = copy;
            }
            r.data(channel, data, last);
        };
    }

    private static void write(OutputStream out, ByteBuffer data) throws IOException {
        out.write(data.array(), data.arrayOffset() + data.position(), data.remaining());
        out.flush();
        data.position(data.limit());
    }

    private static void sendSize(StreamClient ws) {
        int[] size = Terminal.size();
        if (size == null) {
            return;
        }
        byte[] m = Terminal.resizeMessage(size[0], size[1]).getBytes(StandardCharsets.UTF_8);
        try {
            ws.send(StreamClient.RESIZE, m, 0, m.length);
        } catch (IOException e) {
            // the session is ending
        }
    }

    private static void pumpStdin(InputStream in, StreamClient ws) {
        byte[] buf = new byte[32 * 1024];
        try {
            int n;
            while ((n = in.read(buf)) >= 0) {
                if (n > 0) {
                    ws.send(StreamClient.STDIN, buf, 0, n);
                }
            }
            ws.closeChannel(StreamClient.STDIN);
        } catch (IOException e) {
            // the session ended, or stdin broke: the server's status still decides the exit code
        }
    }

    /**
     * The exit code a final status means: 0 for {@code Success} (or no status at all, a session
     * the server simply closed), the command's own code for {@code NonZeroExitCode} (the
     * {@code ExitCode} cause); any other failure is the runtime's ({@link ClientException},
     * {@link ExitCodes#FAILED}, with its message).
     */
    static int exitCode(String status) {
        if (status.isBlank()) {
            return ExitCodes.OK;
        }
        JsonNode s;
        try {
            s = Json.mapper().readTree(status);
        } catch (IOException e) {
            throw new ClientException(ExitCodes.FAILED, "the runtime sent a status that is not JSON: " + shorten(status));
        }
        if (s == null || !s.isObject()) {
            throw new ClientException(ExitCodes.FAILED, "the runtime sent a status that is not a JSON object: " + shorten(status));
        }
        if ("Success".equals(s.path("status").asText())) {
            return ExitCodes.OK;
        }
        if ("NonZeroExitCode".equals(s.path("reason").asText())) {
            for (JsonNode c : s.path("details").path("causes")) {
                if ("ExitCode".equals(c.path("reason").asText())) {
                    try {
                        int code = Integer.parseInt(c.path("message").asText().trim());
                        if (code > 0 && code <= 255) {
                            return code;
                        }
                    } catch (NumberFormatException e) {
                        break;
                    }
                }
            }
        }
        String message = s.path("message").asText("");
        throw new ClientException(ExitCodes.FAILED, message.isEmpty() ? "the command failed: " + shorten(status) : message);
    }

    private static String shorten(String s) {
        String one = s.strip().replaceAll("\\p{Cntrl}", "?");
        return one.length() > 200 ? one.substring(0, 200) + "..." : one;
    }
}
