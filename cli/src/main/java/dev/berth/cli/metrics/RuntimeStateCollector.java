package dev.berth.cli.metrics;

import io.prometheus.metrics.model.registry.MultiCollector;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.function.Supplier;

/**
 * {@code berth_pod_sandboxes{state}} and {@code berth_containers{state}}: how many pod
 * sandboxes and containers berth holds in each state, counted from its stores when scraped
 * (one listing of each per scrape; the listings take no lock that a runtime operation holds).
 * Every state is always present, with 0 when nothing is in it, so rates and alerts see a
 * continuous series.
 */
public final class RuntimeStateCollector implements MultiCollector {
    static final String SANDBOXES = "berth_pod_sandboxes";
    static final String CONTAINERS = "berth_containers";

    private final List<String> sandboxStates;
    private final Supplier<? extends Collection<? extends Enum<?>>> sandboxes;
    private final List<String> containerStates;
    private final Supplier<? extends Collection<? extends Enum<?>>> containers;

    /**
     * @param sandboxStates every state a sandbox can be in (the values of its state enum)
     * @param sandboxes the state of each sandbox now
     * @param containerStates every state a container can be in
     * @param containers the state of each container now
     */
    public <S extends Enum<S>, C extends Enum<C>> RuntimeStateCollector(Class<S> sandboxStates,
            Supplier<? extends Collection<S>> sandboxes, Class<C> containerStates, Supplier<? extends Collection<C>> containers) {
        this.sandboxStates = names(sandboxStates);
        this.sandboxes = sandboxes;
        this.containerStates = names(containerStates);
        this.containers = containers;
    }

    private static List<String> names(Class<? extends Enum<?>> states) {
        return java.util.Arrays.stream(states.getEnumConstants()).map(RuntimeStateCollector::label).toList();
    }

    /** READY → ready, NOTREADY → notready. */
    static String label(Enum<?> state) {
        return state.name().toLowerCase(Locale.ROOT);
    }

    @Override
    public MetricSnapshots collect() {
        return collect(sandboxes.get(), containers.get());
    }

    /** The counts of the given states of every sandbox and every container. */
    public MetricSnapshots collect(Collection<? extends Enum<?>> sandboxesNow, Collection<? extends Enum<?>> containersNow) {
        return MetricSnapshots.of(
                gauge(SANDBOXES, "Pod sandboxes berth holds, by state", sandboxStates, sandboxesNow),
                gauge(CONTAINERS, "Containers berth holds, by state", containerStates, containersNow));
    }

    private static GaugeSnapshot gauge(String name, String help, List<String> states, Collection<? extends Enum<?>> now) {
        long[] counts = new long[states.size()];
        for (Enum<?> s : now) {
            counts[s.ordinal()]++;
        }
        GaugeSnapshot.Builder b = GaugeSnapshot.builder().name(name).help(help);
        for (int i = 0; i < counts.length; i++) {
            b.dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder().labels(Labels.of("state", states.get(i)))
                    .value(counts[i]).build());
        }
        return b.build();
    }

    @Override
    public List<String> getPrometheusNames() {
        return List.of(SANDBOXES, CONTAINERS);
    }
}
