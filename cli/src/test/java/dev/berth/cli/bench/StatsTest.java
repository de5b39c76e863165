package dev.berth.cli.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.junit.jupiter.api.Test;

class StatsTest {
    @Test
    void percentilesAreNearestRankOfTheSortedSamples() {
        List<Double> s = new ArrayList<>();
        for (int i = 1; i <= 100; i++) {
            s.add((double) i);
        }
        Collections.shuffle(s, new java.util.Random(18));
        assertEquals(50.0, Stats.percentile(s, 50));
        assertEquals(95.0, Stats.percentile(s, 95));
        assertEquals(99.0, Stats.percentile(s, 99));
        assertEquals(100.0, Stats.percentile(s, 100));
        assertEquals(50.5, Stats.mean(s));
    }

    @Test
    void fewSamplesGiveMeasuredValuesNotInterpolations() {
        List<Double> s = List.of(10.0, 30.0, 20.0);
        assertEquals(20.0, Stats.percentile(s, 50)); // rank ceil(1.5) = 2
        assertEquals(30.0, Stats.percentile(s, 95));
        assertEquals(30.0, Stats.percentile(s, 99));
        assertEquals(10.0, Stats.percentile(List.of(10.0, 30.0), 50)); // rank 1
        assertEquals(7.0, Stats.percentile(List.of(7.0), 1));
    }

    @Test
    void noSamplesIsNotANumberAndABadPercentileIsRefused() {
        assertTrue(Double.isNaN(Stats.percentile(List.of(), 50)));
        assertTrue(Double.isNaN(Stats.mean(List.of())));
        assertThrows(IllegalArgumentException.class, () -> Stats.percentile(List.of(1.0), 0));
        assertThrows(IllegalArgumentException.class, () -> Stats.percentile(List.of(1.0), 101));
    }

    @Test
    void aFailedCallIsAnErrorNotASample() {
        Recorder r = new Recorder();
        r.time("RunPodSandbox", () -> 1);
        assertThrows(Recorder.CallFailed.class, () -> r.time("RunPodSandbox", () -> {
            throw io.grpc.Status.UNAVAILABLE.withDescription("gone").asRuntimeException();
        }));
        Results.Call c = r.summary().get("RunPodSandbox");
        assertEquals(1, c.count());
        assertEquals(1, c.errors());
        assertEquals("UNAVAILABLE: gone", c.firstError());
        assertEquals(1, r.totalErrors());
    }
}
