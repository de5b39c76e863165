package dev.berth.cgroups;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.berth.common.BerthException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class ConversionsTest {
    @ParameterizedTest
    @CsvSource({"2,1", "1024,39", "512,20", "100,4", "262144,10000", "0,1", "1,1", "300000,10000", "10240,391"})
    void sharesMapOntoWeightLinearly(long shares, long weight) {
        assertEquals(weight, Conversions.sharesToWeight(shares));
    }

    @ParameterizedTest
    @CsvSource({"1,2", "39,999", "10000,262144", "20,501"})
    void weightMapsBackToTheSmallestSharesGivingIt(long weight, long shares) {
        assertEquals(shares, Conversions.weightToShares(weight));
        assertEquals(weight, Conversions.sharesToWeight(shares));
        if (weight > 1) {
            assertEquals(weight - 1, Conversions.sharesToWeight(shares - 1));
        }
    }

    @Test
    void everyWeightRoundTripsThroughShares() {
        for (long w = 1; w <= 10000; w++) {
            assertEquals(w, Conversions.sharesToWeight(Conversions.weightToShares(w)), "weight " + w);
        }
    }

    @Test
    void weightOutsideItsRangeIsInvalid() {
        assertInvalid(() -> Conversions.weightToShares(0));
        assertInvalid(() -> Conversions.weightToShares(10001));
    }

    @Test
    void quotaAndPeriodBecomeCpuMax() {
        assertEquals("50000 100000", Conversions.cpuMax(50_000L, 100_000L));
        assertEquals("25000 100000", Conversions.cpuMax(25_000L, null), "the default period is 100 ms");
        assertEquals("150000 50000", Conversions.cpuMax(150_000L, 50_000L));
        assertEquals("max 100000", Conversions.cpuMax(-1L, 100_000L));
        assertEquals("max 20000", Conversions.cpuMax(0L, 20_000L), "a period alone keeps the quota unlimited");
        assertNull(Conversions.cpuMax(null, null));
        assertNull(Conversions.cpuMax(0L, 0L));
    }

    @Test
    void quotaAndPeriodOutsideKernelLimitsAreInvalid() {
        assertInvalid(() -> Conversions.cpuMax(500L, 100_000L));
        assertInvalid(() -> Conversions.cpuMax(-5L, 100_000L));
        assertInvalid(() -> Conversions.cpuMax(50_000L, 999L));
        assertInvalid(() -> Conversions.cpuMax(50_000L, 1_000_001L));
    }

    @Test
    void swapLimitIsTotalMinusMemoryOnV2() {
        long mib = 1 << 20;
        assertEquals(Long.toString(64 * mib), Conversions.v2SwapMax(128 * mib, 192 * mib));
        assertEquals("0", Conversions.v2SwapMax(128 * mib, 128 * mib), "total = memory allows no swap");
        assertEquals("max", Conversions.v2SwapMax(128 * mib, -1L));
        assertEquals("max", Conversions.v2SwapMax(null, -1L));
        assertNull(Conversions.v2SwapMax(128 * mib, null));
        assertNull(Conversions.v2SwapMax(128 * mib, 0L));
        assertInvalid(() -> Conversions.v2SwapMax(128 * mib, 64 * mib));
        assertInvalid(() -> Conversions.v2SwapMax(null, 64 * mib));
        assertInvalid(() -> Conversions.v2SwapMax(-1L, 64 * mib));
    }

    @Test
    void swapLimitIsTheTotalOnV1() {
        assertEquals(300L, Conversions.v1MemswLimit(200L, 300L));
        assertEquals(-1L, Conversions.v1MemswLimit(200L, -1L));
        assertNull(Conversions.v1MemswLimit(200L, null));
        assertInvalid(() -> Conversions.v1MemswLimit(200L, 100L));
    }

    @Test
    void memoryAndPidsLimits() {
        assertNull(Conversions.memoryLimit(0L));
        assertEquals(4096L, Conversions.memoryLimit(4096L));
        assertEquals("max", Conversions.v2Bytes(-1));
        assertEquals("4096", Conversions.v2Bytes(4096));
        assertInvalid(() -> Conversions.memoryLimit(-2L));
        assertEquals("max", Conversions.pidsMax(-1L));
        assertEquals("42", Conversions.pidsMax(42L));
        assertNull(Conversions.pidsMax(0L));
        assertInvalid(() -> Conversions.pidsMax(-7L));
    }

    @Test
    void cpusetListsAreChecked() {
        assertEquals("0-3,5", Conversions.cpuset("0-3,5", "cpus"));
        assertEquals("0", Conversions.cpuset("0", "cpus"));
        assertNull(Conversions.cpuset("", "cpus"));
        for (String bad : new String[] {"a", "0-", "-1", "3-1", "1,,2", "0-1-2", "1,", "0 1", "99999999"}) {
            assertInvalid(() -> Conversions.cpuset(bad, "cpus"));
        }
    }

    @Test
    void hugepageSizesAreChecked() {
        assertEquals("2MB", Conversions.hugepageSize("2MB"));
        assertEquals("1GB", Conversions.hugepageSize("1GB"));
        for (String bad : new String[] {"2M", "MB", "2mb", "x2MB", "2TB", ""}) {
            assertInvalid(() -> Conversions.hugepageSize(bad));
        }
    }

    static void assertInvalid(org.junit.jupiter.api.function.Executable e) {
        BerthException ex = assertThrows(BerthException.class, e);
        assertEquals(BerthException.Kind.INVALID_ARGUMENT, ex.kind(), ex.getMessage());
    }
}
