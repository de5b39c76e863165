package dev.berth.cli.metrics;

import dev.berth.images.PullMetrics;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.util.concurrent.TimeUnit;

/**
 * Image pulls on the metrics endpoint: {@code berth_image_pull_duration_seconds} (histogram of
 * completed pulls), {@code berth_image_pull_bytes_total} (blob bytes downloaded) and
 * {@code berth_image_pull_failures_total}.
 */
public final class ImagePullMeters implements PullMetrics.Listener {
    private final Timer duration;
    private final Counter bytes;
    private final Counter failures;

    public ImagePullMeters(MeterRegistry registry) {
        duration = Timer.builder("berth.image.pull.duration").description("Time of completed image pulls").register(registry);
        bytes = Counter.builder("berth.image.pull.bytes").baseUnit("bytes")
                .description("Blob bytes downloaded from registries").register(registry);
        failures = Counter.builder("berth.image.pull.failures").description("Image pulls that failed").register(registry);
    }

    @Override
    public void pulled(long durationNanos) {
        duration.record(durationNanos, TimeUnit.NANOSECONDS);
    }

    @Override
    public void failed() {
        failures.increment();
    }

    @Override
    public void downloaded(long n) {
        bytes.increment(n);
    }
}
