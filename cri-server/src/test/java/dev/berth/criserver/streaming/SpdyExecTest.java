package dev.berth.criserver.streaming;

import dev.berth.streaming.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Clock;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Exec (and attach) over the SPDY/3.1 remotecommand protocols into a running runc container. */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class SpdyExecTest extends ContainerStreamingTest {
    @BeforeEach
    void setUp() throws Exception {
        start(new RuncContainer());
    }

    private String url(boolean stdin, String... cmd) {
        return server.register(new StreamRequest.Exec(ctr.id, List.of(cmd), false, stdin, true, true));
    }

    /** Opens the streams the way the Go client does: error first, then stdin, stdout, stderr. */
    private static SpdyClient.Stream[] streams(SpdyClient c, boolean stdin) throws Exception {
        SpdyClient.Stream error = c.stream("streamtype", "error");
        SpdyClient.Stream in = stdin ? c.stream("streamtype", "stdin") : null;
        SpdyClient.Stream out = c.stream("streamtype", "stdout");
        SpdyClient.Stream err = c.stream("streamtype", "stderr");
        return new SpdyClient.Stream[] {error, in, out, err};
    }

    @Test
    void echoPrintsOnStdoutAndEndsWithSuccess() throws Exception {
        try (SpdyClient c = SpdyClient.open(url(false, "echo", "hello", "world"), "v4.channel.k8s.io",
                "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io")) {
            assertEquals("v4.channel.k8s.io", c.protocol, "the client's first choice wins");
            assertEquals("SPDY/3.1", c.headers.get("Upgrade"));
            SpdyClient.Stream[] s = streams(c, false);
            assertEquals(SUCCESS, s[0].awaitEnd());
            assertEquals("hello world\n", s[2].awaitEnd());
            assertEquals("", s[3].awaitEnd());
            c.goAway.orTimeout(30, TimeUnit.SECONDS).join();
            c.closed.orTimeout(30, TimeUnit.SECONDS).join();
        }
    }

    @Test
    void exitCodeThreeArrivesInTheStatusWithStderr() throws Exception {
        try (SpdyClient c = SpdyClient.open(url(false, "sh", "-c", "echo oops >&2; exit 3"), "v4.channel.k8s.io")) {
            SpdyClient.Stream[] s = streams(c, false);
            String status = s[0].awaitEnd();
            assertTrue(status.contains("\"status\":\"Failure\""), status);
            assertTrue(status.contains("\"reason\":\"NonZeroExitCode\""), status);
            assertTrue(status.contains("{\"reason\":\"ExitCode\",\"message\":\"3\"}"), status);
            assertEquals("oops\n", s[3].awaitEnd());
        }
    }

    @Test
    void olderProtocolsGetTheFailureMessageAndNothingOnSuccess() throws Exception {
        try (SpdyClient c = SpdyClient.open(url(false, "sh", "-c", "exit 3"), "v2.channel.k8s.io")) {
            assertEquals("v2.channel.k8s.io", c.protocol);
            SpdyClient.Stream[] s = streams(c, false);
            assertEquals("command terminated with non-zero exit code: exit status 3", s[0].awaitEnd());
        }
        try (SpdyClient c = SpdyClient.open(url(false, "true"), "channel.k8s.io")) {
            SpdyClient.Stream[] s = streams(c, false);
            assertEquals("", s[0].awaitEnd());
            c.closed.orTimeout(30, TimeUnit.SECONDS).join();
        }
    }

    @Test
    void stdinRoundTripsThroughCatUntilTheClientHalfCloses() throws Exception {
        try (SpdyClient c = SpdyClient.open(url(true, "cat"), "v4.channel.k8s.io")) {
            SpdyClient.Stream[] s = streams(c, true);
            String chunk = "line of input\n".repeat(1000);
            for (int i = 0; i < 10; i++) {
                s[1].write(chunk);
            }
            assertEquals(chunk.length() * 10, s[2].awaitBytes(chunk.length() * 10).length);
            assertFalse(s[0].ended.isDone(), "cat runs until its stdin is closed");
            s[1].close();
            assertEquals(SUCCESS, s[0].awaitEnd());
            assertEquals(chunk.repeat(10), s[2].awaitEnd());
        }
    }

    @Test
    void aClientThatGrantsNoWindowGetsNoMoreThanItsWindow() throws Exception {
        // 1 MiB of output against a client that announced a 64 KiB window and grants nothing yet
        try (SpdyClient c = SpdyClient.connect(url(false, "sh", "-c", "head -c 1048576 /dev/zero"), true, false,
                "v4.channel.k8s.io")) {
            assertEquals(101, c.status);
            SpdyClient.Stream[] s = streams(c, false);
            assertEquals(SpdyClient.WINDOW, s[2].awaitBytes(SpdyClient.WINDOW).length);
            Thread.sleep(500);
            assertEquals(SpdyClient.WINDOW, s[2].size(), "nothing past the window");
            assertFalse(s[0].ended.isDone(), "the process waits for the client");
            s[2].grant(1 << 20);
            assertEquals(SUCCESS, s[0].awaitEnd());
            assertEquals(1 << 20, s[2].awaitEnd().length());
        }
    }

    @Test
    void aClientThatGoesAwayEndsTheProcessInTheContainer() throws Exception {
        String marker = "sleep " + (100000 + new java.util.Random().nextInt(800000));
        try (SpdyClient c = SpdyClient.open(url(false, "sh", "-c", "echo started; exec " + marker),
                "v4.channel.k8s.io")) {
            SpdyClient.Stream[] s = streams(c, false);
            s[2].awaitBytes(8);
            // the shell execs sleep right after its echo: a look at /proc during that exec can miss it
            long seen = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (ctr.leftovers(marker).size() != 1 && System.nanoTime() < seen) {
                Thread.sleep(20);
            }
            assertEquals(1, ctr.leftovers(marker).size(), "the exec runs");
            c.abort();
        }
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        String runtimeExec = "exec --process " + ctr.dir;
        // the runtime's exec exits a moment after the process it ran
        while ((!ctr.leftovers(marker).isEmpty() || !ctr.leftovers(runtimeExec).isEmpty()) && System.nanoTime() < end) {
            Thread.sleep(50);
        }
        assertEquals(List.of(), ctr.leftovers(marker));
        assertEquals(List.of(), ctr.leftovers(runtimeExec), "no runtime exec left either");
    }

    @Test
    void aClientThatNeverOpensItsStreamsIsDroppedAndNothingRuns() throws Exception {
        try (SpdyClient c = SpdyClient.open(url(false, "true"), "v4.channel.k8s.io")) {
            SpdyClient.Stream error = c.stream("streamtype", "error");
            // stdout and stderr never come: the server gives up after its stream creation timeout
            assertTrue(c.isOpen());
            assertEquals(1, server.activeStreams());
            error.awaitEnd();
            assertTrue(error.text().contains("timed out waiting for client to create streams"), error.text());
            c.closed.orTimeout(60, TimeUnit.SECONDS).join();
        }
    }

    @Test
    void attachWithoutAnAttachBackendEndsWithAClearFailure() throws Exception {
        ExecBackend execOnly = ProcessExecBackend.runtime(ctr.manager)::start;
        try (StreamingServer s2 = StreamingServer.start("127.0.0.1", 0, StreamingServer.Options.defaults(), execOnly,
                Clock.systemUTC());
                SpdyClient c = SpdyClient.open(s2.register(new StreamRequest.Attach(ctr.id, false, false, true, true)),
                        "v4.channel.k8s.io")) {
            SpdyClient.Stream[] s = streams(c, false);
            String status = s[0].awaitEnd();
            assertTrue(status.contains("\"status\":\"Failure\"") && status.contains("attach is not supported"), status);
            c.closed.orTimeout(30, TimeUnit.SECONDS).join();
        }
    }

    @Test
    void handshakeRefusalsFollowTheKubernetesRules() throws Exception {
        try (SpdyClient c = SpdyClient.connect(url(false, "true"), "v5.channel.k8s.io", "v9.channel.k8s.io")) {
            assertEquals(403, c.status, "no protocol in common");
            assertEquals(SpdyCommandSession.PROTOCOLS, c.headers.getAll(SpdyUpgrade.ACCEPTED_VERSIONS));
        }
        try (SpdyClient c = SpdyClient.connect(url(false, "true"))) {
            assertEquals(400, c.status, "no protocol at all");
        }
        try (SpdyClient c = SpdyClient.connect(url(false, "true"), "v3.channel.k8s.io, v4.channel.k8s.io")) {
            assertEquals(101, c.status, "a comma-separated list");
            assertEquals("v3.channel.k8s.io", c.protocol);
        }
    }

    @Test
    void usedExpiredAndUnknownTokensAre404() throws Exception {
        String u = url(false, "true");
        try (SpdyClient first = SpdyClient.open(u, "v4.channel.k8s.io");
                SpdyClient again = SpdyClient.connect(u, "v4.channel.k8s.io")) {
            assertEquals(404, again.status, "a used token");
            streams(first, false)[0].awaitEnd();
        }
        String forged = u.substring(0, u.lastIndexOf('/') + 1) + "00000000000000000000000000000000";
        try (SpdyClient c = SpdyClient.connect(forged, "v4.channel.k8s.io")) {
            assertEquals(404, c.status, "an unknown token");
        }
    }
}
