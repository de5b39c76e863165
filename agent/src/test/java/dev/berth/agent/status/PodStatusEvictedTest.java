package dev.berth.agent.status;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.ContainerStatusBuilder;
import io.fabric8.kubernetes.api.model.PodCondition;
import io.fabric8.kubernetes.api.model.PodConditionBuilder;
import io.fabric8.kubernetes.api.model.PodStatus;
import io.fabric8.kubernetes.api.model.PodStatusBuilder;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

/** An evicted pod's status: Failed, Evicted, DisruptionTarget, not ready; then its containers terminated once it is stopped. */
class PodStatusEvictedTest {
    private static final Instant T = Instant.parse("2025-01-01T00:00:10Z");

    private static PodStatus running() {
        ContainerStatus c = new ContainerStatusBuilder().withName("c").withReady(true).withStarted(true).withContainerID("fake://1")
                .withNewState().withNewRunning().withStartedAt("2025-01-01T00:00:00Z").endRunning().endState().build();
        return new PodStatusBuilder().withPhase("Running").withContainerStatuses(c).withConditions(
                new PodConditionBuilder().withType("Ready").withStatus("True").withLastTransitionTime("2025-01-01T00:00:01Z").build(),
                new PodConditionBuilder().withType("PodScheduled").withStatus("True").build()).build();
    }

    @Test
    void anEvictedPodIsFailedWithReasonMessageAndDisruptionTarget() {
        PodStatus s = dev.berth.agent.status.PodStatusBuilder.evicted(running(), "Evicted", "The node was low on resource: memory. ", T);
        assertEquals("Failed", s.getPhase());
        assertEquals("Evicted", s.getReason());
        assertEquals("The node was low on resource: memory. ", s.getMessage());
        PodCondition d = s.getConditions().stream().filter(c -> c.getType().equals("DisruptionTarget")).findFirst().orElseThrow();
        assertEquals(List.of("True", "TerminationByKubelet", "The node was low on resource: memory. ", "2025-01-01T00:00:10Z"),
                List.of(d.getStatus(), d.getReason(), d.getMessage(), d.getLastTransitionTime()));
        PodCondition ready = s.getConditions().stream().filter(c -> c.getType().equals("Ready")).findFirst().orElseThrow();
        assertEquals(List.of("False", "PodFailed"), List.of(ready.getStatus(), ready.getReason()));
        assertFalse(s.getContainerStatuses().get(0).getReady());
        assertEquals(1, dev.berth.agent.status.PodStatusBuilder.evicted(s, "Evicted", "again", T.plusSeconds(5)).getConditions().stream()
                .filter(c -> c.getType().equals("DisruptionTarget")).count(), "one DisruptionTarget, kept");

        PodStatus stopped = dev.berth.agent.status.PodStatusBuilder.stopped(s, T.plusSeconds(2));
        var t = stopped.getContainerStatuses().get(0).getState().getTerminated();
        assertEquals(List.of(137, "ContainerStatusUnknown", "2025-01-01T00:00:00Z", "2025-01-01T00:00:12Z", "fake://1"),
                List.of(t.getExitCode(), t.getReason(), t.getStartedAt(), t.getFinishedAt(), t.getContainerID()));
        assertEquals("Failed", stopped.getPhase());
    }
}
