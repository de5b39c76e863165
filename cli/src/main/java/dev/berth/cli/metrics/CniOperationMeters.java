package dev.berth.cli.metrics;

import dev.berth.networking.cni.CniOperationListener;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.TimeUnit;

/**
 * CNI operations on the metrics endpoint: {@code berth_cni_operation_duration_seconds} (histogram
 * of each ADD, DEL, CHECK, STATUS and GC through a network's plugin chain, labels
 * {@code operation}, {@code network}, {@code outcome}) and {@code berth_cni_operation_failures_total}
 * ({@code operation}, {@code network}). Network names come from the node's CNI configuration, so
 * the label has a handful of values.
 */
public final class CniOperationMeters implements CniOperationListener {
    private record Key(Operation operation, String network, boolean success) {
    }

    private final MeterRegistry registry;
    private final ConcurrentMap<Key, Timer> timers = new ConcurrentHashMap<>();
    private final ConcurrentMap<Key, Counter> failures = new ConcurrentHashMap<>();

    public CniOperationMeters(MeterRegistry registry) {
        this.registry = registry;
    }

    @Override
    public void completed(Operation operation, String network, long durationNanos, boolean success) {
        String net = network == null ? "" : network;
        Key key = new Key(operation, net, success);
        timers.computeIfAbsent(key, k -> Timer.builder("berth.cni.operation.duration")
                .description("Time of CNI operations through a network's plugin chain")
                .tag("operation", k.operation().name()).tag("network", k.network())
                .tag("outcome", k.success() ? "success" : "failure")
                .register(registry)).record(durationNanos, TimeUnit.NANOSECONDS);
        if (!success) {
            failures.computeIfAbsent(key, k -> Counter.builder("berth.cni.operation.failures")
                    .description("CNI operations in which a plugin failed")
                    .tag("operation", k.operation().name()).tag("network", k.network())
                    .register(registry)).increment();
        }
    }
}
