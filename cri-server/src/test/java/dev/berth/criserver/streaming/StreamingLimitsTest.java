package dev.berth.criserver.streaming;

import dev.berth.podsandbox.container.ExecSessions;
import dev.berth.streaming.*;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The server's limits, with exec sessions that run host processes (the launcher runs the
 * command as given): at most {@code maxStreams} sessions, and a session idle for
 * {@code idleTimeout} is closed and its process killed.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class StreamingLimitsTest {
    StreamingServer server;
    final String marker = Integer.toString(200000 + new Random().nextInt(700000));

    @AfterEach
    void tearDown() throws IOException {
        if (server != null) {
            server.close();
        }
        for (String pid : running(marker)) {
            ProcessHandle.of(Long.parseLong(pid)).ifPresent(ProcessHandle::destroyForcibly);
        }
    }

    private void start(int maxStreams, Duration idle) {
        server = StreamingServer.start("127.0.0.1", 0, new StreamingServer.Options(Duration.ofMinutes(1), maxStreams,
                idle), new ProcessExecBackend(req -> new ExecSessions.Launch(req.cmd(), () -> { }, () -> { })),
                Clock.systemUTC());
    }

    private String sleeper() {
        return server.register(new StreamRequest.Exec("host", List.of("/bin/sleep", marker), false, false, true, true));
    }

    @Test
    void streamsPastTheMaximumAreRefusedUntilOneEnds() throws Exception {
        start(1, Duration.ofHours(1));
        ChannelClient first = ChannelClient.open(sleeper(), "v5.channel.k8s.io");
        assertEquals(503, ChannelClient.connect(sleeper(), "v5.channel.k8s.io"));
        awaitProcesses(1);
        first.socket.sendClose(1000, "").join();
        first.awaitClose();
        awaitNoProcess();
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (server.activeStreams() > 0 && System.nanoTime() < end) {
            Thread.sleep(10);
        }
        ChannelClient again = ChannelClient.open(sleeper(), "v5.channel.k8s.io");
        again.socket.sendClose(1000, "").join();
        again.awaitClose();
    }

    @Test
    void anIdleSessionIsClosedAndItsProcessKilled() throws Exception {
        start(4, Duration.ofSeconds(2));
        ChannelClient c = ChannelClient.open(sleeper(), "v5.channel.k8s.io");
        boolean ran = false;
        for (long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60); !c.closed.isDone() && System.nanoTime() < end; ) {
            ran |= !running(marker).isEmpty();
            Thread.sleep(10);
        }
        assertTrue(ran, "the session's process ran before the session went idle");
        c.awaitClose();
        awaitNoProcess();
        assertEquals(List.of(), running(marker));
    }

    private void awaitProcesses(int n) throws Exception {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (running(marker).size() != n && System.nanoTime() < end) {
            Thread.sleep(20);
        }
        assertEquals(n, running(marker).size(), "processes of the sessions");
    }

    private void awaitNoProcess() throws Exception {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!running(marker).isEmpty() && System.nanoTime() < end) {
            Thread.sleep(20);
        }
        assertEquals(List.of(), running(marker), "the session's process is gone");
    }

    static List<String> running(String marker) throws IOException {
        try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
            return procs.filter(p -> p.getFileName().toString().chars().allMatch(Character::isDigit)).filter(p -> {
                try {
                    return Files.readString(p.resolve("cmdline")).replace('\0', ' ').contains("sleep " + marker);
                } catch (IOException e) {
                    return false;
                }
            }).map(p -> p.getFileName().toString()).toList();
        }
    }
}
