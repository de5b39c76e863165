package dev.berth.podsandbox.stats;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import dev.berth.cgroups.Cgroups.CgroupStats;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class UsageConversionTest {
    private static CgroupStats stats(long ts, long cpu, long usage, long workingSet, long limit,
                                     Map<String, double[]> psi) {
        return new CgroupStats(ts, cpu, cpu / 2, cpu / 2, 0, 0, usage, workingSet, 7_000, limit, 120, 3, 4096, 5, 1,
                Map.of(), psi);
    }

    @Test
    void theFirstSampleHasNoRateAndTheSecondGivesNanoCores() {
        CpuRates rates = new CpuRates(Duration.ZERO);
        assertNull(rates.sample("c/a", 1_000_000_000L, 5_000_000_000L));
        // 0.5 s of CPU over 2 s of wall clock: a quarter of a core
        assertEquals(250_000_000L, rates.sample("c/a", 3_000_000_000L, 5_500_000_000L));
        // one and a half cores over the next second
        assertEquals(1_500_000_000L, rates.sample("c/a", 4_000_000_000L, 7_000_000_000L));
        // another key has its own history
        assertNull(rates.sample("c/b", 4_000_000_000L, 1));
    }

    @Test
    void aSampleAtTheSameInstantOrACounterResetHasNoRate() {
        CpuRates rates = new CpuRates(Duration.ZERO);
        rates.sample("k", 10, 100);
        assertNull(rates.sample("k", 10, 100));
        assertNull(rates.sample("k", 20, 50), "a smaller counter is a new cgroup");
        assertEquals(1_000_000_000L, rates.sample("k", 30, 60), "measured from the reset sample");
    }

    @Test
    void anOlderConcurrentSampleIsMeasuredAgainstTheKeptOneWithoutReplacingIt() {
        CpuRates rates = new CpuRates(Duration.ZERO);
        rates.sample("k", 100, 1000);
        rates.sample("k", 200, 2000);
        assertEquals(10_000_000_000L, rates.sample("k", 150, 1500));
        assertEquals(10_000_000_000L, rates.sample("k", 300, 3000), "still measured from the sample at 200");
    }

    @Test
    void aSampleSoonerThanTheMinimumIntervalIsMeasuredFromTheKeptOne() {
        CpuRates rates = new CpuRates(Duration.ofMillis(100));
        long ms = 1_000_000L;
        rates.sample("k", 1000 * ms, 0);
        assertEquals(1_000_000_000L, rates.sample("k", 1200 * ms, 200 * ms));
        // 1 ms later, with no CPU used in that millisecond: still measured over 201 ms
        assertEquals((long) (200 * ms * 1e9 / (201 * ms)), rates.sample("k", 1201 * ms, 200 * ms));
        assertEquals(500_000_000L, rates.sample("k", 1400 * ms, 300 * ms), "from the sample at 1200 ms");
    }

    @Test
    void retainForgetsRemovedKeysOfOnePrefixOnly() {
        CpuRates rates = new CpuRates(Duration.ZERO);
        rates.sample("c/a", 1, 1);
        rates.sample("c/b", 1, 1);
        rates.sample("p/a", 1, 1);
        rates.retain("c/", List.of("b"));
        assertEquals(2, rates.size());
        assertNull(rates.sample("c/a", 2, 2), "c/a was forgotten");
        assertEquals(1_000_000_000L, rates.sample("p/a", 2, 2));
    }

    @Test
    void availableMemoryIsTheLimitMinusTheWorkingSet() {
        Usage.Memory m = Usage.Memory.of(stats(5, 0, 90 << 20, 60 << 20, 100 << 20, Map.of()));
        assertEquals(60L << 20, m.workingSetBytes());
        assertEquals(40L << 20, m.availableBytes());
        assertEquals(90L << 20, m.usageBytes());
        assertEquals(7_000, m.rssBytes());
        assertEquals(120, m.pageFaults());
        assertEquals(3, m.majorPageFaults());
        assertEquals(5, m.timestampNanos());
    }

    @Test
    void availableMemoryIsAbsentWithoutALimitAndNeverNegative() {
        assertNull(Usage.Memory.of(stats(5, 0, 10, 10, Long.MAX_VALUE, Map.of())).availableBytes());
        assertEquals(0L, Usage.Memory.of(stats(5, 0, 200, 150, 100, Map.of())).availableBytes());
    }

    @Test
    void aCgroupSnapshotCarriesCpuSwapProcessesAndPressure() {
        double[] cpuPsi = {1.5, 2.5, 3.5, 4000, 0.5, 0.25, 0.125, 900};
        Usage.Cgroup c = StatsCollector.convert(stats(42, 8_000, 1, 1, Long.MAX_VALUE,
                Map.of("cpu", cpuPsi, "io", new double[] {1, 2})), 77L);
        assertEquals(42, c.timestampNanos());
        assertEquals(8_000, c.cpu().usageCoreNanos());
        assertEquals(77L, c.cpu().usageNanoCores());
        assertEquals(4096, c.swapUsageBytes());
        assertEquals(5, c.processes());
        assertEquals(1, c.oomKills());
        assertEquals(new Usage.Pressure(new Usage.Pressure.Line(1.5, 2.5, 3.5, 4000),
                new Usage.Pressure.Line(0.5, 0.25, 0.125, 900)), c.pressure().get("cpu"));
        assertNull(c.pressure().get("io"), "a malformed PSI entry is left out");
    }

    @Test
    void procNetDevIsParsedPerInterface() {
        String text = """
                Inter-|   Receive                                                |  Transmit
                 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
                    lo:     840      10    0    0    0     0          0         0      840      10    0    0    0     0       0          0
                  eth0: 1234567    890    1    2    0     0          0         3   765432      456    4    5    0     0       0          0
                """;
        List<Usage.Interface> ifs = NetDev.parse(text);
        assertEquals(List.of(new Usage.Interface("lo", 840, 10, 0, 0, 840, 10, 0, 0),
                new Usage.Interface("eth0", 1234567, 890, 1, 2, 765432, 456, 4, 5)), ifs);
        Usage.Pod pod = new Usage.Pod("p", "n", "u", "ns", 0, Map.of(), Map.of(), 1, null, 1, ifs, List.of());
        assertEquals("eth0", pod.defaultInterface().name());
    }
}
