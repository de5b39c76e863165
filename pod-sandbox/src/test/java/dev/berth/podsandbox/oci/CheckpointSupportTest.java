package dev.berth.podsandbox.oci;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.host.Command;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** What Status verbose says of checkpointing: CRIU absent, or what criu check fails on. */
class CheckpointSupportTest {
    static Command.Result result(int code, String err) {
        return new Command.Result(code, new byte[0], err.getBytes(StandardCharsets.UTF_8), false, false, false);
    }

    @Test
    void withoutCriuItSaysSo() {
        String s = CheckpointSupport.describe(name -> Optional.empty(), argv -> {
            throw new AssertionError("nothing to run");
        });
        assertTrue(s.startsWith("unsupported: CheckpointContainer is not implemented (UNIMPLEMENTED); "), s);
        assertTrue(s.contains("not installed"), s);
    }

    @Test
    void aFailingCriuCheckIsQuotedLineByLine() {
        List<List<String>> ran = new ArrayList<>();
        String s = CheckpointSupport.describe(name -> Optional.of(Path.of("/usr/sbin/criu")), argv -> {
            ran.add(argv);
            return result(1, "Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds\n"
                    + "Error (criu/crtools.c:260): Could not initialize kernel features detection.\n");
        });
        assertEquals(List.of(List.of("/usr/sbin/criu", "check")), ran);
        assertTrue(s.contains("CRIU cannot run on this host: /usr/sbin/criu check failed (exit status 1): "
                + "Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds; "
                + "Error (criu/crtools.c:260): Could not initialize kernel features detection."), s);
    }

    @Test
    void aPassingCriuCheckStillSaysBerthDoesNotCheckpoint() {
        String s = CheckpointSupport.describe(name -> Optional.of(Path.of("/usr/sbin/criu")), argv -> result(0, ""));
        assertTrue(s.startsWith("unsupported:") && s.contains("check passes, but berth has no checkpoint support"), s);
    }
}
