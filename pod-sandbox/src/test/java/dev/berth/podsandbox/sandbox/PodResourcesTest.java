package dev.berth.podsandbox.sandbox;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import dev.berth.cgroups.Resources;
import java.util.Map;
import org.junit.jupiter.api.Test;

class PodResourcesTest {
    static Resources r(Long shares, Long quota, Long memory) {
        return new Resources(shares, quota, 100_000L, null, null, memory, null, null, null, Map.of(), Map.of());
    }

    @Test
    void overheadAddsToThePodLevelResources() {
        Resources sum = SandboxService.podResources(r(1024L, 200_000L, 512L << 20), r(100L, 10_000L, 64L << 20));
        assertEquals(1124L, sum.cpuShares());
        assertEquals(210_000L, sum.cpuQuota());
        assertEquals(576L << 20, sum.memoryLimitBytes());
    }

    @Test
    void anUnlimitedPodStaysUnlimitedAndEitherAloneIsTakenAsIs() {
        Resources sum = SandboxService.podResources(r(1024L, null, null), r(100L, 10_000L, 64L << 20));
        assertNull(sum.cpuQuota());
        assertNull(sum.memoryLimitBytes());
        Resources overhead = r(100L, 10_000L, 64L << 20);
        assertEquals(overhead, SandboxService.podResources(null, overhead));
        assertEquals(Resources.none(), SandboxService.podResources(null, null));
    }
}
