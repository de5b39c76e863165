package dev.berth.cli.metrics;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.networking.cni.CniOperationListener.Operation;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class CniOperationMetersTest {
    @Test
    void operationsAreTimedByOperationNetworkAndOutcomeAndFailuresCounted() throws Exception {
        try (BerthMetrics metrics = BerthMetrics.bare()) {
            CniOperationMeters meters = new CniOperationMeters(metrics.registry());
            meters.completed(Operation.ADD, "berth", 40_000_000L, true);
            meters.completed(Operation.ADD, "berth", 60_000_000L, true);
            meters.completed(Operation.DEL, "berth", 3_000_000L, false);
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            Exposition.TEXT.write(out, metrics.snapshot());
            String text = out.toString(StandardCharsets.UTF_8);
            assertTrue(text.contains("berth_cni_operation_duration_seconds_count{network=\"berth\",operation=\"ADD\",outcome=\"success\"} 2"), text);
            assertTrue(text.contains("berth_cni_operation_duration_seconds_bucket{network=\"berth\",operation=\"ADD\",outcome=\"success\",le=\"0.05\"} 1"), text);
            assertTrue(text.contains("berth_cni_operation_duration_seconds_count{network=\"berth\",operation=\"DEL\",outcome=\"failure\"} 1"), text);
            assertTrue(text.contains("berth_cni_operation_failures_total{network=\"berth\",operation=\"DEL\"} 1.0"), text);
            assertFalse(text.contains("berth_cni_operation_failures_total{network=\"berth\",operation=\"ADD\"}"), text);
        }
    }
}
