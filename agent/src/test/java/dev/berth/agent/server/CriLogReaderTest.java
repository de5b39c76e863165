package dev.berth.agent.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CriLogReaderTest {
    @TempDir
    Path dir;

    private final CriLogReader reader = new CriLogReader(Duration.ofMillis(10));

    private static final String LOG = """
            2026-01-02T03:04:05.100000000Z stdout F one
            2026-01-02T03:04:06.000000000Z stdout P tw
            2026-01-02T03:04:06.500000000Z stdout F o
            2026-01-02T03:04:07Z stderr F three
            not a record at all
            2026-01-02T03:04:08.123456789+01:00 stdout F four
            2026-01-02T03:04:09Z stdout F 
            2026-01-02T04:04:10.000000001Z stdout F six with  spaces
            """;

    private String read(String log, CriLogReader.Options options) throws IOException {
        Path f = dir.resolve("0.log");
        Files.writeString(f, log);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        reader.read(f, options, out, () -> false, () -> false);
        return out.toString(StandardCharsets.UTF_8);
    }

    private static CriLogReader.Options tail(long n) {
        return new CriLogReader.Options(n, null, false, null, false);
    }

    @Test
    void stderrLinesGoToTheirOwnStreamWhenOneIsGivenAndTheLimitCountsBoth() throws IOException {
        Path f = dir.resolve("0.log");
        Files.writeString(f, LOG);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        reader.read(f, new CriLogReader.Options(null, null, true, null, false), out, err, () -> false, () -> false);
        assertEquals("2026-01-02T03:04:07Z three\n", err.toString(StandardCharsets.UTF_8));
        assertEquals("""
                2026-01-02T03:04:05.1Z one
                2026-01-02T03:04:06Z two
                2026-01-02T02:04:08.123456789Z four
                2026-01-02T03:04:09Z\s
                2026-01-02T04:04:10.000000001Z six with  spaces
                """, out.toString(StandardCharsets.UTF_8));
        out.reset();
        err.reset();
        reader.read(f, new CriLogReader.Options(null, null, false, 10L, false), out, err, () -> false, () -> false);
        assertEquals("one\ntwo\n", out.toString(StandardCharsets.UTF_8));
        assertEquals("th", err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void partialRecordsAreJoinedBothStreamsKeptAndMalformedRecordsSkipped() throws IOException {
        assertEquals("one\ntwo\nthree\nfour\n\nsix with  spaces\n", read(LOG, CriLogReader.Options.ALL));
    }

    @Test
    void timestampsPrefixEachLineWithItsFirstRecordsTimeInUtc() throws IOException {
        assertEquals("""
                2026-01-02T03:04:05.1Z one
                2026-01-02T03:04:06Z two
                2026-01-02T03:04:07Z three
                2026-01-02T02:04:08.123456789Z four
                2026-01-02T03:04:09Z\s
                2026-01-02T04:04:10.000000001Z six with  spaces
                """, read(LOG, new CriLogReader.Options(null, null, true, null, false)));
    }

    @Test
    void tailCountsLinesOfOutputNotRecords() throws IOException {
        assertEquals("six with  spaces\n", read(LOG, tail(1)));
        assertEquals("four\n\nsix with  spaces\n", read(LOG, tail(3)));
        assertEquals("two\nthree\nfour\n\nsix with  spaces\n", read(LOG, tail(5)), "the joined line is one line; the malformed record none");
        assertEquals("one\ntwo\nthree\nfour\n\nsix with  spaces\n", read(LOG, tail(100)));
        assertEquals("", read(LOG, tail(0)));
        assertEquals("", read("", tail(3)));
    }

    @Test
    void anUnfinishedLineAtTheEndCountsAsOneAndARecordBeingWrittenIsNotRead() throws IOException {
        String log = "2026-01-02T03:04:05Z stdout F a\n2026-01-02T03:04:06Z stdout F b\n2026-01-02T03:04:07Z stdout P c1\n"
                + "2026-01-02T03:04:08Z stdout P c2\n2026-01-02T03:04:09Z stdout F half-writ";
        assertEquals("c1c2", read(log, tail(1)));
        assertEquals("b\nc1c2", read(log, tail(2)));
    }

    @Test
    void tailReadsBackwardsAcrossChunksOfALargeFile() throws IOException {
        Path f = dir.resolve("big.log");
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < 30_000; i++) {
            // records of different lengths, some split, so chunk edges fall everywhere
            if (i % 7 == 0) {
                s.append("2026-01-02T03:04:05Z stdout P line-").append(i).append("-first-half-\n");
            }
            s.append("2026-01-02T03:04:05Z stdout F line-").append(i).append("-".repeat(i % 13)).append('\n');
        }
        Files.writeString(f, s);
        assertTrue(Files.size(f) > 10 * 64 * 1024);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        reader.read(f, tail(4), out, () -> false, () -> false);
        StringBuilder expected = new StringBuilder();
        for (int i = 29_996; i < 30_000; i++) {
            expected.append(i % 7 == 0 ? "line-" + i + "-first-half-" : "").append("line-").append(i).append("-".repeat(i % 13)).append('\n');
        }
        assertEquals(expected.toString(), out.toString(StandardCharsets.UTF_8));
    }

    @Test
    void sinceDropsWholeLinesWrittenBefore() throws IOException {
        Instant since = Instant.parse("2026-01-02T03:04:06.200Z");
        // "two" began before `since` (its second record after): the whole line goes; "four" was written at 02:04:08 UTC
        assertEquals("three\n\nsix with  spaces\n", read(LOG, new CriLogReader.Options(null, since, false, null, false)));
        assertEquals("six with  spaces\n", read(LOG, new CriLogReader.Options(5L, Instant.parse("2026-01-02T04:00:00Z"), false, null, false)));
    }

    @Test
    void limitBytesCutsTheOutputThere() throws IOException {
        assertEquals("one\ntw", read(LOG, new CriLogReader.Options(null, null, false, 6L, false)));
        assertEquals("2026-01-02T03:04:05.1Z on", read(LOG, new CriLogReader.Options(null, null, true, 25L, false)));
    }

    @Test
    void followReadsWhatIsAppendedUntilTheContainerEnds() throws Exception {
        Path f = dir.resolve("0.log");
        Files.writeString(f, "2026-01-02T03:04:05Z stdout F first\n");
        AtomicBoolean running = new AtomicBoolean(true);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        CompletableFuture<Void> follower = CompletableFuture.runAsync(() -> {
            try {
                reader.read(f, new CriLogReader.Options(null, null, false, null, true), out, running::get, () -> false);
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        });
        awaitText(out, "first\n");
        // a record written in two writes: the reader waits for its end
        Files.writeString(f, "2026-01-02T03:04:06Z stdout P sec", StandardOpenOption.APPEND);
        Thread.sleep(50);
        Files.writeString(f, "ond-half\n2026-01-02T03:04:07Z stdout F !\n", StandardOpenOption.APPEND);
        awaitText(out, "first\nsecond-half!\n");
        // the last words and the exit at once: the words are read before the follow ends
        Files.writeString(f, "2026-01-02T03:04:08Z stderr F bye\n", StandardOpenOption.APPEND);
        running.set(false);
        follower.get(10, TimeUnit.SECONDS);
        assertEquals("first\nsecond-half!\nbye\n", out.toString(StandardCharsets.UTF_8));
    }

    @Test
    void followEndsWhenTheClientGoesAndFollowsARotatedFile() throws Exception {
        Path f = dir.resolve("0.log");
        Files.writeString(f, "2026-01-02T03:04:05Z stdout F old\n");
        AtomicBoolean gone = new AtomicBoolean();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        CompletableFuture<Void> follower = CompletableFuture.runAsync(() -> {
            try {
                reader.read(f, new CriLogReader.Options(null, null, false, null, true), out, () -> true, gone::get);
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        });
        awaitText(out, "old\n");
        Files.move(f, dir.resolve("0.log.1"));
        Files.writeString(f, "2026-01-02T03:04:06Z stdout F new\n");
        awaitText(out, "old\nnew\n");
        gone.set(true);
        follower.get(10, TimeUnit.SECONDS);
        assertEquals("old\nnew\n", out.toString(StandardCharsets.UTF_8));
    }

    private static void awaitText(ByteArrayOutputStream out, String text) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!out.toString(StandardCharsets.UTF_8).equals(text)) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("never read \"" + text + "\", only \"" + out.toString(StandardCharsets.UTF_8) + "\"");
            }
            Thread.sleep(5);
        }
    }
}
