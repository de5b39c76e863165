package dev.berth.agent.probe;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The probes' meters as the kubelet's {@code /metrics/probes} names them: the counter
 * {@code prober_probe_total{probe_type, result, container, pod, namespace, pod_uid}} (result
 * successful, failed or unknown) and the histogram {@code prober_probe_duration_seconds{probe_type,
 * container, pod, namespace}}. One {@link Meters} per probe of a pod's container, kept across
 * the container's restarts (as the kubelet counts them); its series go with the pod.
 */
final class ProbeMetrics {
    /** The Prometheus client's default buckets, as the kubelet's histogram has them. */
    private static final Duration[] BUCKETS = {Duration.ofMillis(5), Duration.ofMillis(10), Duration.ofMillis(25), Duration.ofMillis(50),
        Duration.ofMillis(100), Duration.ofMillis(250), Duration.ofMillis(500), Duration.ofSeconds(1), Duration.ofMillis(2500),
        Duration.ofSeconds(5), Duration.ofSeconds(10)};

    private final MeterRegistry registry;

    ProbeMetrics(MeterRegistry registry) {
        this.registry = registry;
    }

    Meters forWorker(String kind, String container, String pod, String namespace, String podUid) {
        return new Meters(kind, container, pod, namespace, podUid);
    }

    /** One probe worker's series. */
    final class Meters {
        final Counter successful;
        final Counter failed;
        final Counter unknown;
        final Timer duration;

        Meters(String kind, String container, String pod, String namespace, String podUid) {
            successful = counter(kind, "successful", container, pod, namespace, podUid);
            failed = counter(kind, "failed", container, pod, namespace, podUid);
            unknown = counter(kind, "unknown", container, pod, namespace, podUid);
            duration = Timer.builder("prober.probe.duration").description("Duration in seconds for a probe response.")
                    .tags("probe_type", kind, "container", container, "pod", pod, "namespace", namespace)
                    .serviceLevelObjectives(BUCKETS).register(registry);
        }

        private Counter counter(String kind, String result, String container, String pod, String namespace, String podUid) {
            return Counter.builder("prober.probe").description("Cumulative number of a liveness, readiness or startup probe for a container by result.")
                    .tags("probe_type", kind, "result", result, "container", container, "pod", pod, "namespace", namespace,
                            "pod_uid", podUid).register(registry);
        }

        void record(ProbeResult.Outcome outcome, long nanos) {
            switch (outcome) {
                case SUCCESS, WARNING -> successful.increment();
                case FAILURE -> failed.increment();
                case UNKNOWN -> unknown.increment();
            }
            duration.record(nanos, TimeUnit.NANOSECONDS);
        }

        /** The pod is gone: its series too. */
        void remove() {
            List<Meter> all = new ArrayList<>(List.of(successful, failed, unknown, duration));
            all.forEach(registry::remove);
        }
    }
}
