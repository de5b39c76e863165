package dev.berth.agent.cri;

import dev.berth.agent.grpc.CriRegistry;
import dev.berth.cri.v1.ContainerMetrics;
import dev.berth.cri.v1.ListMetricDescriptorsRequest;
import dev.berth.cri.v1.ListMetricDescriptorsResponse;
import dev.berth.cri.v1.ListPodSandboxMetricsRequest;
import dev.berth.cri.v1.ListPodSandboxMetricsResponse;
import dev.berth.cri.v1.Metric;
import dev.berth.cri.v1.MetricDescriptor;
import dev.berth.cri.v1.MetricType;
import dev.berth.cri.v1.PodSandboxMetrics;
import dev.berth.cri.v1.RuntimeServiceGrpc;
import dev.berth.cri.v1.StreamPodSandboxMetricsRequest;
import dev.berth.cri.v1.StreamPodSandboxMetricsResponse;
import dev.berth.cri.v1.UInt64Value;
import dev.berth.podsandbox.stats.StatsCollector;
import dev.berth.podsandbox.stats.Usage;
import io.grpc.stub.StreamObserver;
import java.util.ArrayList;
import java.util.List;
import java.util.function.ToLongFunction;

/**
 * ListMetricDescriptors, ListPodSandboxMetrics and StreamPodSandboxMetrics: the pods' and
 * containers' usage under the metric names and labels of the {@code container_*} family, so
 * that the kubelet's {@code /metrics/cadvisor} can take them from berth.
 *
 * <p>Every series carries the labels {@code container}, {@code pod}, {@code namespace},
 * {@code image}, {@code id} (the container id; the pod's id for pod-level series, whose
 * {@code container} is ""); network series also {@code interface}. CRI metric values are
 * unsigned integers, so CPU seconds are whole seconds.
 */
public final class PodMetricsRpcs implements CriRegistry.Feature {
    private static final int STREAM_BATCH = 100;
    static final List<String> LABELS = List.of("container", "pod", "namespace", "image", "id");
    static final List<String> NETWORK_LABELS = List.of("container", "pod", "namespace", "image", "id", "interface");

    /** A cgroup series: how it is read from a cgroup's figures. */
    private record CgroupMetric(String name, String help, MetricType type, ToLongFunction<Usage.Cgroup> value) {
    }

    /** A network series: how it is read from one interface's counters. */
    private record NetworkMetric(String name, String help, ToLongFunction<Usage.Interface> value) {
    }

    private static final List<CgroupMetric> CGROUP = List.of(
            new CgroupMetric("container_cpu_usage_seconds_total", "Cumulative cpu time consumed in seconds.",
                    MetricType.COUNTER, c -> c.cpu().usageCoreNanos() / 1_000_000_000L),
            new CgroupMetric("container_memory_working_set_bytes", "Current working set in bytes.",
                    MetricType.GAUGE, c -> c.memory().workingSetBytes()),
            new CgroupMetric("container_memory_usage_bytes", "Current memory usage in bytes, including all memory regardless of when it was accessed.",
                    MetricType.GAUGE, c -> c.memory().usageBytes()),
            new CgroupMetric("container_memory_rss", "Size of RSS in bytes.",
                    MetricType.GAUGE, c -> c.memory().rssBytes()),
            new CgroupMetric("container_memory_swap", "Container swap usage in bytes.",
                    MetricType.GAUGE, Usage.Cgroup::swapUsageBytes),
            new CgroupMetric("container_oom_events_total", "Count of out of memory events observed for the container.",
                    MetricType.COUNTER, Usage.Cgroup::oomKills),
            new CgroupMetric("container_processes", "Number of processes running inside the container.",
                    MetricType.GAUGE, Usage.Cgroup::processes));

    private static final List<NetworkMetric> NETWORK = List.of(
            new NetworkMetric("container_network_receive_bytes_total", "Cumulative count of bytes received.", Usage.Interface::rxBytes),
            new NetworkMetric("container_network_receive_packets_total", "Cumulative count of packets received.", Usage.Interface::rxPackets),
            new NetworkMetric("container_network_receive_errors_total", "Cumulative count of errors encountered while receiving.", Usage.Interface::rxErrors),
            new NetworkMetric("container_network_receive_packets_dropped_total", "Cumulative count of packets dropped while receiving.", Usage.Interface::rxDropped),
            new NetworkMetric("container_network_transmit_bytes_total", "Cumulative count of bytes transmitted.", Usage.Interface::txBytes),
            new NetworkMetric("container_network_transmit_packets_total", "Cumulative count of packets transmitted.", Usage.Interface::txPackets),
            new NetworkMetric("container_network_transmit_errors_total", "Cumulative count of errors encountered while transmitting.", Usage.Interface::txErrors),
            new NetworkMetric("container_network_transmit_packets_dropped_total", "Cumulative count of packets dropped while transmitting.", Usage.Interface::txDropped));

