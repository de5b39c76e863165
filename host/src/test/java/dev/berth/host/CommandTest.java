package dev.berth.host;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.common.BerthException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class CommandTest {
    /** A CRI ExecSync of Long.MAX_VALUE seconds reached here and overflowed Duration.toMillis (INTERNAL). */
    @Test
    void aTimeoutTooLargeForMillisIsSaturatedNotAnOverflow() throws Exception {
        Command.Result r = Command.of(List.of("true")).timeout(Duration.ofSeconds(Long.MAX_VALUE))
                .drainAfterExit(Duration.ofSeconds(Long.MAX_VALUE)).execute();
        assertTrue(r.ok(), r.diagnostic());
        Command.Result huge = Command.of(List.of("true")).timeout(Duration.ofSeconds(594029905912552429L)).execute();
        assertTrue(huge.ok(), huge.diagnostic());
    }
    @Test
    void passesStdinAndEnvironmentAndCollectsBothStreams() throws Exception {
        Command.Result r = Command.of("/bin/sh", "-c", "cat; echo \"$X\" >&2; exit 3")
                .stdin("in".getBytes(StandardCharsets.UTF_8)).environment(env -> env.put("X", "from env")).execute();
        assertEquals(3, r.exitCode());
        assertFalse(r.ok());
        assertEquals("in", r.stdout());
        assertEquals("from env\n", r.stderr());
        assertEquals("from env", r.diagnostic());
    }

    @Test
    void stdinIsEmptyWithoutInput() {
        assertEquals("", Command.check("cat"));
    }

    @Test
    void keepsOutputUpToTheCap() throws Exception {
        Command.Result r = Command.of("/bin/sh", "-c", "head -c 100000 /dev/zero").outputCap(10).execute();
        assertTrue(r.ok());
        assertArrayEquals(new byte[10], r.out());
        assertTrue(r.outTruncated());
        assertFalse(r.errTruncated());
    }

    @Test
    void killsAProgramThatRunsOverItsTimeout() throws Exception {
        long start = System.nanoTime();
        Command.Result r = Command.of("/bin/sh", "-c", "echo started; exec sleep 30").timeout(Duration.ofMillis(300)).execute();
        assertTrue(r.timedOut());
        assertFalse(r.ok());
        assertEquals("started\n", r.stdout());
        assertTrue(System.nanoTime() - start < Duration.ofSeconds(10).toNanos());
        BerthException e = assertThrows(BerthException.class,
                () -> Command.run(List.of("/bin/sh", "-c", "sleep 30"), null, Duration.ofMillis(200)));
        assertEquals(BerthException.Kind.DEADLINE_EXCEEDED, e.kind());
    }

    @Test
    void aMissingProgramCannotStart() {
        assertThrows(IOException.class, () -> Command.of("/nonexistent/program").execute());
        assertEquals(BerthException.Kind.FAILED_PRECONDITION,
                assertThrows(BerthException.class, () -> Command.run("/nonexistent/program")).kind());
        assertEquals(BerthException.Kind.UNAVAILABLE, assertThrows(BerthException.class,
                () -> Command.run(List.of("/nonexistent/program"), null, Duration.ofSeconds(1))).kind());
    }
}
