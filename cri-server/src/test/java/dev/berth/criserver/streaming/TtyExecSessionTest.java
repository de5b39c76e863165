package dev.berth.criserver.streaming;

import dev.berth.streaming.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.common.BerthException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Exec with a terminal (a pseudo-terminal berth allocates) into a running runc container under conmon. */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class TtyExecSessionTest extends ContainerStreamingTest {
    @BeforeEach
    void setUp() throws Exception {
        start(new RuncContainer());
    }

    private String tty(boolean stdin, String... cmd) {
        return server.register(new StreamRequest.Exec(ctr.id, List.of(cmd), true, stdin, true, false));
    }

    private static String resize(int width, int height) {
        return "{\"Width\":" + width + ",\"Height\":" + height + "}";
    }

    @Test
    void resizesReachTheTerminalAsSttySeesThem() throws Exception {
        ChannelClient c = ChannelClient.open(tty(true, "sh", "-c", "while read x; do stty size; done"),
                "v5.channel.k8s.io");
        c.sendText(RemoteCommand.RESIZE, resize(120, 40));
        c.sendText(RemoteCommand.STDIN, "\n");
        // the first size is the terminal's from the start
        assertTrue(c.awaitText(RemoteCommand.STDOUT, "40 120").contains("40 120"), c.text(RemoteCommand.STDOUT)
                + c.text(RemoteCommand.ERROR));
        assertFalse(c.text(RemoteCommand.STDOUT).contains("0 0"), c.text(RemoteCommand.STDOUT));
        c.sendText(RemoteCommand.RESIZE, resize(100, 30));
        // a later size reaches the process asynchronously (SIGWINCH to the runtime): ask until it shows
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!c.text(RemoteCommand.STDOUT).contains("30 100") && System.nanoTime() < end && !c.closed.isDone()) {
            int known = c.channel(RemoteCommand.STDOUT).length;
            c.sendText(RemoteCommand.STDIN, "\n");
            c.awaitMore(RemoteCommand.STDOUT, known, 500);
        }
        assertTrue(c.text(RemoteCommand.STDOUT).contains("30 100"), c.text(RemoteCommand.STDOUT));
        c.send(WebSocketCommandHandler.CLOSE, new byte[] {RemoteCommand.STDIN});
        assertEquals(1000, c.awaitClose());
        assertEquals(SUCCESS, c.text(RemoteCommand.ERROR));
        assertEquals("", c.text(RemoteCommand.STDERR), "a terminal has no separate stderr");
    }

    @Test
    void stdinRoundTripsThroughTheTerminalAndItsEndIsEndOfFile() throws Exception {
        ChannelClient c = ChannelClient.open(tty(true, "cat"), "v5.channel.k8s.io");
        c.sendText(RemoteCommand.STDIN, "hello tty\n");
        // the terminal echoes the line, then cat prints it: both with the terminal's CR LF
        String out = c.awaitText(RemoteCommand.STDOUT, "hello tty\r\nhello tty\r\n");
        assertEquals("hello tty\r\nhello tty\r\n", out, c.text(RemoteCommand.ERROR));
        assertFalse(c.closed.isDone(), "cat runs until its input ends");
        c.send(WebSocketCommandHandler.CLOSE, new byte[] {RemoteCommand.STDIN});
        assertEquals(1000, c.awaitClose());
        assertEquals(SUCCESS, c.text(RemoteCommand.ERROR));
    }

    @Test
    void theProcessSeesATerminalAndItsExitCodeArrives() throws Exception {
        ChannelClient c = ChannelClient.open(tty(false, "sh", "-c", "[ -t 0 ] && [ -t 1 ] && echo term=$TERM; exit 3"),
                "v4.channel.k8s.io");
        c.awaitClose();
        String out = c.text(RemoteCommand.STDOUT);
        // the process's terminal turns its newline into CR LF (once seen under heavy load as CR CR LF,
        // which a terminal shows the same way)
        assertTrue(out.endsWith("\r\n"), out);
        assertEquals("term=xterm\n", out.replace("\r", ""), c.text(RemoteCommand.ERROR));
        String status = c.text(RemoteCommand.ERROR);
        assertTrue(status.contains("\"reason\":\"NonZeroExitCode\"") && status.contains("\"message\":\"3\""), status);
    }

    @Test
    void aClientThatGoesAwayEndsTheTerminalProcessAndNothingIsLeft() throws Exception {
        // a first session loads what every session shares (native library, thread pools)
        ChannelClient warm = ChannelClient.open(tty(false, "true"), "v5.channel.k8s.io");
        warm.awaitClose();
        long baseline = OpenFiles.quiet();
        for (int i = 0; i < 3; i++) {
            String marker = "sleep " + (100000 + new java.util.Random().nextInt(800000));
            ChannelClient c = ChannelClient.open(tty(true, "sh", "-c", "echo started; exec " + marker),
                    "v5.channel.k8s.io");
            c.awaitText(RemoteCommand.STDOUT, "started");
            assertEquals(1, ctr.leftovers(marker).size(), "the exec runs");
            assertEquals(1, OpenFiles.terminals(), "berth holds the terminal's master side");
            c.socket.abort();
            long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (!ctr.leftovers(marker).isEmpty() && System.nanoTime() < end) {
                Thread.sleep(50);
            }
            assertEquals(List.of(), ctr.leftovers(marker));
        }
        assertEquals(List.of(), ctr.leftovers("exec --process " + ctr.dir), "no runtime exec left");
        long now = OpenFiles.settle(baseline);
        assertTrue(now <= baseline, "descriptors: " + now + " now, " + baseline + " before: " + OpenFiles.targets());
        assertEquals(0, OpenFiles.terminals());
        try (Stream<Path> left = Files.walk(ctr.dir.resolve("run/containers"))) {
            assertEquals(List.of(), left.filter(p -> p.getFileName().toString().startsWith("exec-")).toList(),
                    "process specs and pid files are removed");
        }
    }

    @Test
    void ttyWithStderrIsInvalid() {
        BerthException e = assertThrows(BerthException.class,
                () -> new StreamRequest.Exec(ctr.id, List.of("true"), true, false, true, true));
        assertEquals(BerthException.Kind.INVALID_ARGUMENT, e.kind());
    }
}
