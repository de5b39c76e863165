package dev.berth.cli.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.common.BerthException;
import dev.berth.streaming.ExecBackend;
import dev.berth.streaming.StreamRequest;
import dev.berth.streaming.StreamingServer;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PipedInputStream;
import java.io.PipedOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

class CommandSessionTest {
    @Test
    void theStatusGivesTheCommandsExitCode() {
        assertEquals(0, CommandSession.exitCode("{\"metadata\":{},\"status\":\"Success\"}"));
        assertEquals(0, CommandSession.exitCode(""));
        assertEquals(7, CommandSession.exitCode("{\"metadata\":{},\"status\":\"Failure\",\"message\":\"command terminated with non-zero exit code: "
                + "exit status 7\",\"reason\":\"NonZeroExitCode\",\"details\":{\"causes\":[{\"reason\":\"ExitCode\",\"message\":\"7\"}]}}"));
        assertEquals(127, CommandSession.exitCode("{\"status\":\"Failure\",\"reason\":\"NonZeroExitCode\",\"details\":{\"causes\":"
                + "[{\"reason\":\"Other\",\"message\":\"x\"},{\"reason\":\"ExitCode\",\"message\":\"127\"}]}}"));
        ClientException internal = assertThrows(ClientException.class, () -> CommandSession.exitCode(
                "{\"status\":\"Failure\",\"message\":\"exec failed: no such file\",\"reason\":\"InternalError\"}"));
        assertEquals(ExitCodes.FAILED, internal.exitCode());
        assertEquals("exec failed: no such file", internal.getMessage());
        for (String bad : new String[] {"not json", "[1]", "{\"status\":\"Failure\",\"reason\":\"NonZeroExitCode\",\"details\":{\"causes\":"
                + "[{\"reason\":\"ExitCode\",\"message\":\"seven\"}]}}"}) {
            assertEquals(ExitCodes.FAILED, assertThrows(ClientException.class, () -> CommandSession.exitCode(bad)).exitCode(), bad);
        }
    }

    @Test
    void theResizeMessageIsTheTtySizeJson() {
        assertEquals("{\"Width\":120,\"Height\":40}", Terminal.resizeMessage(120, 40));
    }

    /** A process that copies stdin to stdout, writes "err" on stderr, and exits with 7 once its stdin ends. */
    static final class Cat implements ExecBackend.Session {
        final CompletableFuture<Integer> exit = new CompletableFuture<>();
        final PipedInputStream stdout = new PipedInputStream(1 << 16);
        final OutputStream stdin;

        Cat() throws IOException {
            PipedOutputStream pipe = new PipedOutputStream(stdout);
            stdin = new OutputStream() {
                @Override
                public void write(int b) throws IOException {
                    pipe.write(b);
                }

                @Override
                public void write(byte[] b, int off, int len) throws IOException {
                    pipe.write(b, off, len);
                }

                @Override
                public void close() throws IOException {
                    pipe.close();
                    exit.complete(7);
                }
            };
        }

        @Override
        public OutputStream stdin() {
            return stdin;
        }

        @Override
        public InputStream stdout() {
            return stdout;
        }

        @Override
        public InputStream stderr() {
            return new ByteArrayInputStream("err\n".getBytes(StandardCharsets.UTF_8));
        }

        @Override
        public CompletableFuture<Integer> exit() {
            return exit;
        }

        @Override
        public void kill() {
            exit.complete(137);
        }
    }

    @Test
    void aSessionAgainstBerthsStreamingServerCarriesStdinOutputAndTheExitCode() throws Exception {
        ExecBackend backend = new ExecBackend() {
            @Override
            public Session start(StreamRequest.Exec request) {
                if (request.containerId().equals("missing")) {
                    throw BerthException.notFound("container %s not found", request.containerId());
                }
                try {
                    return new Cat();
                } catch (IOException e) {
                    throw new IllegalStateException(e);
                }
            }
        };
        try (StreamingServer server = StreamingServer.start("127.0.0.1", 0, StreamingServer.Options.defaults(), backend, Clock.systemUTC())) {
            String url = server.register(new StreamRequest.Exec("c1", List.of("cat"), false, true, true, true));
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            byte[] input = "hello\n".repeat(20000).getBytes(StandardCharsets.UTF_8);
            // stdin's end reaches the process (v5 closes the channel), which then exits with 7
            assertEquals(7, CommandSession.run(url, new ByteArrayInputStream(input), out, err, null, Duration.ofSeconds(10)));
            assertEquals(input.length, out.size());
            assertEquals("err\n", err.toString(StandardCharsets.UTF_8));

            String missing = server.register(new StreamRequest.Exec("missing", List.of("true"), false, false, true, true));
            ClientException e = assertThrows(ClientException.class,
                    () -> CommandSession.run(missing, null, out, err, null, Duration.ofSeconds(10)));
            assertTrue(e.getMessage().contains("container missing not found"), e.getMessage());
            // a URL is good once: the second session is refused with the server's reason
            ClientException again = assertThrows(ClientException.class,
                    () -> CommandSession.run(url, null, out, err, null, Duration.ofSeconds(10)));
            assertTrue(again.getMessage().contains("404") && again.getMessage().contains("unknown or expired streaming token"), again.getMessage());
        }
    }
}
