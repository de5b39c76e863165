package dev.berth.criserver.streaming;

import dev.berth.streaming.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.common.BerthException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Exec over the channel.k8s.io WebSocket protocols into a running runc container. */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class ExecSessionTest extends ContainerStreamingTest {
    @BeforeEach
    void setUp() throws Exception {
        start(new RuncContainer());
    }

    private String url(boolean stdin, String... cmd) {
        return server.register(new StreamRequest.Exec(ctr.id, List.of(cmd), false, stdin, true, true));
    }

    @Test
    void echoPrintsOnStdoutAndEndsWithSuccess() {
        ChannelClient c = ChannelClient.open(url(false, "echo", "hello", "world"), "v5.channel.k8s.io",
                "v4.channel.k8s.io");
        assertEquals("v5.channel.k8s.io", c.protocol);
        assertEquals(1000, c.awaitClose());
        assertEquals("hello world\n", c.text(RemoteCommand.STDOUT));
        assertEquals(SUCCESS, c.text(RemoteCommand.ERROR));
    }

    @Test
    void nonZeroExitCodeArrivesOnTheErrorChannelWithStderr() {
        ChannelClient c = ChannelClient.open(url(false, "sh", "-c", "echo oops >&2; exit 3"), "v4.channel.k8s.io");
        assertEquals("v4.channel.k8s.io", c.protocol);
        c.awaitClose();
        assertEquals("oops\n", c.text(RemoteCommand.STDERR));
        String status = c.text(RemoteCommand.ERROR);
        assertTrue(status.contains("\"status\":\"Failure\""), status);
        assertTrue(status.contains("\"reason\":\"NonZeroExitCode\""), status);
        assertTrue(status.contains("{\"reason\":\"ExitCode\",\"message\":\"3\"}"), status);
    }

    @Test
    void stdinRoundTripsThroughCatUntilTheCloseSignal() throws Exception {
        ChannelClient c = ChannelClient.open(url(true, "cat"), "v5.channel.k8s.io");
        byte[] chunk = "line of input\n".repeat(1000).getBytes(StandardCharsets.UTF_8);
        for (int i = 0; i < 10; i++) {
            c.send(RemoteCommand.STDIN, chunk);
        }
        byte[] out = c.awaitBytes(RemoteCommand.STDOUT, chunk.length * 10);
        assertEquals(chunk.length * 10, out.length);
        assertFalse(c.closed.isDone(), "cat runs until its stdin is closed");
        c.send(WebSocketCommandHandler.CLOSE, new byte[] {RemoteCommand.STDIN});
        assertEquals(1000, c.awaitClose());
        assertEquals("line of input\n".repeat(10000), c.text(RemoteCommand.STDOUT));
        assertEquals(SUCCESS, c.text(RemoteCommand.ERROR));
    }

    @Test
    void aClientThatGoesAwayEndsTheProcessInTheContainer() throws Exception {
        String marker = "sleep " + (100000 + new java.util.Random().nextInt(800000));
        ChannelClient c = ChannelClient.open(url(false, "sh", "-c", "echo started; exec " + marker),
                "v5.channel.k8s.io");
        c.awaitBytes(RemoteCommand.STDOUT, 8);
        assertEquals(1, ctr.leftovers(marker).size(), "the exec runs");
        c.socket.abort();
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        // the runtime's exec exits just after the process it ran: wait for both
        while ((!ctr.leftovers(marker).isEmpty() || !ctr.leftovers("exec --process " + ctr.dir).isEmpty())
                && System.nanoTime() < end) {
            Thread.sleep(50);
        }
        assertEquals(List.of(), ctr.leftovers(marker));
        assertEquals(List.of(), ctr.leftovers("exec --process " + ctr.dir), "no runtime exec left either");
    }

    @Test
    void anUnknownContainerEndsTheSessionWithAFailureStatus() {
        ChannelClient c = ChannelClient.open(server.register(new StreamRequest.Exec("no-such-container",
                List.of("true"), false, false, true, false)), "v5.channel.k8s.io");
        c.awaitClose();
        String status = c.text(RemoteCommand.ERROR);
        assertTrue(status.contains("\"status\":\"Failure\"") && status.contains("no-such-container"), status);
    }

    @Test
    void requestsWithoutStreamsOrCommandAreInvalid() {
        BerthException e = assertThrows(BerthException.class,
                () -> new StreamRequest.Exec(ctr.id, List.of("true"), false, false, false, false));
        assertEquals(BerthException.Kind.INVALID_ARGUMENT, e.kind());
        e = assertThrows(BerthException.class, () -> new StreamRequest.Exec(ctr.id, List.of(), false, false, true, false));
        assertEquals(BerthException.Kind.INVALID_ARGUMENT, e.kind());
    }

    @Test
    void aSubprotocolTheServerDoesNotSpeakIsRefused() {
        assertEquals(400, ChannelClient.connect(url(false, "true"), "channel.k8s.io"));
    }
}
