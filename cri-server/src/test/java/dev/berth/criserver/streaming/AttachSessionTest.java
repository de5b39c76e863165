package dev.berth.criserver.streaming;

import dev.berth.streaming.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Attach to the stdio of real runc containers through their conmon's attach socket, over the
 * channel.k8s.io WebSocket protocol.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class AttachSessionTest extends ContainerStreamingTest {
    private void start(List<String> cmd, boolean tty, boolean stdin, boolean stdinOnce) throws Exception {
        start(new RuncContainer(cmd, tty, stdin, stdinOnce));
    }

    private String attach(boolean tty, boolean stdin, boolean stdout, boolean stderr) {
        return server.register(new StreamRequest.Attach(ctr.id, tty, stdin, stdout, stderr));
    }

    private static long lines(String s) {
        return s.chars().filter(c -> c == '\n').count();
    }

    /** Waits (bounded) for the client to see {@code n} complete lines on stdout. */
    private static String awaitLines(ChannelClient c, int n) throws InterruptedException {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (lines(c.text(RemoteCommand.STDOUT)) < n && System.nanoTime() < end && !c.closed.isDone()) {
            c.awaitMore(RemoteCommand.STDOUT, c.channel(RemoteCommand.STDOUT).length, 500);
        }
        return c.text(RemoteCommand.STDOUT);
    }

    private static void awaitDetached(long baseline) throws Exception {
        long now = OpenFiles.settle(baseline);
        assertTrue(now <= baseline, "descriptors: " + now + " now, " + baseline + " before: " + OpenFiles.targets());
    }

    @Test
    void attachReadsTheContainersOutputAndDetachingLeavesItRunning() throws Exception {
        start(List.of("sh", "-c", "i=0; while :; do i=$((i+1)); echo line $i; echo err $i >&2; sleep 1; done"),
                false, false, false);
        ChannelClient warm = ChannelClient.open(attach(false, false, true, false), "v5.channel.k8s.io");
        awaitLines(warm, 1);
        warm.socket.sendClose(java.net.http.WebSocket.NORMAL_CLOSURE, "").join();
        warm.awaitClose();
        long baseline = OpenFiles.quiet();

        for (int round = 0; round < 3; round++) {
            ChannelClient c = ChannelClient.open(attach(false, false, true, true), "v5.channel.k8s.io");
            String out = awaitLines(c, 2);
            assertTrue(lines(out) >= 2, out);
            assertTrue(out.matches("(?s)(line \\d+\\n)+.*"), out);
            String err = c.awaitText(RemoteCommand.STDERR, "\n");
            assertTrue(err.startsWith("err "), "stderr is its own stream: " + err);
            c.socket.sendClose(java.net.http.WebSocket.NORMAL_CLOSURE, "").join();
            c.awaitClose();
            assertEquals("running", ctr.runtimeStatus(), "detaching never stops the container");
        }
        awaitDetached(baseline);
        assertEquals("running", ctr.runtimeStatus());
        assertEquals(0, ctr.manager.status(ctr.id).exitCode());
    }

    @Test
    void stdinReachesACatContainerAndStaysOpenAcrossAttachments() throws Exception {
        start(List.of("cat"), false, true, false);
        for (String word : List.of("ping", "pong")) {
            ChannelClient c = ChannelClient.open(attach(false, true, true, true), "v5.channel.k8s.io");
            c.sendText(RemoteCommand.STDIN, word + "\n");
            assertEquals(word + "\n", c.awaitText(RemoteCommand.STDOUT, word + "\n"));
            c.socket.abort();
            // conmon was told to leave stdin open (not stdin-once): cat goes on
            long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
            while (System.nanoTime() < end) {
                Thread.sleep(100);
            }
            assertEquals("running", ctr.runtimeStatus());
        }
    }

    @Test
    void closingStdinOfAStdinOnceContainerEndsItAndItsExitCodeEndsTheSession() throws Exception {
        start(List.of("sh", "-c", "cat; exit 7"), false, true, true);
        ChannelClient c = ChannelClient.open(attach(false, true, true, false), "v5.channel.k8s.io");
        c.sendText(RemoteCommand.STDIN, "last words\n");
        c.awaitText(RemoteCommand.STDOUT, "last words\n");
        assertFalse(c.closed.isDone());
        c.send(WebSocketCommandHandler.CLOSE, new byte[] {RemoteCommand.STDIN});
        assertEquals(1000, c.awaitClose());
        assertEquals("last words\n", c.text(RemoteCommand.STDOUT));
        String status = c.text(RemoteCommand.ERROR);
        assertTrue(status.contains("\"reason\":\"NonZeroExitCode\"") && status.contains("\"message\":\"7\""), status);
        assertEquals("stopped", ctr.runtimeStatus());
    }

    @Test
    void aTtyContainerTakesInputResizesAndEndsTheSessionWhenItExits() throws Exception {
        start(List.of("sh", "-c", "while read x; do [ \"$x\" = quit ] && exit 0; stty size; done"), true, true, false);
        ChannelClient c = ChannelClient.open(attach(true, true, true, false), "v5.channel.k8s.io");
        c.sendText(RemoteCommand.RESIZE, "{\"Width\":120,\"Height\":40}");
        // the size goes through conmon's control FIFO: ask until the shell sees it
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!c.text(RemoteCommand.STDOUT).contains("40 120") && System.nanoTime() < end && !c.closed.isDone()) {
            int known = c.channel(RemoteCommand.STDOUT).length;
            c.sendText(RemoteCommand.STDIN, "\n");
            c.awaitMore(RemoteCommand.STDOUT, known, 500);
        }
        assertTrue(c.text(RemoteCommand.STDOUT).contains("40 120\r\n"), c.text(RemoteCommand.STDOUT));
        assertEquals("", c.text(RemoteCommand.STDERR));
        c.sendText(RemoteCommand.STDIN, "quit\n");
        assertEquals(1000, c.awaitClose());
        assertTrue(c.text(RemoteCommand.STDOUT).contains("quit\r\n"), "the terminal echoes: " + c.text(RemoteCommand.STDOUT));
        assertEquals(SUCCESS, c.text(RemoteCommand.ERROR));
    }
}
