package dev.berth.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.common.BerthException;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class StateLockTest {
    @TempDir
    Path dir;

    @Test
    void aSecondAgentOfTheSameProcessIsRefusedAndTheLockIsFreeAgainAfterClose() throws Exception {
        Path state = dir.resolve("root/agent");
        try (StateLock lock = StateLock.acquire(state)) {
            assertEquals(ProcessHandle.current().pid() + "\n", Files.readString(lock.file()));
            BerthException e = assertThrows(BerthException.class, () -> StateLock.acquire(state));
            assertTrue(e.getMessage().contains("another berth agent (pid " + ProcessHandle.current().pid() + ")"), e.getMessage());
            assertTrue(e.getMessage().contains(state.toString()), e.getMessage());
        }
        assertEquals("rwx------", java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(state)));
        StateLock.acquire(state).close();
    }

    @Test
    void anAgentInAnotherProcessIsNamedByItsPidAndItsDeathFreesTheLock() throws Exception {
        Path state = dir.resolve("agent");
        String java = ProcessHandle.current().info().command().orElse("java");
        Process holder = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"), LockHolder.class.getName(), state.toString())
                .redirectErrorStream(true).start();
        try {
            BufferedReader out = new BufferedReader(new InputStreamReader(holder.getInputStream(), StandardCharsets.UTF_8));
            assertEquals("locked", out.readLine());
            BerthException e = assertThrows(BerthException.class, () -> StateLock.acquire(state));
            assertTrue(e.getMessage().contains("another berth agent (pid " + holder.pid() + ")"), e.getMessage());
        } finally {
            holder.destroyForcibly();
            holder.waitFor(30, TimeUnit.SECONDS);
        }
        // killed, not closed: the kernel released its lock
        StateLock.acquire(state).close();
    }

    /** Holds the lock of the directory given as argument until killed. */
    public static final class LockHolder {
        public static void main(String[] args) throws Exception {
            StateLock.acquire(Path.of(args[0]));
            System.out.println("locked");
            System.out.flush();
            Thread.sleep(600_000);
        }
    }
}
