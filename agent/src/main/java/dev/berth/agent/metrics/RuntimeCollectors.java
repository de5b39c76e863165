package dev.berth.agent.metrics;

import dev.berth.podsandbox.container.ContainerManager;
import dev.berth.podsandbox.container.ContainerRecord;
import dev.berth.podsandbox.container.ContainerState;
import dev.berth.podsandbox.sandbox.SandboxFilter;
import dev.berth.podsandbox.sandbox.SandboxService;
import dev.berth.podsandbox.sandbox.SandboxState;
import dev.berth.podsandbox.sandbox.SandboxStatus;
import dev.berth.podsandbox.stats.StatsCollector;
import java.time.Duration;
import java.util.HashSet;
import java.util.Set;
import java.util.function.UnaryOperator;

/**
 * Registers the collectors that read the runtime's stores at scrape time: the counts of pod
 * sandboxes and containers by state ({@link RuntimeStateCollector}) and the per-container
 * {@code container_*} family ({@link ContainerMetricsCollector}), measured by {@code stats}.
 */
public final class RuntimeCollectors {
    private RuntimeCollectors() {
    }

    /** @return the per-container collector (its measurement count is useful to tests) */
    public static ContainerMetricsCollector register(BerthMetrics metrics, SandboxService sandboxes, ContainerManager containers,
                                                     StatsCollector stats, UnaryOperator<String> imageName,
                                                     Duration containerInterval) {
        metrics.prometheusRegistry().register(new RuntimeStateCollector(
                SandboxState.class, () -> sandboxes.list(SandboxFilter.ALL).stream().map(SandboxStatus::state).toList(),
                ContainerState.class, () -> containers.list().stream().map(ContainerRecord::state).toList()));
        ContainerMetricsCollector perContainer = new ContainerMetricsCollector(() -> stats.pods("", null), () -> {
            Set<String> ids = new HashSet<>(sandboxes.ids());
            for (ContainerRecord r : containers.list()) {
                ids.add(r.id());
            }
            return ids;
        }, imageName, containerInterval);
        metrics.prometheusRegistry().register(perContainer);
        return perContainer;
    }
}
