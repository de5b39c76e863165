package dev.berth.agent.gc;

import java.time.Duration;

/**
 * How the agent collects garbage, with the kubelet's flags and defaults: unused images go when
 * the image filesystem is {@code imageGcHighThresholdPercent} full or more, down to
 * {@code imageGcLowThresholdPercent}, none younger than {@code imageMinimumGcAge}, and (when
 * {@code imageMaximumGcAge} is not zero) any unused for longer than it; dead containers older
 * than {@code minimumContainerTtl} go beyond {@code maxPerPodContainer} per container of a pod
 * and {@code maxContainers} per node (negative: no limit). The periods are the kubelet's
 * constants (1 min for containers, 5 min for images), settable so tests run them fast.
 */
public record GcSettings(int imageGcHighThresholdPercent, int imageGcLowThresholdPercent, Duration imageMinimumGcAge,
                         Duration imageMaximumGcAge, int maxPerPodContainer, int maxContainers, Duration minimumContainerTtl,
                         Duration containerGcPeriod, Duration imageGcPeriod) {
    public static final Duration CONTAINER_GC_PERIOD = Duration.ofMinutes(1);
    public static final Duration IMAGE_GC_PERIOD = Duration.ofMinutes(5);

    /** Checked as the kubelet checks its configuration; the message names the kubelet's flag. */
    public GcSettings {
        if (imageGcHighThresholdPercent < 0 || imageGcHighThresholdPercent > 100) {
            throw new IllegalArgumentException("image_gc_high_threshold: must be between 0 and 100, got " + imageGcHighThresholdPercent);
        }
        if (imageGcLowThresholdPercent < 0 || imageGcLowThresholdPercent > 100) {
            throw new IllegalArgumentException("image_gc_low_threshold: must be between 0 and 100, got " + imageGcLowThresholdPercent);
        }
        if (imageGcLowThresholdPercent >= imageGcHighThresholdPercent) {
            throw new IllegalArgumentException("image_gc_low_threshold: must be less than image_gc_high_threshold ("
                    + imageGcHighThresholdPercent + "), got " + imageGcLowThresholdPercent);
        }
        requireNotNegative(imageMinimumGcAge, "image_minimum_gc_age");
        requireNotNegative(imageMaximumGcAge, "image_maximum_gc_age");
        if (!imageMaximumGcAge.isZero() && imageMaximumGcAge.compareTo(imageMinimumGcAge) <= 0) {
            throw new IllegalArgumentException("image_maximum_gc_age: must be 0 (off) or longer than image_minimum_gc_age ("
                    + imageMinimumGcAge + "), got " + imageMaximumGcAge);
        }
        requireNotNegative(minimumContainerTtl, "minimum_container_ttl_duration");
        requirePositive(containerGcPeriod, "container_gc_period");
        requirePositive(imageGcPeriod, "image_gc_period");
    }

    /** The kubelet's defaults. */
    public static GcSettings defaults() {
        return new GcSettings(85, 80, Duration.ofMinutes(2), Duration.ZERO, 1, -1, Duration.ZERO, CONTAINER_GC_PERIOD, IMAGE_GC_PERIOD);
    }

    /** Image GC is off, as the kubelet has it, when the high threshold is 100% and there is no maximum age. */
    public boolean imageGcEnabled() {
        return imageGcHighThresholdPercent < 100 || !imageMaximumGcAge.isZero();
    }

    private static void requireNotNegative(Duration d, String key) {
        if (d == null || d.isNegative()) {
            throw new IllegalArgumentException(key + ": must be a duration of zero or more, got " + d);
        }
    }

    private static void requirePositive(Duration d, String key) {
        if (d == null || d.isNegative() || d.isZero()) {
            throw new IllegalArgumentException(key + ": must be a positive duration, got " + d);
        }
    }
}
