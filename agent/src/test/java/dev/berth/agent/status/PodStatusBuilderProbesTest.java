package dev.berth.agent.status;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.cri.v1.PodSandboxNetworkStatus;
import dev.berth.cri.v1.PodSandboxState;
import dev.berth.cri.v1.PodSandboxStatus;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodCondition;
import io.fabric8.kubernetes.api.model.PodStatus;
import java.time.Clock;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** A running container's started and ready come from its probes, and the pod's Ready and ContainersReady from those. */
class PodStatusBuilderProbesTest {
    final Set<String> started = new HashSet<>();
    final Set<String> ready = new HashSet<>();
    final PodStatusBuilder builder = new PodStatusBuilder(() -> "berth", List::of, Clock.systemUTC(), new ProbeStates() {
        @Override
        public boolean started(String podUid, Container spec, String containerId) {
            return started.contains(podUid + "/" + spec.getName() + "/" + containerId);
        }

        @Override
        public boolean ready(String podUid, Container spec, String containerId) {
            return ready.contains(podUid + "/" + spec.getName() + "/" + containerId);
        }
    });

    private PodStatus build(Pod pod) {
        PodSandboxStatus sandbox = PodSandboxStatus.newBuilder().setId("sb").setState(PodSandboxState.SANDBOX_READY)
                .setNetwork(PodSandboxNetworkStatus.newBuilder().setIp("10.1.2.3")).build();
        return builder.build(pod, null, new PodSnapshot(sandbox, Map.of("a", List.of(PodStatusBuilderTest.running("a", 0)),
                "b", List.of(PodStatusBuilderTest.running("b", 0))), Map.of()), PodStatusBuilder.Messages.NONE);
    }

    private static String condition(PodStatus s, String type) {
        return s.getConditions().stream().filter(c -> type.equals(c.getType())).map(PodCondition::getStatus).findFirst().orElseThrow();
    }

    private static ContainerStatus container(PodStatus s, String name) {
        return s.getContainerStatuses().stream().filter(c -> name.equals(c.getName())).findFirst().orElseThrow();
    }

    @Test
    void notStartedIsNotReadyAndOneUnreadyContainerMakesThePodUnready() {
        Pod pod = PodStatusBuilderTest.pod("Always", List.of(), List.of("a", "b"));
        started.add("u1/a/a-0");
        ready.add("u1/a/a-0");
        ready.add("u1/b/b-0"); // ready says yes, but b has not started: not ready
        PodStatus s = build(pod);
        assertTrue(container(s, "a").getStarted());
        assertTrue(container(s, "a").getReady());
        assertFalse(container(s, "b").getStarted());
        assertFalse(container(s, "b").getReady());
        assertEquals("Running", s.getPhase(), "running, if not ready");
        assertEquals("False", condition(s, "Ready"));
        assertEquals("False", condition(s, "ContainersReady"));
        assertEquals("containers with unready status: [b]", s.getConditions().stream().filter(c -> "Ready".equals(c.getType()))
                .findFirst().orElseThrow().getMessage());

        started.add("u1/b/b-0");
        PodStatus all = build(pod);
        assertTrue(container(all, "b").getReady());
        assertEquals("True", condition(all, "Ready"));
        assertEquals("True", condition(all, "ContainersReady"));

        ready.remove("u1/a/a-0");
        PodStatus unready = build(pod);
        assertTrue(container(unready, "a").getStarted(), "started stays");
        assertFalse(container(unready, "a").getReady());
        assertEquals("False", condition(unready, "Ready"));
    }
}
