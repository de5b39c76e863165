package dev.berth.criserver.cri;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.cri.v1.ContainerMetrics;
import dev.berth.cri.v1.Metric;
import dev.berth.cri.v1.MetricDescriptor;
import dev.berth.cri.v1.MetricType;
import dev.berth.cri.v1.PodSandboxMetrics;
import dev.berth.podsandbox.stats.Usage;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** The cAdvisor-named series berth reports of a pod and its containers. */
class PodMetricsRpcsTest {
    private static Usage.Cgroup cgroup(long cpuNanos, long workingSet) {
        return new Usage.Cgroup(100, new Usage.Cpu(100, cpuNanos, null),
                new Usage.Memory(100, workingSet, null, workingSet + 10, 33, 7, 2), 5, 4, 2, Map.of());
    }

    private static PodSandboxMetrics sample() {
        Usage.Container c = new Usage.Container("c1", "pod1", "app", 0, "docker.io/library/busybox:1", Map.of(), Map.of(),
                100, cgroup(7_900_000_000L, 4096), new Usage.Filesystem(90, Path.of("/var/lib/berth/containers"), 8192, 12));
        Usage.Container stopped = new Usage.Container("c2", "pod1", "init", 0, "busybox", Map.of(), Map.of(), 100, null, null);
        Usage.Pod p = new Usage.Pod("pod1", "web", "uid1", "prod", 0, Map.of(), Map.of(), 100,
                cgroup(9_000_000_000L, 8192), 120,
                List.of(new Usage.Interface("lo", 1, 1, 0, 0, 1, 1, 0, 0),
                        new Usage.Interface("eth0", 1000, 10, 1, 2, 2000, 20, 3, 4)),
                List.of(c, stopped));
        return PodMetricsRpcs.pod(p);
    }

    private static Map<String, Metric> byName(List<Metric> ms) {
        return ms.stream().collect(Collectors.toMap(Metric::getName, Function.identity()));
    }

    @Test
    void everyReportedSeriesIsDescribedWithMatchingLabels() {
        Map<String, MetricDescriptor> described = PodMetricsRpcs.descriptors().stream()
                .collect(Collectors.toMap(MetricDescriptor::getName, Function.identity()));
        PodSandboxMetrics pm = sample();
        List<Metric> all = new ArrayList<>(pm.getMetricsList());
        pm.getContainerMetricsList().forEach(cm -> all.addAll(cm.getMetricsList()));
        assertTrue(all.size() > 20);
        for (Metric m : all) {
            MetricDescriptor d = described.get(m.getName());
            assertNotNull(d, m.getName() + " is described");
            assertEquals(d.getLabelKeysCount(), m.getLabelValuesCount(), m.getName());
            assertTrue(m.getName().startsWith("container_"));
            assertEquals(m.getName().endsWith("_total"), m.getMetricType() == MetricType.COUNTER, m.getName());
        }
        for (String name : List.of("container_cpu_usage_seconds_total", "container_memory_working_set_bytes",
                "container_memory_rss", "container_network_receive_bytes_total", "container_fs_usage_bytes",
                "container_oom_events_total")) {
            assertTrue(described.containsKey(name), name);
        }
    }

    @Test
    void containerSeriesCarryTheContainerPodNamespaceImageAndId() {
        PodSandboxMetrics pm = sample();
        assertEquals("pod1", pm.getPodSandboxId());
        ContainerMetrics cm = pm.getContainerMetricsList().get(0);
        assertEquals("c1", cm.getContainerId());
        Map<String, Metric> m = byName(cm.getMetricsList());
        assertEquals(List.of("app", "web", "prod", "docker.io/library/busybox:1", "c1"),
                m.get("container_cpu_usage_seconds_total").getLabelValuesList());
        assertEquals(7, m.get("container_cpu_usage_seconds_total").getValue().getValue(), "whole seconds");
        assertEquals(4096, m.get("container_memory_working_set_bytes").getValue().getValue());
        assertEquals(33, m.get("container_memory_rss").getValue().getValue());
        assertEquals(2, m.get("container_oom_events_total").getValue().getValue());
        assertEquals(8192, m.get("container_fs_usage_bytes").getValue().getValue());
        assertEquals(90, m.get("container_fs_usage_bytes").getTimestamp());
        assertEquals(100, m.get("container_cpu_usage_seconds_total").getTimestamp());
        assertEquals(List.of(), pm.getContainerMetricsList().get(1).getMetricsList(), "a stopped container has no series");
    }

    @Test
    void podSeriesCoverItsCgroupAndInterfacesButNotLoopback() {
        Map<String, Metric> m = byName(sample().getMetricsList());
        assertEquals(List.of("", "web", "prod", "", "pod1"), m.get("container_memory_working_set_bytes").getLabelValuesList());
        assertEquals(9, m.get("container_cpu_usage_seconds_total").getValue().getValue());
        Metric rx = m.get("container_network_receive_bytes_total");
        assertEquals(List.of("", "web", "prod", "", "pod1", "eth0"), rx.getLabelValuesList());
        assertEquals(1000, rx.getValue().getValue());
        assertEquals(120, rx.getTimestamp());
        assertEquals(4, m.get("container_network_transmit_packets_dropped_total").getValue().getValue());
        assertEquals(1, sample().getMetricsList().stream().filter(x -> x.getName().equals("container_network_receive_bytes_total")).count());
    }
}
