package dev.berth.cli.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.berth.agent.server.CriLogReader;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LogsCommandTest {
    @TempDir
    Path dir;

    @Test
    void sinceTakesAnRfc3339TimeOrAGoDuration() {
        Instant now = Instant.parse("2024-05-01T10:00:00Z");
        assertEquals(Instant.parse("2024-05-01T09:55:00Z"), LogsCommand.since("5m", now));
        assertEquals(Instant.parse("2024-05-01T08:29:50Z"), LogsCommand.since("1h30m10s", now));
        assertEquals(Instant.parse("2024-05-01T09:59:59.750Z"), LogsCommand.since("250ms", now));
        assertEquals(Instant.parse("2024-05-01T09:30:00Z"), LogsCommand.since("0.5h", now));
        assertEquals(Instant.parse("2024-04-30T22:00:00Z"), LogsCommand.since("2024-05-01T00:00:00+02:00", now));
        assertEquals(Instant.parse("2024-05-01T07:00:00.123456789Z"), LogsCommand.since("2024-05-01T07:00:00.123456789Z", now));
        for (String bad : new String[] {"5", "m", "5m3", "yesterday", "-5m", ""}) {
            assertEquals(ExitCodes.USAGE, assertThrows(ClientException.class, () -> LogsCommand.since(bad, now), bad).exitCode(), bad);
        }
    }

    @Test
    void notARegularFileIsAClearError() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ClientException e = assertThrows(ClientException.class, () -> LogsCommand.read(dir, CriLogReader.Options.ALL, out, out, null));
        assertEquals("the log file " + dir + " is not a regular file", e.getMessage());
        assertEquals(ExitCodes.FAILED, assertThrows(ClientException.class,
                () -> LogsCommand.read(dir.resolve("gone.log"), CriLogReader.Options.ALL, out, out, null)).exitCode());
    }

    /** An output whose first write of {@code text} counts the latch down. */
    static final class Watching extends ByteArrayOutputStream {
        final String text;
        final CountDownLatch seen = new CountDownLatch(1);

        Watching(String text) {
            this.text = text;
        }

        @Override
        public synchronized void write(byte[] b, int off, int len) {
            super.write(b, off, len);
            if (toString(StandardCharsets.UTF_8).contains(text)) {
                seen.countDown();
            }
        }
    }

    @Test
    void followReadsWhatIsWrittenLaterAcrossARotationAndEndsOnceTheContainerStopped() throws Exception {
        Path log = dir.resolve("0.log");
        Files.writeString(log, "2024-05-01T10:00:00Z stdout F first\n2024-05-01T10:00:01Z stdout P sec");
        Watching out = new Watching("second-part");
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        var alive = new java.util.concurrent.atomic.AtomicBoolean(true);
        CompletableFuture<Void> done = CompletableFuture.runAsync(() -> {
            try {
                LogsCommand.read(log, new CriLogReader.Options(null, null, false, null, true), out, err, alive::get);
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
        Files.writeString(log, "ond\n", StandardOpenOption.APPEND);
        Files.writeString(log, "2024-05-01T10:00:01Z stdout F -part\n", StandardOpenOption.APPEND);
        assertEquals(true, out.seen.await(30, TimeUnit.SECONDS));
        // rotation as the kubelet does it: the file is renamed and the runtime reopens a new one
        Files.move(log, dir.resolve("0.log.20240501-100002"));
        Files.writeString(log, "2024-05-01T10:00:02Z stderr F third\n");
        Files.writeString(log, "2024-05-01T10:00:03Z stdout F last\n", StandardOpenOption.APPEND);
        alive.set(false);
        done.get(30, TimeUnit.SECONDS);
        assertEquals("first\nsecond-part\nlast\n", out.toString(StandardCharsets.UTF_8));
        assertEquals("third\n", err.toString(StandardCharsets.UTF_8));
    }
}
