package dev.berth.cli.metrics;

import dev.berth.criserver.cri.ContainerFamilies;
import dev.berth.podsandbox.stats.Usage;
import io.prometheus.metrics.model.registry.MultiCollector;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.LongSupplier;
import java.util.function.Supplier;
import java.util.function.UnaryOperator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The per-container {@code container_*} family ({@link ContainerFamilies}) on {@code /metrics}.
 *
 * <p>The pods and containers are measured by the same stats collector that serves
 * ListPodSandboxMetrics, at most once per {@code interval}: a scrape within the interval of the
 * last measurement is answered from it, so scrapes cost no cgroup, layer or namespace reads
 * beyond one round per interval however often (and by however many scrapers) they come. The
 * measurement runs on the scraping thread (the metrics server's renderer, never a CRI thread)
 * and takes no lock a CRI call holds. Before each answer the samples are filtered against the
 * pods and containers that exist at that moment, so a removed container's series disappear
 * with the first scrape after its removal, not one interval later. The series built from one
 * measurement are kept and answered again as long as the same pods and containers exist.
 */
public final class ContainerMetricsCollector implements MultiCollector {
    private static final Logger LOG = LoggerFactory.getLogger(ContainerMetricsCollector.class);

    /** One measurement of every pod, taken at {@code takenNanos} (System.nanoTime). */
    private record Measurement(long takenNanos, List<Usage.Pod> pods) {
    }

    private final Supplier<List<Usage.Pod>> measure;
    private final Supplier<Set<String>> existing;
    private final UnaryOperator<String> imageName;
    private final long intervalNanos;
    private final LongSupplier nanoTime;
    private Measurement last;
    private long measurements;
    /** The series last answered, for the measurement and the set of ids they were built from. */
    private Measurement answeredFrom;
    private Set<String> answeredFor;
    private MetricSnapshots answer;

    /**
     * @param measure measures every pod and its containers (the stats collector's {@code pods("", null)})
     * @param existing the ids of the pods and containers that exist now (cheap: no measuring); null
     *     when the caller passes them to {@link #collect(Set)} itself
     * @param imageName the {@code image} label of a container from its image id
     * @param interval how long a measurement is reused; zero measures on every scrape
     */
    public ContainerMetricsCollector(Supplier<List<Usage.Pod>> measure, Supplier<Set<String>> existing,
                                     UnaryOperator<String> imageName, Duration interval) {
        this(measure, existing, imageName, interval, System::nanoTime);
    }

    ContainerMetricsCollector(Supplier<List<Usage.Pod>> measure, Supplier<Set<String>> existing,
                              UnaryOperator<String> imageName, Duration interval, LongSupplier nanoTime) {
        if (interval.isNegative()) {
            throw new IllegalArgumentException("the container metrics interval must not be negative: " + interval);
        }
        this.measure = measure;
        this.existing = existing;
        this.imageName = imageName;
        this.intervalNanos = interval.toNanos();
        this.nanoTime = nanoTime;
    }

    /** How many times the pods have been measured (for tests and the benchmark). */
    public synchronized long measurements() {
        return measurements;
    }

    @Override
    public MetricSnapshots collect() {
        if (existing == null) {
            throw new IllegalStateException("this collector is asked through collect(Set) with the ids that exist");
        }
        return collect(existing.get());
    }

    /** The series of the pods and containers in {@code live} (ids of those that exist now), from the current measurement. */
    public synchronized MetricSnapshots collect(Set<String> live) {
        Measurement m = current();
        if (m == answeredFrom && live.equals(answeredFor)) {
            return answer; // nothing measured, created or removed since: the same series
        }
        List<Usage.Pod> pods = m == null ? List.of() : m.pods();
        Map<String, List<Sample>> byFamily = new LinkedHashMap<>();
        for (ContainerFamilies.Family<?> f : ContainerFamilies.ALL) {
            byFamily.put(f.name(), new ArrayList<>());
        }
        for (Usage.Pod pod : pods) {
            if (!live.contains(pod.id())) {
                continue;
            }
            ContainerFamilies.walk(pod, imageName, (family, containerId, labels, ts, value) -> {
                if (containerId == null || live.contains(containerId)) {
                    byFamily.get(family.name()).add(new Sample(Labels.of(family.labelNames(), labels), value));
                }
            });
        }
        MetricSnapshots.Builder out = MetricSnapshots.builder();
        for (ContainerFamilies.Family<?> f : ContainerFamilies.ALL) {
            List<Sample> samples = byFamily.get(f.name());
            if (!samples.isEmpty()) {
                out.metricSnapshot(snapshot(f, samples));
            }
        }
        answeredFrom = m;
        answeredFor = Set.copyOf(live);
        answer = out.build();
        return answer;
    }

    private record Sample(Labels labels, double value) {
    }

    private static MetricSnapshot snapshot(ContainerFamilies.Family<?> f, List<Sample> samples) {
        if (f.counter()) {
            // the client library adds the _total suffix itself
            CounterSnapshot.Builder b = CounterSnapshot.builder()
                    .name(f.name().substring(0, f.name().length() - "_total".length())).help(f.help());
            for (Sample s : samples) {
                b.dataPoint(CounterSnapshot.CounterDataPointSnapshot.builder().labels(s.labels()).value(s.value()).build());
            }
            return b.build();
        }
        GaugeSnapshot.Builder b = GaugeSnapshot.builder().name(f.name()).help(f.help());
        for (Sample s : samples) {
            b.dataPoint(GaugeSnapshot.GaugeDataPointSnapshot.builder().labels(s.labels()).value(s.value()).build());
        }
        return b.build();
    }

    /** The last measurement (null when none succeeded yet), or a new one when it is older than the interval. */
    private Measurement current() {
        long now = nanoTime.getAsLong();
        if (last == null || now - last.takenNanos() >= intervalNanos) {
            try {
                last = new Measurement(now, List.copyOf(measure.get()));
                measurements++;
            } catch (RuntimeException e) {
                // keep answering with what was measured before (filtered to what still exists)
                LOG.warn("cannot measure the pods for /metrics: {}", e.toString());
            }
        }
        return last;
    }

    @Override
    public List<String> getPrometheusNames() {
        return ContainerFamilies.ALL.stream().map(f -> f.counter() ? f.name().substring(0, f.name().length() - 6) : f.name())
                .toList();
    }
}
