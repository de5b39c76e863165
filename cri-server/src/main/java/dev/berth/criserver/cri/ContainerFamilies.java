package dev.berth.criserver.cri;

import dev.berth.podsandbox.stats.Usage;
import java.util.ArrayList;
import java.util.List;
import java.util.HashMap;
import java.util.Map;
import java.util.function.ToDoubleFunction;
import java.util.function.UnaryOperator;

/**
 * The cAdvisor-compatible {@code container_*} family as berth measures it: each metric's name,
 * help, type and how its value is read from the stats collector's figures, and the walk over a
 * pod that yields every sample with its labels. ListMetricDescriptors, ListPodSandboxMetrics
 * (CRI, integer values) and {@code GET /metrics} (Prometheus, exact values) render the same walk,
 * so the two can never disagree on what is reported.
 *
 * <p>Labels: {@code container}, {@code pod}, {@code namespace}, {@code image}, {@code id} (the
 * container id); pod-level series have {@code container=""}, {@code image=""} and the pod
 * sandbox id as {@code id}. Network series (per pod interface, loopback left out) also carry
 * {@code interface}.
 */
public final class ContainerFamilies {
    public static final List<String> LABELS = List.of("container", "pod", "namespace", "image", "id");
    public static final List<String> NETWORK_LABELS = List.of("container", "pod", "namespace", "image", "id", "interface");

    private ContainerFamilies() {
    }

    /** What a metric's value is read from: a cgroup, a writable layer, or a pod interface. */
    public enum Source { CGROUP, LAYER, NETWORK }

    /**
     * One metric of the family. {@code name} is the full Prometheus name (counters end in
     * {@code _total}); {@code value} reads the figure in base units (seconds, bytes).
     */
    public record Family<T>(String name, String help, boolean counter, Source source, ToDoubleFunction<T> value) {
        public List<String> labelNames() {
            return source == Source.NETWORK ? NETWORK_LABELS : LABELS;
        }
    }

    public static final List<Family<Usage.Cgroup>> CGROUP = List.of(
            cgroup("container_cpu_usage_seconds_total", "Cumulative cpu time consumed in seconds.", true,
                    c -> c.cpu().usageCoreNanos() / 1e9),
            cgroup("container_memory_working_set_bytes", "Current working set in bytes.", false,
                    c -> c.memory().workingSetBytes()),
            cgroup("container_memory_usage_bytes",
                    "Current memory usage in bytes, including all memory regardless of when it was accessed.", false,
                    c -> c.memory().usageBytes()),
            cgroup("container_memory_rss", "Size of RSS in bytes.", false, c -> c.memory().rssBytes()),
            cgroup("container_memory_swap", "Container swap usage in bytes.", false, Usage.Cgroup::swapUsageBytes),
            cgroup("container_oom_events_total", "Count of out of memory events observed for the container.", true,
                    Usage.Cgroup::oomKills),
            cgroup("container_processes", "Number of processes running inside the container.", false,
                    Usage.Cgroup::processes));

    public static final List<Family<Usage.Filesystem>> LAYER = List.of(
            new Family<>("container_fs_usage_bytes", "Number of bytes that are consumed by the container on this filesystem.",
                    false, Source.LAYER, Usage.Filesystem::usedBytes),
            new Family<>("container_fs_inodes_used", "Number of inodes used by the container on this filesystem.",
                    false, Source.LAYER, Usage.Filesystem::inodesUsed));

    public static final List<Family<Usage.Interface>> NETWORK = List.of(
            network("container_network_receive_bytes_total", "Cumulative count of bytes received.", Usage.Interface::rxBytes),
            network("container_network_receive_packets_total", "Cumulative count of packets received.", Usage.Interface::rxPackets),
            network("container_network_receive_errors_total", "Cumulative count of errors encountered while receiving.",
                    Usage.Interface::rxErrors),
            network("container_network_receive_packets_dropped_total", "Cumulative count of packets dropped while receiving.",
                    Usage.Interface::rxDropped),
            network("container_network_transmit_bytes_total", "Cumulative count of bytes transmitted.", Usage.Interface::txBytes),
            network("container_network_transmit_packets_total", "Cumulative count of packets transmitted.",
                    Usage.Interface::txPackets),
            network("container_network_transmit_errors_total", "Cumulative count of errors encountered while transmitting.",
                    Usage.Interface::txErrors),
            network("container_network_transmit_packets_dropped_total", "Cumulative count of packets dropped while transmitting.",
                    Usage.Interface::txDropped));

    /** Every metric of the family, in the order they are described and exposed. */
    public static final List<Family<?>> ALL = all();

    private static List<Family<?>> all() {
        List<Family<?>> out = new ArrayList<>(CGROUP);
        out.addAll(LAYER);
        out.addAll(NETWORK);
        return List.copyOf(out);
    }

    private static Family<Usage.Cgroup> cgroup(String name, String help, boolean counter, ToDoubleFunction<Usage.Cgroup> v) {
        return new Family<>(name, help, counter, Source.CGROUP, v);
    }

    private static Family<Usage.Interface> network(String name, String help, ToDoubleFunction<Usage.Interface> v) {
        return new Family<>(name, help, true, Source.NETWORK, v);
    }

    /** Receives the samples of one pod. */
    @FunctionalInterface
    public interface Sink {
        /**
         * @param containerId the container the sample belongs to, null for a pod-level sample
         * @param labelValues in the order of {@code family.labelNames()}
         */
        void sample(Family<?> family, String containerId, List<String> labelValues, long timestampNanos, double value);
    }

    /**
     * Every sample of {@code pod}: its cgroup's (when it has one), its interfaces' (loopback left
     * out), then each container's cgroup (running containers) and writable layer.
     *
     * @param imageName the {@code image} label of a container from its image id (e.g. {@link ImageNames})
     */
    public static void walk(Usage.Pod pod, UnaryOperator<String> imageName, Sink sink) {
        Map<String, String> names = new HashMap<>();
        if (pod.cgroup() != null) {
            cgroup(pod.cgroup(), null, List.of("", pod.name(), pod.namespace(), "", pod.id()), sink);
        }
        for (Usage.Interface i : pod.interfaces()) {
            if (i.name().equals("lo")) {
                continue;
            }
            List<String> labels = List.of("", pod.name(), pod.namespace(), "", pod.id(), i.name());
            for (Family<Usage.Interface> f : NETWORK) {
                sink.sample(f, null, labels, pod.networkTimestampNanos(), f.value().applyAsDouble(i));
            }
        }
        for (Usage.Container c : pod.containers()) {
            String image = c.imageRef() == null ? "" : names.computeIfAbsent(c.imageRef(), imageName);
            List<String> labels = List.of(c.name(), pod.name(), pod.namespace(), image == null ? "" : image, c.id());
            if (c.cgroup() != null) {
                cgroup(c.cgroup(), c.id(), labels, sink);
            }
            Usage.Filesystem fs = c.writableLayer();
            if (fs != null) {
                for (Family<Usage.Filesystem> f : LAYER) {
                    sink.sample(f, c.id(), labels, fs.timestampNanos(), f.value().applyAsDouble(fs));
                }
            }
        }
    }

    private static void cgroup(Usage.Cgroup cg, String containerId, List<String> labels, Sink sink) {
        for (Family<Usage.Cgroup> f : CGROUP) {
            sink.sample(f, containerId, labels, cg.timestampNanos(), f.value().applyAsDouble(cg));
        }
    }
}
