package dev.berth.cli.metrics;

import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class ImagePullMetersTest {
    @Test
    void pullsFailuresAndBytesAppearInTheExposition() throws Exception {
        try (BerthMetrics metrics = BerthMetrics.bare()) {
            ImagePullMeters meters = new ImagePullMeters(metrics.registry());
            meters.downloaded(1500);
            meters.downloaded(500);
            meters.pulled(250_000_000L);
            meters.failed();
            java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
            Exposition.TEXT.write(out, metrics.snapshot());
            String text = out.toString(java.nio.charset.StandardCharsets.UTF_8);
            assertTrue(text.contains("berth_image_pull_bytes_total 2000.0"), text);
            assertTrue(text.contains("berth_image_pull_failures_total 1.0"), text);
            assertTrue(text.contains("berth_image_pull_duration_seconds_count 1"), text);
            assertTrue(text.contains("berth_image_pull_duration_seconds_bucket{le=\"0.25\"} 1"), text);
        }
    }
}
