package dev.berth.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.cri.v1.AttachRequest;
import dev.berth.cri.v1.CreateContainerRequest;
import dev.berth.cri.v1.ExecRequest;
import dev.berth.cri.v1.StartContainerRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Exec and attach through the real daemon: the CRI call answers a one-time URL, a WebSocket
 * client runs the session.
 */
@Tag("root")
class StreamingE2eTest {
    @TempDir
    Path dir;

    final ContainerE2eTest containers = new ContainerE2eTest();

    @AfterEach
    void cleanUp() throws Exception {
        containers.cleanUp();
    }

    /** A WebSocket listener that puts binary messages together and hands each one on with its channel byte. */
    abstract static class ChannelMessages implements WebSocket.Listener {
        private final ByteArrayOutputStream frame = new ByteArrayOutputStream();

        /** One whole message of {@code channel}: {@code length} bytes of {@code data} from {@code offset}. */
        abstract void message(int channel, byte[] data, int offset, int length);

        @Override
        public CompletionStage<?> onBinary(WebSocket ws, ByteBuffer data, boolean last) {
            byte[] b = new byte[data.remaining()];
            data.get(b);
            frame.writeBytes(b);
            if (last) {
                byte[] all = frame.toByteArray();
                frame.reset();
                if (all.length > 0) {
                    message(all[0] & 0xff, all, 1, all.length - 1);
                }
            }
            ws.request(1);
            return null;
        }
    }

    /** What a channel.k8s.io session delivered: stdout, stderr and the final status. */
    record Session(String stdout, String stderr, String status) {
    }

