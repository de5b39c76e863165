package dev.berth.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The work Daemon holds back until the CRI is served (the runtime handler probes, CRIU's check). */
class DaemonAfterReadyTest {
    @Test
    void workGivenBeforeReadyRunsOnlyWhenOpenedInOrderThenAtOnce() {
        Daemon.AfterReady afterReady = new Daemon.AfterReady();
        List<String> ran = new ArrayList<>();
        afterReady.execute(() -> ran.add("probes"));
        afterReady.execute(() -> ran.add("checkpoint"));
        assertEquals(List.of(), ran, "nothing runs while the daemon is starting");
        afterReady.open();
        assertEquals(List.of("probes", "checkpoint"), ran);
        afterReady.execute(() -> ran.add("later"));
        assertEquals(List.of("probes", "checkpoint", "later"), ran);
    }

    @Test
    void workOfAStartThatNeverGotReadyNeverRuns() {
        Daemon.AfterReady afterReady = new Daemon.AfterReady();
        List<String> ran = new ArrayList<>();
        afterReady.execute(() -> ran.add("probes"));
        assertEquals(List.of(), ran);
    }
}
