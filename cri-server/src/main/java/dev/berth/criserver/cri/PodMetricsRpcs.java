package dev.berth.criserver.cri;

import dev.berth.criserver.grpc.CriRegistry;
import dev.berth.criserver.cri.ContainerFamilies;
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
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;

/**
 * ListMetricDescriptors, ListPodSandboxMetrics and StreamPodSandboxMetrics: the pods' and
 * containers' usage under the metric names and labels of the {@code container_*} family, so
 * that the kubelet's {@code /metrics/cadvisor} can take them from berth.
 *
 * <p>The family, its labels and how each value is read are {@link ContainerFamilies}, which
 * {@code GET /metrics} renders too. CRI metric values are unsigned integers, so CPU seconds are
 * whole seconds here.
 */
public final class PodMetricsRpcs implements CriRegistry.Feature {
    private static final int STREAM_BATCH = 100;

    private final StatsCollector stats;
    private final UnaryOperator<String> imageName;

    /** With the image id as the {@code image} label. */
    public PodMetricsRpcs(StatsCollector stats) {
        this(stats, UnaryOperator.identity());
    }

    /** @param imageName the {@code image} label of a container from its image id */
    public PodMetricsRpcs(StatsCollector stats, UnaryOperator<String> imageName) {
        this.stats = stats;
        this.imageName = imageName;
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
        return ContainerFamilies.ALL.stream().map(f -> MetricDescriptor.newBuilder().setName(f.name()).setHelp(f.help())
                .addAllLabelKeys(f.labelNames()).build()).toList();
    }

    private List<PodSandboxMetrics> all() {
        return stats.pods("", null).stream().map(p -> pod(p, imageName)).toList();
    }

    static PodSandboxMetrics pod(Usage.Pod p) {
        return pod(p, UnaryOperator.identity());
    }

    static PodSandboxMetrics pod(Usage.Pod p, UnaryOperator<String> imageName) {
        PodSandboxMetrics.Builder b = PodSandboxMetrics.newBuilder().setPodSandboxId(p.id());
        Map<String, ContainerMetrics.Builder> containers = new LinkedHashMap<>();
        for (Usage.Container c : p.containers()) {
            containers.put(c.id(), ContainerMetrics.newBuilder().setContainerId(c.id()));
        }
        ContainerFamilies.walk(p, imageName, (family, containerId, labels, ts, value) -> {
            Metric m = Metric.newBuilder().setName(family.name()).setTimestamp(ts)
                    .setMetricType(family.counter() ? MetricType.COUNTER : MetricType.GAUGE).addAllLabelValues(labels)
                    .setValue(UInt64Value.newBuilder().setValue(Math.max(0, (long) value))).build();
            if (containerId == null) {
                b.addMetrics(m);
            } else {
                containers.get(containerId).addMetrics(m);
            }
        });
        containers.values().forEach(b::addContainerMetrics);
        return b.build();
    }
}
