package dev.berth.agent.cgroup;

import static dev.berth.agent.cgroup.QosCgroupsTest.container;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import dev.berth.agent.pod.QosClass;
import dev.berth.cgroups.Resources;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.PodSpecBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The kubelet's pod cgroup formulas. */
class PodCgroupResourcesTest {
    private static final long MIB = 1L << 20;

    @Test
    void guaranteedGetsSharesQuotaAndMemory() {
        PodSpec spec = new PodSpecBuilder().withContainers(container("a", "1", "1", "1Gi", "1Gi"),
                container("b", "10m", "10m", "5Mi", "5Mi")).build();
        PodCgroupResources r = PodCgroupResources.of(spec, null);
        assertEquals(QosClass.GUARANTEED, r.qos());
        assertEquals(1010, r.cpuRequestMilli());
        assertEquals(new Resources(1034L, 101_000L, 100_000L, null, null, 1029 * MIB, null, null, null, Map.of(), Map.of()),
                r.resources());
    }

    @Test
    void aRequestDefaultsToItsLimitAndTheSmallestAreTwoSharesAndOneMillisecond() {
        PodSpec spec = new PodSpecBuilder().withContainers(container("a", null, "1m", null, "10Mi")).build();
        PodCgroupResources r = PodCgroupResources.of(spec, null);
        assertEquals(QosClass.GUARANTEED, r.qos());
        assertEquals(1, r.cpuRequestMilli());
        assertEquals(2L, r.resources().cpuShares(), "1m is 1 share by the formula, at least 2");
        assertEquals(1000L, r.resources().cpuQuota(), "0.1 ms by the formula, at least 1 ms");
    }

    @Test
    void initContainersCountByTheLargestAndOverheadIsAdded() {
        PodSpec spec = new PodSpecBuilder()
                .withInitContainers(container("i1", "2", "2", "100Mi", "100Mi"), container("i2", "100m", "100m", "300Mi", "300Mi"))
                .withContainers(container("a", "500m", "500m", "100Mi", "100Mi"), container("b", "500m", "500m", "100Mi", "100Mi"))
                .withOverhead(Map.of("cpu", new Quantity("250m"), "memory", new Quantity("20Mi"))).build();
        PodCgroupResources r = PodCgroupResources.of(spec, null);
        assertEquals(2250, r.cpuRequestMilli(), "init i1's 2 cpus beat the apps' 1, plus the overhead");
        assertEquals(2304L, r.resources().cpuShares());
        assertEquals(225_000L, r.resources().cpuQuota());
        assertEquals(320 * MIB, r.resources().memoryLimitBytes(), "init i2's 300Mi beat the apps' 200Mi, plus the overhead");
    }

    @Test
    void burstableGetsALimitOnlyWhenEveryContainerHasOne() {
        PodSpec cpuOnly = new PodSpecBuilder().withContainers(container("a", "100m", "200m", "10Mi", null),
                container("b", null, "300m", null, "20Mi")).build();
        PodCgroupResources r = PodCgroupResources.of(cpuOnly, 100L);
        assertEquals(QosClass.BURSTABLE, r.qos());
        assertEquals(400, r.cpuRequestMilli(), "b requests its limit");
        assertEquals(new Resources(409L, 50_000L, 100_000L, null, null, -1L, null, null, 100L, Map.of(), Map.of()), r.resources(),
                "cpu limited by both, memory by one only: unlimited");

        PodSpec initUnlimited = new PodSpecBuilder().withInitContainers(container("i", "100m", null, null, null))
                .withContainers(container("a", "100m", "200m", "10Mi", "10Mi")).build();
        PodCgroupResources u = PodCgroupResources.of(initUnlimited, null);
        assertEquals(-1L, u.resources().cpuQuota(), "the init container has no cpu limit");
        assertEquals(-1L, u.resources().memoryLimitBytes());
        assertNull(u.resources().pidsLimit());
    }

    @Test
    void bestEffortGetsTheMinimumSharesAndNoLimits() {
        PodCgroupResources r = PodCgroupResources.of(new PodSpecBuilder().withContainers(container("a", null, null, null, null)).build(),
                0L);
        assertEquals(QosClass.BEST_EFFORT, r.qos());
        assertEquals(0, r.cpuRequestMilli());
        assertEquals(new Resources(2L, -1L, 100_000L, null, null, -1L, null, null, null, Map.of(), Map.of()), r.resources());
    }

    @Test
    void sharesAreClamped() {
        assertEquals(2, PodCgroupResources.shares(0));
        assertEquals(2, PodCgroupResources.shares(1));
        assertEquals(1024, PodCgroupResources.shares(1000));
        assertEquals(262_144, PodCgroupResources.shares(1_000_000));
        assertEquals(-1, PodCgroupResources.quota(0));
    }
}
