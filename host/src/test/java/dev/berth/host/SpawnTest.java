package dev.berth.host;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.FileInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SpawnTest {
    @TempDir
    Path dir;

    @BeforeEach
    void needsSpawn() {
        assumeTrue(Spawn.available(), "this C library has no posix_spawn_file_actions_addclosefrom_np");
    }

    @Test
    void theChildGetsItsDescriptorsEnvironmentAndDirectoryAndItsExitStatusIsReaped() throws Exception {
        Path out = dir.resolve("fd3");
        Files.writeString(out, "");
        Path cwd = Files.createDirectory(dir.resolve("cwd"));
        Path devNull = Path.of("/dev/null");
        int pid = Spawn.start(List.of("/bin/sh", "-c", "echo hi >&3; echo \"$X\" >&3; pwd >&3; exit 7"),
                Map.of("X", "from env", "PATH", "/usr/bin:/bin"), cwd,
                List.of(Spawn.Open.read(0, devNull), Spawn.Open.write(1, devNull), Spawn.Open.write(2, devNull),
                        Spawn.Open.write(3, out)));
        assertEquals(7, Spawn.reap(pid, 30_000));
        assertEquals("hi\nfrom env\n" + cwd.toRealPath() + "\n", Files.readString(out));
    }

    @Test
    void onlyTheGivenDescriptorsReachTheChildAndNoSignalIsBlockedOrIgnoredBeyondWhatTheJdkLeaves() throws Exception {
        Path out = dir.resolve("fd3");
        Files.writeString(out, "");
        Path devNull = Path.of("/dev/null");
        // a descriptor berth holds open without close-on-exec must not reach the child
        try (FileInputStream held = new FileInputStream(out.toFile())) {
            int pid = Spawn.start(List.of("/bin/sleep", "60"), Map.of(), dir,
                    List.of(Spawn.Open.read(0, devNull), Spawn.Open.write(1, devNull), Spawn.Open.write(2, devNull),
                            Spawn.Open.write(3, out)));
            try {
                // posix_spawn returns once the child has exec'd: what /proc shows is sleep's own, which
                // may for a moment hold a file of its own start-up (the locale archive) as the next
                // descriptor; a descriptor that leaked from berth would stay
                Set<Integer> fds = new TreeSet<>();
                long deadline = System.nanoTime() + 5_000_000_000L;
                do {
                    fds.clear();
                    try (Stream<Path> s = Files.list(Path.of("/proc/" + pid + "/fd"))) {
                        s.forEach(p -> fds.add(Integer.parseInt(p.getFileName().toString())));
                    }
                    if (!fds.equals(Set.of(0, 1, 2, 3))) {
                        Thread.sleep(20);
                    }
                } while (!fds.equals(Set.of(0, 1, 2, 3)) && System.nanoTime() < deadline);
                assertEquals(Set.of(0, 1, 2, 3), fds);
                assertEquals(out.toRealPath(), Files.readSymbolicLink(Path.of("/proc/" + pid + "/fd/3")));
                assertEquals(dir.toRealPath(), Files.readSymbolicLink(Path.of("/proc/" + pid + "/cwd")));
                List<String> status = Files.readAllLines(Path.of("/proc/" + pid + "/status"));
                assertTrue(status.contains("SigBlk:\t0000000000000000"), String.join("\n", status));
                // glibc's posix_spawn leaves its two internal signals ignored, as in a child the JDK starts
                assertTrue(status.contains(sigIgnOfAJdkChild()), String.join("\n", status));
            } finally {
                assertEquals(-1, Spawn.reap(pid, 0), "still running: killed and reaped");
            }
            assertTrue(!Files.exists(Path.of("/proc/" + pid)) || !Files.readString(Path.of("/proc/" + pid + "/stat"))
                    .contains(" Z "), "no zombie left");
        }
    }

    private static String sigIgnOfAJdkChild() throws Exception {
        Process p = new ProcessBuilder("/bin/grep", "^SigIgn:", "/proc/self/status").start();
        String line = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8).trim();
        assertEquals(0, p.waitFor());
        return line;
    }

    @Test
    void aProgramThatCannotBeStartedIsAnIOException() {
        IOException e = assertThrows(IOException.class, () -> Spawn.start(List.of(dir.resolve("none").toString()),
                Map.of(), dir, List.of()));
        assertTrue(e.getMessage().contains("none"), e.getMessage());
    }

    @Test
    void aDescriptorThatCannotBeOpenedFailsTheStart() {
        assertThrows(IOException.class, () -> Spawn.start(List.of("/bin/true"), Map.of(), dir,
                List.of(Spawn.Open.write(3, dir.resolve("missing/file")))));
    }
}
