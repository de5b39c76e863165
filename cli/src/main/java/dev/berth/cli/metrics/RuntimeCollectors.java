package dev.berth.cli.metrics;

import dev.berth.podsandbox.container.ContainerManager;
import dev.berth.podsandbox.container.ContainerRecord;
import dev.berth.podsandbox.container.ContainerState;
import dev.berth.podsandbox.sandbox.SandboxFilter;
import dev.berth.podsandbox.sandbox.SandboxService;
import dev.berth.podsandbox.sandbox.SandboxState;
import dev.berth.podsandbox.sandbox.SandboxStatus;
import dev.berth.podsandbox.stats.StatsCollector;
import io.prometheus.metrics.model.registry.MultiCollector;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.UnaryOperator;

/**
 * The series read from the runtime's stores at scrape time: the counts of pod sandboxes and
 * containers by state ({@link RuntimeStateCollector}) and the per-container {@code container_*}
 * family ({@link ContainerMetricsCollector}, measured by {@code stats}). One collector serves
 * both, so a scrape lists the sandboxes and the containers once: the listing gives the counts
 * and the ids that filter the per-container series.
 */
public final class RuntimeCollectors implements MultiCollector {
    private final SandboxService sandboxes;
    private final ContainerManager containers;
    private final RuntimeStateCollector states;
    private final ContainerMetricsCollector perContainer;

    private RuntimeCollectors(SandboxService sandboxes, ContainerManager containers, RuntimeStateCollector states,
                              ContainerMetricsCollector perContainer) {
        this.sandboxes = sandboxes;
        this.containers = containers;
        this.states = states;
        this.perContainer = perContainer;
    }

    /** Registers the collector on the metrics registry. */
    public static RuntimeCollectors register(BerthMetrics metrics, SandboxService sandboxes, ContainerManager containers,
                                             StatsCollector stats, UnaryOperator<String> imageName, Duration containerInterval) {
        RuntimeStateCollector states = new RuntimeStateCollector(
                SandboxState.class, () -> sandboxes.list(SandboxFilter.ALL).stream().map(SandboxStatus::state).toList(),
                ContainerState.class, () -> containers.list().stream().map(ContainerRecord::state).toList());
        ContainerMetricsCollector perContainer = new ContainerMetricsCollector(() -> stats.pods("", null), null, imageName,
                containerInterval);
        RuntimeCollectors c = new RuntimeCollectors(sandboxes, containers, states, perContainer);
        metrics.prometheusRegistry().register(c);
        return c;
    }

    /** How many times the pods have been measured for the per-container series. */
    public long measurements() {
        return perContainer.measurements();
    }

    @Override
    public MetricSnapshots collect() {
        List<SandboxStatus> pods = sandboxes.list(SandboxFilter.ALL);
        List<ContainerRecord> all = containers.list();
        Set<String> live = new HashSet<>();
        List<SandboxState> podStates = new ArrayList<>(pods.size());
        for (SandboxStatus p : pods) {
            live.add(p.id());
            podStates.add(p.state());
        }
        List<ContainerState> containerStates = new ArrayList<>(all.size());
        for (ContainerRecord r : all) {
            live.add(r.id());
            containerStates.add(r.state());
        }
        MetricSnapshots.Builder out = MetricSnapshots.builder();
        for (MetricSnapshot s : states.collect(podStates, containerStates)) {
            out.metricSnapshot(s);
        }
        for (MetricSnapshot s : perContainer.collect(live)) {
            out.metricSnapshot(s);
        }
        return out.build();
    }

    @Override
    public List<String> getPrometheusNames() {
        List<String> names = new ArrayList<>(states.getPrometheusNames());
        names.addAll(perContainer.getPrometheusNames());
        return names;
    }
}
