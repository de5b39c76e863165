package dev.berth.cli.metrics;

import dev.berth.common.BerthVersion;
import io.micrometer.core.instrument.Clock;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.MeterBinder;
import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmInfoMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.FileDescriptorMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.core.instrument.config.MeterFilter;
import io.micrometer.core.instrument.config.MeterFilterReply;
import io.micrometer.core.instrument.distribution.DistributionStatisticConfig;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * berth's metrics: one Micrometer registry backed by Prometheus, with the JVM and process
 * metrics bound, that every part of berth records into and {@code GET /metrics} exposes.
 *
 * <p>How other parts of berth add metrics: the daemon hands {@link #registry()} to the
 * component's constructor, and the component registers its meters once, with names in
 * Micrometer's dotted form under {@code berth.} (Prometheus sees {@code berth_...} with the
 * unit and {@code _total} suffixes added). Every timer named {@code berth.*} that sets no
 * buckets of its own gets {@link #LATENCY_BUCKETS}. Per-container series whose label sets come
 * and go with containers are better served by a Prometheus collector registered on
 * {@link #prometheusRegistry()}, which is asked for its samples at scrape time. The names
 * berth uses are listed in docs/METRICS.md.
 */
public final class BerthMetrics implements AutoCloseable {
    /** Histogram buckets of every berth.* timer: from sub-millisecond CRI reads to image pulls of minutes. */
    public static final List<Duration> LATENCY_BUCKETS = List.of(
            Duration.ofNanos(500_000), Duration.ofMillis(1), Duration.ofMillis(2), Duration.ofMillis(5),
            Duration.ofMillis(10), Duration.ofMillis(25), Duration.ofMillis(50), Duration.ofMillis(100),
            Duration.ofMillis(250), Duration.ofMillis(500), Duration.ofSeconds(1), Duration.ofMillis(2500),
            Duration.ofSeconds(5), Duration.ofSeconds(10), Duration.ofSeconds(30), Duration.ofMinutes(1),
            Duration.ofMinutes(2), Duration.ofMinutes(5), Duration.ofMinutes(10));

    private final PrometheusMeterRegistry registry;
    private final List<AutoCloseable> closeables = new ArrayList<>();

    private BerthMetrics(PrometheusMeterRegistry registry) {
        this.registry = registry;
    }

    /** A registry with berth's conventions, the JVM and process metrics and {@code berth_build_info}. */
    public static BerthMetrics create() {
        BerthMetrics metrics = bare();
        MeterRegistry r = metrics.registry;
        r.config().meterFilter(conventionalProcessNames());
        List<MeterBinder> binders = List.of(new JvmMemoryMetrics(), new JvmThreadMetrics(), new ClassLoaderMetrics(),
                new JvmInfoMetrics(), new ProcessorMetrics(), new UptimeMetrics(), new FileDescriptorMetrics());
        binders.forEach(b -> b.bindTo(r));
        JvmGcMetrics gc = new JvmGcMetrics();
        gc.bindTo(r);
        metrics.closeables.add(gc);
        if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
            FunctionCounter.builder("process.cpu", os, o -> o.getProcessCpuTime() / 1e9)
                    .description("CPU time used by the berth process")
                    .baseUnit("seconds")
                    .register(r);
        }
        if (Files.isReadable(PROC_STATUS)) {
            Gauge.builder("process.resident.memory", () -> residentBytes(PROC_STATUS))
                    .description("Resident set size of the berth process")
                    .baseUnit("bytes")
                    .register(r);
        }
        Gauge.builder("berth.build.info", () -> 1.0)
                .description("berth's version; the value is always 1")
                .tag("version", BerthVersion.get())
                .register(r);
        return metrics;
    }

    /** A registry with berth's conventions and nothing bound (for tests of one component). */
    public static BerthMetrics bare() {
        return bare(Clock.SYSTEM);
    }

    static BerthMetrics bare(Clock clock) {
        PrometheusMeterRegistry r = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT, new PrometheusRegistry(), clock);
        r.config().meterFilter(latencyBuckets());
        return new BerthMetrics(r);
    }

    /** Gives every berth.* timer without buckets of its own the shared latency buckets. */
    static MeterFilter latencyBuckets() {
        double[] slos = LATENCY_BUCKETS.stream().mapToDouble(Duration::toNanos).toArray();
        return new MeterFilter() {
            @Override
            public DistributionStatisticConfig configure(Meter.Id id, DistributionStatisticConfig config) {
                if (id.getType() != Meter.Type.TIMER || !id.getName().startsWith("berth.")
                        || config.getServiceLevelObjectiveBoundaries() != null || Boolean.TRUE.equals(config.isPercentileHistogram())) {
                    return config;
                }
                return DistributionStatisticConfig.builder().serviceLevelObjectives(slos).build().merge(config);
            }
        };
    }

    /**
     * Keeps the exposition free of names that Prometheus' conventions reject
     * ({@code promtool check metrics}): the CPU time is {@code process_cpu_seconds_total} (added
     * in {@link #create()}) rather than a nanosecond counter, and the processor count is
     * {@code system_cpus} rather than a gauge ending in {@code _count}.
     */
    static MeterFilter conventionalProcessNames() {
        return new MeterFilter() {
            @Override
            public MeterFilterReply accept(Meter.Id id) {
                return id.getName().equals("process.cpu.time") ? MeterFilterReply.DENY : MeterFilterReply.NEUTRAL;
            }

            @Override
            public Meter.Id map(Meter.Id id) {
                return id.getName().equals("system.cpu.count") ? id.withName("system.cpus") : id;
            }
        };
    }

    private static final Path PROC_STATUS = Path.of("/proc/self/status");

    static double residentBytes(Path status) {
        try {
            for (String line : Files.readAllLines(status)) {
                if (line.startsWith("VmRSS:")) {
                    String[] parts = line.substring(6).trim().split("\\s+");
                    return Long.parseLong(parts[0]) * 1024.0;
                }
            }
        } catch (IOException | RuntimeException e) {
            return Double.NaN;
        }
        return Double.NaN;
    }

    /** Where berth's components register their meters. */
    public MeterRegistry registry() {
        return registry;
    }

    /** The Prometheus registry underneath, for collectors that produce their samples at scrape time. */
    public PrometheusRegistry prometheusRegistry() {
        return registry.getPrometheusRegistry();
    }

    /** The current value of every metric. */
    public MetricSnapshots snapshot() {
        return registry.getPrometheusRegistry().scrape();
    }

    @Override
    public void close() {
        for (AutoCloseable c : closeables) {
            try {
                c.close();
            } catch (Exception ignored) {
                // closing a binder only unregisters listeners
            }
        }
        registry.close();
    }
}
