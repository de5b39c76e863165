package dev.berth.criserver.streaming;

import dev.berth.podsandbox.container.ExecSessions;
import dev.berth.streaming.*;

import java.io.IOException;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The streaming server's limits hold for SPDY sessions as for WebSocket ones (host processes,
 * as {@link StreamingLimitsTest}): sessions past the maximum are refused, and an idle session
 * is closed and its process killed.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class SpdyLimitsTest {
    StreamingServer server;
    final String marker = Integer.toString(200000 + new Random().nextInt(700000));

    @AfterEach
    void tearDown() throws IOException {
        if (server != null) {
            server.close();
        }
        for (String pid : StreamingLimitsTest.running(marker)) {
            ProcessHandle.of(Long.parseLong(pid)).ifPresent(ProcessHandle::destroyForcibly);
        }
    }

    private void start(int maxStreams, Duration idle) {
        server = StreamingServer.start("127.0.0.1", 0, new StreamingServer.Options(Duration.ofMinutes(1), maxStreams,
                idle), new ProcessExecBackend(req -> new ExecSessions.Launch(req.cmd(), () -> { }, () -> { })),
                Clock.systemUTC());
    }

    private SpdyClient sleeper() throws Exception {
        SpdyClient c = SpdyClient.connect(server.register(new StreamRequest.Exec("host", List.of("/bin/sleep", marker),
                false, false, true, true)), "v4.channel.k8s.io");
        if (c.status == 101) {
            c.stream("streamtype", "error");
            c.stream("streamtype", "stdout");
            c.stream("streamtype", "stderr");
        }
        return c;
    }

    @Test
    void sessionsPastTheMaximumAreRefusedUntilOneEnds() throws Exception {
        start(1, Duration.ofHours(1));
        try (SpdyClient first = sleeper(); SpdyClient second = sleeper()) {
            assertEquals(101, first.status);
            assertEquals(503, second.status);
            awaitProcess(1);
            first.abort();
            awaitProcess(0);
        }
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (server.activeStreams() > 0 && System.nanoTime() < end) {
            Thread.sleep(10);
        }
        try (SpdyClient again = sleeper()) {
            assertEquals(101, again.status);
        }
    }

    @Test
    void anIdleSessionIsClosedAndItsProcessKilled() throws Exception {
        start(4, Duration.ofSeconds(2));
        try (SpdyClient c = sleeper()) {
            boolean ran = false;
            for (long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(30); !c.closed.isDone() && System.nanoTime() < end; ) {
                ran |= !StreamingLimitsTest.running(marker).isEmpty();
                Thread.sleep(10);
            }
            assertTrue(ran, "the session's process ran before the session went idle");
            c.closed.orTimeout(30, TimeUnit.SECONDS).join();
        }
        awaitProcess(0);
    }

    private void awaitProcess(int n) throws Exception {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (StreamingLimitsTest.running(marker).size() != n && System.nanoTime() < end) {
            Thread.sleep(20);
        }
        assertEquals(n, StreamingLimitsTest.running(marker).size(), "processes of the sessions");
    }
}
