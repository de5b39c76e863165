package dev.berth.agent.status;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.agent.pod.PodDirs;
import dev.berth.cri.v1.ContainerMetadata;
import dev.berth.cri.v1.ContainerState;
import dev.berth.cri.v1.ContainerStatus;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerBuilder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Termination messages: the file, its limits, the runtime's message, the log fallback. */
class TerminationMessagesTest {
    @TempDir
    Path state;

    PodDirs dirs() {
        return new PodDirs(state);
    }

    Path messageFile(int attempt) throws Exception {
        Path f = dirs().terminationMessage("u1", "app", attempt);
        Files.createDirectories(f.getParent());
        return f;
    }

    static ContainerStatus exited(int attempt, int code, String log) {
        return ContainerStatus.newBuilder().setId("c").setMetadata(ContainerMetadata.newBuilder().setName("app").setAttempt(attempt))
                .setState(ContainerState.CONTAINER_EXITED).setExitCode(code).setLogPath(log == null ? "" : log).build();
    }

    static Container spec(String policy) {
        return new ContainerBuilder().withName("app").withImage("i").withTerminationMessagePolicy(policy).build();
    }

    @Test
    void theFileOfTheRunIsTheMessageUpTo4096Bytes() throws Exception {
        TerminationMessages m = new TerminationMessages(dirs());
        Files.writeString(messageFile(2), "it went wrong");
        assertEquals("it went wrong", m.message("u1", spec("File"), exited(2, 1, null)));
        assertEquals("", m.message("u1", spec("File"), exited(3, 1, null)), "another run's file is not this run's message");
        Files.writeString(messageFile(4), "x".repeat(5000));
        assertEquals(4096, m.message("u1", spec("File"), exited(4, 1, null)).length());
        assertEquals("", m.message("u1", spec("File"), exited(2, 1, null).toBuilder().setState(ContainerState.CONTAINER_RUNNING).build()),
                "a running container has no message");
    }

    @Test
    void aSymbolicLinkOrAFifoIsNotRead() throws Exception {
        TerminationMessages m = new TerminationMessages(dirs());
        Path secret = state.resolve("secret");
        Files.writeString(secret, "host secret");
        Files.createSymbolicLink(messageFile(0), secret);
        assertEquals("", m.message("u1", spec("File"), exited(0, 1, null)));
        Process mkfifo = new ProcessBuilder("mkfifo", messageFile(1).toString()).start();
        assertEquals(0, mkfifo.waitFor());
        assertEquals("", m.message("u1", spec("File"), exited(1, 1, null)), "a FIFO would block the reader");
        Files.createDirectories(messageFile(5));
        assertEquals("", m.message("u1", spec("File"), exited(5, 1, null)));
    }

    @Test
    void withoutAFileTheRuntimesMessageThenTheLogOfAFailedContainer() throws Exception {
        TerminationMessages m = new TerminationMessages(dirs());
        Path log = state.resolve("0.log");
        Files.writeString(log, """
                2026-01-02T03:04:05.000000001Z stdout F starting
                2026-01-02T03:04:05.000000002Z stderr P half a\s
                2026-01-02T03:04:05.000000003Z stderr F line
                2026-01-02T03:04:05.000000004Z stderr F panic: it broke
                """);
        assertEquals("from the runtime", m.message("u1", spec("FallbackToLogsOnError"),
                exited(0, 1, log.toString()).toBuilder().setMessage("from the runtime").build()));
        assertEquals("starting\nhalf a line\npanic: it broke", m.message("u1", spec("FallbackToLogsOnError"), exited(0, 1, log.toString())));
        assertEquals("", m.message("u1", spec("FallbackToLogsOnError"), exited(0, 0, log.toString())), "only a failed container's log");
        assertEquals("", m.message("u1", spec("File"), exited(0, 1, log.toString())), "only with FallbackToLogsOnError");
        Files.writeString(messageFile(0), "the file wins");
        assertEquals("the file wins", m.message("u1", spec("FallbackToLogsOnError"), exited(0, 1, log.toString())));
    }

    @Test
    void theLogFallbackIsTheLast80LinesAndAtMost2048Bytes() throws Exception {
        Path log = state.resolve("1.log");
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < 200; i++) {
            lines.add("2026-01-02T03:04:05.000000001Z stdout F line " + i);
        }
        Files.write(log, lines, StandardCharsets.UTF_8);
        String tail = TerminationMessages.tailLog(log);
        assertTrue(tail.startsWith("line 120\n"), tail);
        assertTrue(tail.endsWith("line 199"), tail);
        assertEquals(80, tail.split("\n").length);

        lines.clear();
        for (int i = 0; i < 5000; i++) {
            lines.add("2026-01-02T03:04:05.000000001Z stdout F " + "é".repeat(30) + i);
        }
        Files.write(log, lines, StandardCharsets.UTF_8);
        tail = TerminationMessages.tailLog(log);
        assertTrue(tail.getBytes(StandardCharsets.UTF_8).length <= 2048, "at most 2048 bytes");
        assertTrue(tail.getBytes(StandardCharsets.UTF_8).length > 2000);
        assertTrue(tail.endsWith("4999"));
        assertTrue(!tail.contains("\uFFFD"), "never a cut character");
        Path link = state.resolve("link.log");
        Files.createSymbolicLink(link, log);
        assertEquals("", TerminationMessages.tailLog(link));
    }
}