    static Session run(String url) throws Exception {
        ByteArrayOutputStream[] channels = {new ByteArrayOutputStream(), new ByteArrayOutputStream(), new ByteArrayOutputStream(),
                new ByteArrayOutputStream()};
        CompletableFuture<Void> closed = new CompletableFuture<>();
        WebSocket.Listener listener = new ChannelMessages() {
            @Override
            void message(int channel, byte[] data, int offset, int length) {
                if (channel < channels.length) {
                    channels[channel].write(data, offset, length);
                }
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
        };
        WebSocket ws = HttpClient.newHttpClient().newWebSocketBuilder().subprotocols("v5.channel.k8s.io", "v4.channel.k8s.io")
                .buildAsync(URI.create(url.replaceFirst("^http", "ws")), listener).get(30, TimeUnit.SECONDS);
        closed.get(60, TimeUnit.SECONDS);
        ws.abort();
        return new Session(channels[1].toString(StandardCharsets.UTF_8), channels[2].toString(StandardCharsets.UTF_8),
                channels[3].toString(StandardCharsets.UTF_8));
    }

    @Test
    void execThroughTheStreamingServerReturnsOutputAndTheExitCode() throws Exception {
        containers.dir = dir;
        containers.berth = BerthProcess.start(dir.resolve("berth"));
        BerthProcess berth = containers.berth;
        containers.importBusybox();
        String pod = berth.runtime().runPodSandbox(ContainerE2eTest.pod("exec", dir.resolve("logs"))).getPodSandboxId();
        String id = containers.create(pod, "shell", "shell/0.log");

        StatusRuntimeException notRunning = assertThrows(StatusRuntimeException.class, () -> berth.runtime().exec(
                ExecRequest.newBuilder().setContainerId(id).addCmd("true").setStdout(true).build()));
        assertEquals(Status.Code.FAILED_PRECONDITION, notRunning.getStatus().getCode());
        berth.runtime().startContainer(StartContainerRequest.newBuilder().setContainerId(id).build());

        String url = berth.runtime().exec(ExecRequest.newBuilder().setContainerId(id).addCmd("hostname").setStdout(true).build()).getUrl();
        assertTrue(url.startsWith("http://127.0.0.1:"), url);
        Session ok = run(url);
        assertEquals("exec\n", ok.stdout());
        assertTrue(ok.status().contains("\"Success\""), ok.status());

        String failing = berth.runtime().exec(ExecRequest.newBuilder().setContainerId(id).addCmd("sh").addCmd("-c")
                .addCmd("echo oops >&2; exit 3").setStdout(true).setStderr(true).build()).getUrl();
        Session three = run(failing);
        assertEquals("oops\n", three.stderr());
        assertTrue(three.status().contains("NonZeroExitCode") && three.status().contains("\"3\""), three.status());

        assertEquals(Status.Code.NOT_FOUND, assertThrows(StatusRuntimeException.class, () -> berth.runtime().exec(
                ExecRequest.newBuilder().setContainerId("missing").addCmd("true").setStdout(true).build())).getStatus().getCode());
        // a URL is good for one session only
        HttpClient http = HttpClient.newHttpClient();
        var second = http.send(java.net.http.HttpRequest.newBuilder(URI.create(url)).build(),
                java.net.http.HttpResponse.BodyHandlers.discarding());
        assertEquals(404, second.statusCode());
    }

    /** Attaches to {@code url}, reads stdout until it holds {@code lines} lines, then goes away (detaches). */
    static String attachLines(String url, int lines) throws Exception {
        ByteArrayOutputStream stdout = new ByteArrayOutputStream();
        CompletableFuture<String> enough = new CompletableFuture<>();
        WebSocket.Listener listener = new ChannelMessages() {
            @Override
            void message(int channel, byte[] data, int offset, int length) {
                if (channel == 1) {
                    stdout.write(data, offset, length);
                    String text = stdout.toString(StandardCharsets.UTF_8);
                    if (text.chars().filter(c -> c == '\n').count() >= lines) {
                        enough.complete(text);
                    }
                }
            }

            @Override
            public CompletionStage<?> onClose(WebSocket ws, int code, String reason) {
                enough.complete(stdout.toString(StandardCharsets.UTF_8));
                return null;
            }
        };
        WebSocket ws = HttpClient.newHttpClient().newWebSocketBuilder().subprotocols("v5.channel.k8s.io")
                .buildAsync(URI.create(url.replaceFirst("^http", "ws")), listener).get(30, TimeUnit.SECONDS);
        String text = enough.get(60, TimeUnit.SECONDS);
        ws.sendClose(WebSocket.NORMAL_CLOSURE, "").get(10, TimeUnit.SECONDS);
        return text;
    }

    /** The container's status as runc reports it under the daemon's runtime root. */
    static String runcStatus(BerthProcess berth, String id) throws Exception {
        Process p = new ProcessBuilder("runc", "--root", berth.runRoot().resolve("runtimes/runc").toString(), "state", id)
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        p.waitFor();
        return out;
    }

    @Test
    void attachIsValidatedThenStreamsTheContainersOutputAndDetachesWithoutStoppingIt() throws Exception {
        containers.dir = dir;
        containers.berth = BerthProcess.start(dir.resolve("berth"));
        BerthProcess berth = containers.berth;
        containers.importBusybox();
        String pod = berth.runtime().runPodSandbox(ContainerE2eTest.pod("attach", dir.resolve("logs"))).getPodSandboxId();
        CreateContainerRequest ticker = ContainerE2eTest.request(pod, "ticker", "ticker/0.log");
        String id = berth.runtime().createContainer(ticker.toBuilder().setConfig(ticker.getConfig().toBuilder().clearArgs()
                .addArgs("-c").addArgs("i=0; while true; do i=$((i+1)); echo line $i; sleep 1; done"))
                .build()).getContainerId();

        AttachRequest stdout = AttachRequest.newBuilder().setContainerId(id).setStdout(true).build();
        assertEquals(Status.Code.FAILED_PRECONDITION, assertThrows(StatusRuntimeException.class,
                () -> berth.runtime().attach(stdout)).getStatus().getCode());
        berth.runtime().startContainer(StartContainerRequest.newBuilder().setContainerId(id).build());
        assertEquals(Status.Code.INVALID_ARGUMENT, assertThrows(StatusRuntimeException.class,
                () -> berth.runtime().attach(AttachRequest.newBuilder().setStdout(true).build())).getStatus().getCode());
        assertEquals(Status.Code.NOT_FOUND, assertThrows(StatusRuntimeException.class,
                () -> berth.runtime().attach(stdout.toBuilder().setContainerId("missing").build())).getStatus().getCode());
        assertEquals(Status.Code.INVALID_ARGUMENT, assertThrows(StatusRuntimeException.class,
                () -> berth.runtime().attach(AttachRequest.newBuilder().setContainerId(id).build())).getStatus().getCode());
        assertEquals(Status.Code.INVALID_ARGUMENT, assertThrows(StatusRuntimeException.class,
                () -> berth.runtime().attach(stdout.toBuilder().setStdin(true).build())).getStatus().getCode(),
                "the container was created without stdin");

        String out = attachLines(berth.runtime().attach(stdout).getUrl(), 2);
        assertTrue(out.matches("(?s)line \\d+\nline \\d+\n.*"), out);
        String state = runcStatus(berth, id);
        assertTrue(state.contains("\"status\": \"running\""), state);
        // and again: the first attachment left nothing behind that stops a second
        String more = attachLines(berth.runtime().attach(stdout).getUrl(), 1);
        assertTrue(more.startsWith("line "), more);
        assertTrue(runcStatus(berth, id).contains("\"status\": \"running\""));
    }
}
