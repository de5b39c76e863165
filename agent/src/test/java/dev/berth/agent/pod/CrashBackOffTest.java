package dev.berth.agent.pod;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The crash back-off's schedule, on a clock the test moves: the kubelet's 10 s doubling to 5 min, reset after 10 min of running. */
class CrashBackOffTest {
    long now = 1_000_000_000_000L;
    final CrashBackOff backOff = new CrashBackOff(RestartSettings.defaults(), () -> now);

    void advance(Duration d) {
        now += d.toNanos();
    }

    /** A container that exits at once after each start: the waits between its exit and its next start. */
    List<Long> crashLoop(int restarts) {
        List<Long> waits = new ArrayList<>();
        for (int i = 0; i < restarts; i++) {
            long exit = now;
            long waited = 0;
            while (backOff.holdBack("app", exit)) {
                advance(Duration.ofSeconds(1));
                waited++;
            }
            waits.add(waited);
        }
        return waits;
    }

    @Test
    void theFirstRestartIsAtOnceThenTenSecondsDoublingToFiveMinutes() {
        assertEquals(List.of(0L, 10L, 20L, 40L, 80L, 160L, 300L, 300L), crashLoop(8));
        assertEquals(Duration.ofMinutes(5), backOff.current("app"));
    }

    @Test
    void aContainerThatRanLongerThanTwiceTheCapStartsOver() {
        crashLoop(5); // back-off now 160 s
        assertEquals(Duration.ofSeconds(160), backOff.current("app"));
        // it runs 10 min and a second after its restart: stable, the back-off starts over
        advance(Duration.ofMinutes(10).plusSeconds(1));
        assertFalse(backOff.holdBack("app", now), "restarted at once");
        assertEquals(Duration.ofSeconds(10), backOff.current("app"));
        assertEquals(List.of(10L, 20L), crashLoop(2));
    }

    @Test
    void aRunOfExactlyTwiceTheCapDoesNotReset() {
        crashLoop(3); // restarted with a back-off of 40 s
        advance(Duration.ofMinutes(10));
        long exit = now;
        assertTrue(backOff.holdBack("app", exit), "the kubelet resets only after more than twice the cap");
        advance(Duration.ofSeconds(40));
        assertFalse(backOff.holdBack("app", exit));
        assertEquals(Duration.ofSeconds(80), backOff.current("app"));
    }

    @Test
    void theWaitCountsFromTheExitNotFromWhenTheAgentLooks() {
        crashLoop(2); // restarted after 10 s: the next wait is 20 s
        assertEquals(Duration.ofSeconds(20), backOff.current("app"));
        long exit = now;
        assertEquals(exit + Duration.ofSeconds(20).toNanos(), backOff.until("app", exit));
        advance(Duration.ofSeconds(25)); // the agent looks again only now: the 20 s since the exit are over
        assertFalse(backOff.holdBack("app", exit));
        assertEquals(Duration.ofSeconds(40), backOff.current("app"));
    }

    @Test
    void containersHaveTheirOwnBackOffAndStableOnesAreForgotten() {
        crashLoop(4);
        assertFalse(backOff.holdBack("other", now));
        assertEquals(Duration.ofSeconds(10), backOff.current("other"));
        assertEquals(Duration.ofSeconds(80), backOff.current("app"), "waits 0, 10, 20, 40: the next is 80 s");
        advance(Duration.ofMinutes(11));
        backOff.forgetStable();
        assertEquals(Duration.ZERO, backOff.current("app"));
    }

    @Test
    void configuredTimesAndTheKubeletsNotation() {
        now = 0;
        CrashBackOff fast = new CrashBackOff(new RestartSettings(Duration.ofSeconds(1), Duration.ofSeconds(4)), () -> now);
        List<Long> waits = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            long exit = now;
            long waited = 0;
            while (fast.holdBack("app", exit)) {
                now += 100_000_000L;
                waited += 100;
            }
            waits.add(waited);
        }
        assertEquals(List.of(0L, 1000L, 2000L, 4000L, 4000L), waits);
        assertEquals("10s", CrashBackOff.goDuration(Duration.ofSeconds(10)));
        assertEquals("1m20s", CrashBackOff.goDuration(Duration.ofSeconds(80)));
        assertEquals("2m40s", CrashBackOff.goDuration(Duration.ofSeconds(160)));
        assertEquals("5m0s", CrashBackOff.goDuration(Duration.ofMinutes(5)));
        assertEquals("1.5s", CrashBackOff.goDuration(Duration.ofMillis(1500)));
        assertEquals("100ms", CrashBackOff.goDuration(Duration.ofMillis(100)));
        assertEquals("1h0m0s", CrashBackOff.goDuration(Duration.ofHours(1)));
    }
}
