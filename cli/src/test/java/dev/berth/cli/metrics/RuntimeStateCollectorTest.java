package dev.berth.cli.metrics;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class RuntimeStateCollectorTest {
    enum PodState { READY, NOTREADY }

    enum State { CREATED, RUNNING, EXITED, UNKNOWN }

    @Test
    void countsFollowTheStoresAndEveryStateIsAlwaysPresent() throws Exception {
        List<PodState> pods = new ArrayList<>(List.of(PodState.READY, PodState.READY));
        List<State> containers = new ArrayList<>(List.of(State.RUNNING, State.RUNNING, State.EXITED));
        try (BerthMetrics metrics = BerthMetrics.bare()) {
            metrics.prometheusRegistry().register(new RuntimeStateCollector(PodState.class, () -> pods, State.class, () -> containers));
            String text = render(metrics);
            assertTrue(text.contains("berth_pod_sandboxes{state=\"ready\"} 2.0"), text);
            assertTrue(text.contains("berth_pod_sandboxes{state=\"notready\"} 0.0"), text);
            assertTrue(text.contains("berth_containers{state=\"running\"} 2.0"), text);
            assertTrue(text.contains("berth_containers{state=\"exited\"} 1.0"), text);
            assertTrue(text.contains("berth_containers{state=\"created\"} 0.0"), text);
            assertTrue(text.contains("berth_containers{state=\"unknown\"} 0.0"), text);
            pods.set(0, PodState.NOTREADY);
            containers.clear();
            text = render(metrics);
            assertTrue(text.contains("berth_pod_sandboxes{state=\"ready\"} 1.0"), text);
            assertTrue(text.contains("berth_pod_sandboxes{state=\"notready\"} 1.0"), text);
            assertTrue(text.contains("berth_containers{state=\"running\"} 0.0"), text);
        }
    }

    private static String render(BerthMetrics metrics) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Exposition.TEXT.write(out, metrics.snapshot());
        return out.toString(StandardCharsets.UTF_8);
    }
}
