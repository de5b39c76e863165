package dev.berth.cli.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.cri.berth.v1.LayerProgress;
import dev.berth.cri.berth.v1.LayerState;
import dev.berth.cri.berth.v1.PullStatus;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class PullDisplayTest {
    private static final String A = "sha256:" + "a".repeat(64);
    private static final String B = "sha256:" + "b".repeat(64);

    private static PullStatus status(LayerState a, long aDone, LayerState b) {
        return PullStatus.newBuilder().setImage("docker.io/library/busybox:latest").setTotalBytes(3_000_000).setDoneBytes(aDone + 1_000_000)
                .addLayers(LayerProgress.newBuilder().setDigest(A).setSize(2_000_000).setDone(aDone).setState(a))
                .addLayers(LayerProgress.newBuilder().setDigest(B).setSize(1_000_000).setDone(1_000_000).setState(b)).build();
    }

    private static String show(PullDisplay.Mode mode, boolean withDetail) {
        StringWriter s = new StringWriter();
        PullDisplay d = new PullDisplay(new PrintWriter(s), mode, "busybox");
        d.started();
        d.update(Duration.ofMillis(300), withDetail ? status(LayerState.LAYER_WAITING, 0, LayerState.LAYER_EXISTS) : null);
        d.update(Duration.ofMillis(600), withDetail ? status(LayerState.LAYER_DOWNLOADING, 500_000, LayerState.LAYER_EXISTS) : null);
        d.update(Duration.ofMillis(900), withDetail ? status(LayerState.LAYER_DOWNLOADING, 1_500_000, LayerState.LAYER_EXISTS) : null);
        d.finished(Duration.ofMillis(1200), withDetail ? status(LayerState.LAYER_DONE, 2_000_000, LayerState.LAYER_EXISTS) : null, true);
        return s.toString();
    }

    @Test
    void plainOutputIsOneLinePerLayerStateChangeWithoutEscapeCodes() {
        String out = show(PullDisplay.Mode.PLAIN, true);
        assertFalse(out.contains("\033"), out);
        assertEquals(List.of("Pulling busybox", "aaaaaaaaaaaaa: waiting 2MB", "bbbbbbbbbbbbb: exists 1MB", "aaaaaaaaaaaaa: downloading 2MB",
                "aaaaaaaaaaaaa: done 2MB", "Pulled busybox in 1.2s"), out.lines().toList());
    }

    @Test
    void aTerminalGetsABlockRedrawnInPlaceWithEachLayersBytes() {
        String out = show(PullDisplay.Mode.TTY, true);
        assertTrue(out.contains("\033[3A"), "the cursor goes back over the three lines drawn: " + out);
        assertTrue(out.contains("aaaaaaaaaaaaa  downloading 1.5MB / 2MB"), out);
        assertTrue(out.contains("bbbbbbbbbbbbb  exists      1MB"), out);
        assertTrue(out.contains("Pulling busybox 1.2s  3MB / 3MB"), out);
        assertTrue(out.endsWith("\n"), "the cursor ends below the block");
    }

    @Test
    void withoutTheSideChannelATerminalShowsTheElapsedTimeAndPlainOutputOnlyTheStart() {
        String tty = show(PullDisplay.Mode.TTY, false);
        assertTrue(tty.contains("Pulling busybox 0.9s") && tty.contains("\033[1A"), tty);
        assertEquals(List.of("Pulling busybox", "Pulled busybox in 1.2s"), show(PullDisplay.Mode.PLAIN, false).lines().toList());
        assertEquals("", show(PullDisplay.Mode.QUIET, true));
    }
}
