package dev.berth.podsandbox.container.stdio;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The pseudo-terminal berth gives TTY exec processes, with a plain host process on its slave side. */
@Timeout(value = 1, unit = TimeUnit.MINUTES)
class TerminalTest {
    private static Process run(Terminal t, String script) throws Exception {
        File slave = t.slave().toFile();
        return new ProcessBuilder("setsid", "--ctty", "--wait", "sh", "-c", script)
                .redirectInput(ProcessBuilder.Redirect.from(slave))
                .redirectOutput(ProcessBuilder.Redirect.appendTo(slave))
                .redirectError(ProcessBuilder.Redirect.appendTo(slave)).start();
    }

    private static String readAll(InputStream in) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        in.transferTo(out);
        return out.toString(StandardCharsets.UTF_8);
    }

    @Test
    void theSizeSetOnTheMasterIsWhatTheProcessSeesAndNoOutputIsLostAtExit() throws Exception {
        try (Terminal t = Terminal.open()) {
            t.resize(120, 40);
            Process p = run(t, "[ -t 0 ] && [ -t 1 ] && echo tty; stty size; exit 3");
            String out = readAll(t.output());
            assertEquals(3, p.waitFor());
            assertEquals("tty\n40 120\n", out, "raw: no output processing");
        }
    }

    @Test
    void inputReachesTheProcessRaw() throws Exception {
        try (Terminal t = Terminal.open()) {
            Process p = run(t, "head -c 4; echo end");
            t.input().write("abc\n".getBytes(StandardCharsets.UTF_8));
            String out = readAll(t.output());
            assertEquals(0, p.waitFor());
            assertEquals("abc\nend\n", out, "raw: no echo");
        }
    }

    @Test
    void closingTheTerminalReleasesItsDescriptor() throws Exception {
        long before = ptmx();
        Terminal t = Terminal.open();
        assertEquals(before + 1, ptmx());
        assertTrue(Files.exists(t.slave()), t.slave().toString());
        t.close();
        assertEquals(before, ptmx());
    }

    private static long ptmx() throws Exception {
        try (var fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.filter(fd -> {
                try {
                    return Files.readSymbolicLink(fd).toString().endsWith("ptmx");
                } catch (Exception e) {
                    return false;
                }
            }).count();
        }
    }
}