    private static final String FS_USAGE = "container_fs_usage_bytes";
    private static final String FS_INODES = "container_fs_inodes_used";

    private final StatsCollector stats;

    public PodMetricsRpcs(StatsCollector stats) {
        this.stats = stats;
    }

    @Override
    public void register(CriRegistry registry) {
        registry.unary(RuntimeServiceGrpc.getListMetricDescriptorsMethod(), (ListMetricDescriptorsRequest r) ->
                ListMetricDescriptorsResponse.newBuilder().addAllDescriptors(descriptors()).build());
        registry.unary(RuntimeServiceGrpc.getListPodSandboxMetricsMethod(), (ListPodSandboxMetricsRequest r) ->
                ListPodSandboxMetricsResponse.newBuilder().addAllPodMetrics(all()).build());
        registry.serverStreaming(RuntimeServiceGrpc.getStreamPodSandboxMetricsMethod(),
                (StreamPodSandboxMetricsRequest r, StreamObserver<StreamPodSandboxMetricsResponse> out) -> {
                    List<PodSandboxMetrics> all = all();
                    for (int i = 0; i < all.size(); i += STREAM_BATCH) {
                        out.onNext(StreamPodSandboxMetricsResponse.newBuilder()
                                .addAllPodSandboxMetrics(all.subList(i, Math.min(all.size(), i + STREAM_BATCH))).build());
                    }
                    out.onCompleted();
                });
    }

    /** Every series berth reports, with its help and label keys. */
    static List<MetricDescriptor> descriptors() {
        List<MetricDescriptor> out = new ArrayList<>();
        for (CgroupMetric m : CGROUP) {
            out.add(MetricDescriptor.newBuilder().setName(m.name()).setHelp(m.help()).addAllLabelKeys(LABELS).build());
        }
        out.add(MetricDescriptor.newBuilder().setName(FS_USAGE)
                .setHelp("Number of bytes that are consumed by the container on this filesystem.").addAllLabelKeys(LABELS).build());
        out.add(MetricDescriptor.newBuilder().setName(FS_INODES)
                .setHelp("Number of inodes used by the container on this filesystem.").addAllLabelKeys(LABELS).build());
        for (NetworkMetric m : NETWORK) {
            out.add(MetricDescriptor.newBuilder().setName(m.name()).setHelp(m.help()).addAllLabelKeys(NETWORK_LABELS).build());
        }
        return out;
    }

    private List<PodSandboxMetrics> all() {
        return stats.pods("", null).stream().map(PodMetricsRpcs::pod).toList();
    }

    static PodSandboxMetrics pod(Usage.Pod p) {
        PodSandboxMetrics.Builder b = PodSandboxMetrics.newBuilder().setPodSandboxId(p.id());
        List<String> podLabels = List.of("", p.name(), p.namespace(), "", p.id());
        if (p.cgroup() != null) {
            cgroupMetrics(p.cgroup(), podLabels, b::addMetrics);
        }
        for (Usage.Interface i : p.interfaces()) {
            if (i.name().equals("lo")) {
                continue;
            }
            List<String> labels = List.of("", p.name(), p.namespace(), "", p.id(), i.name());
            for (NetworkMetric m : NETWORK) {
                b.addMetrics(metric(m.name(), p.networkTimestampNanos(), MetricType.COUNTER, labels, m.value().applyAsLong(i)));
            }
        }
        for (Usage.Container c : p.containers()) {
            ContainerMetrics.Builder cm = ContainerMetrics.newBuilder().setContainerId(c.id());
            List<String> labels = List.of(c.name(), p.name(), p.namespace(), c.imageRef(), c.id());
            if (c.cgroup() != null) {
                cgroupMetrics(c.cgroup(), labels, cm::addMetrics);
            }
            if (c.writableLayer() != null) {
                Usage.Filesystem fs = c.writableLayer();
                cm.addMetrics(metric(FS_USAGE, fs.timestampNanos(), MetricType.GAUGE, labels, fs.usedBytes()));
                cm.addMetrics(metric(FS_INODES, fs.timestampNanos(), MetricType.GAUGE, labels, fs.inodesUsed()));
            }
            b.addContainerMetrics(cm);
        }
        return b.build();
    }

    private static void cgroupMetrics(Usage.Cgroup cg, List<String> labels, java.util.function.Consumer<Metric> sink) {
        for (CgroupMetric m : CGROUP) {
            sink.accept(metric(m.name(), cg.timestampNanos(), m.type(), labels, m.value().applyAsLong(cg)));
        }
    }

    private static Metric metric(String name, long ts, MetricType type, List<String> labels, long value) {
        return Metric.newBuilder().setName(name).setTimestamp(ts).setMetricType(type).addAllLabelValues(labels)
                .setValue(UInt64Value.newBuilder().setValue(Math.max(0, value))).build();
    }
}
