package dev.berth.podsandbox.container.conmon;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The lines berth writes to conmon's control FIFO. */
class ConmonControlTest {
    @TempDir
    Path dir;

    @Test
    void aResizeNamesRowsThenColumns() {
        assertEquals("1 24 80\n", new String(ConmonControl.resize(80, 24), StandardCharsets.US_ASCII));
    }

    @Test
    void aLogReopenIsEventTwo() throws Exception {
        Path ctl = dir.resolve("ctl");
        Files.createFile(ctl); // a plain file stands in for the FIFO
        ConmonControl.reopenLog(ctl);
        assertEquals("2 0 0\n", Files.readString(ctl));
    }
}
