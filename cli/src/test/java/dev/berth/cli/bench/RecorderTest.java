package dev.berth.cli.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class RecorderTest {
    private final AtomicLong clock = new AtomicLong();
    private final Recorder rec = new Recorder(clock::get);

    private String stub() {
        clock.addAndGet(100_000_000); // making a stub and its deadline: 100 ms on the fake clock
        return "stub";
    }

    private String request() {
        clock.addAndGet(50_000_000); // building the request: 50 ms
        return "request";
    }

    @Test
    void aCallIsTimedWithoutMakingItsStubOrRequest() {
        String out = rec.call("Version", stub(), request(), (s, q) -> {
            clock.addAndGet(2_000_000); // the round trip: 2 ms
            return s + " " + q;
        });

        assertEquals("stub request", out);
        assertEquals(List.of(2.0), rec.summary().get("Version").samplesMs());
    }

    @Test
    void aFailedCallIsAnErrorAndNoSample() {
        assertThrows(Recorder.CallFailed.class, () -> rec.call("Status", stub(), request(), (s, q) -> {
            throw new IllegalStateException("gone");
        }));

        Results.Call c = rec.summary().get("Status");
        assertEquals(0, c.count());
        assertEquals(1, c.errors());
        assertEquals("IllegalStateException: gone", c.firstError());
    }
}
