package dev.berth.agent.status;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.agent.testing.MutableClock;
import dev.berth.cri.v1.ContainerMetadata;
import dev.berth.cri.v1.ContainerState;
import dev.berth.cri.v1.PodSandboxNetworkStatus;
import dev.berth.cri.v1.PodSandboxState;
import dev.berth.cri.v1.PodSandboxStatus;
import dev.berth.cri.v1.PodIP;
import io.fabric8.kubernetes.api.model.ContainerBuilder;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodCondition;
import io.fabric8.kubernetes.api.model.PodStatus;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Pod statuses from specs, runtime statuses and the worker's knowledge, by the kubelet's rules. */
class PodStatusBuilderTest {
    static final Instant T0 = Instant.parse("2026-01-02T03:04:05Z");
    static final long NANOS = 1_000_000_000L;

    final MutableClock clock = new MutableClock(T0);
    final PodStatusBuilder builder = new PodStatusBuilder(() -> "berth", () -> List.of("192.168.1.5", "fd00::5"), clock);
    final Map<String, List<dev.berth.cri.v1.ContainerStatus>> runs = new HashMap<>();
    final Map<String, Waiting> waiting = new HashMap<>();
    PodSandboxStatus sandbox = PodSandboxStatus.newBuilder().setId("sb").setState(PodSandboxState.SANDBOX_READY)
            .setNetwork(PodSandboxNetworkStatus.newBuilder().setIp("10.1.2.3").addAdditionalIps(PodIP.newBuilder().setIp("fd10::3"))).build();

    static Pod pod(String restartPolicy, List<String> init, List<String> app) {
        PodBuilder b = new PodBuilder().withNewMetadata().withName("web").withNamespace("ns").withUid("u1").endMetadata()
                .withNewSpec().withRestartPolicy(restartPolicy).endSpec();
        for (String c : init) {
            b.editSpec().addToInitContainers(new ContainerBuilder().withName(c).withImage("img/" + c + ":1").build()).endSpec();
        }
        for (String c : app) {
            b.editSpec().addToContainers(new ContainerBuilder().withName(c).withImage("img/" + c + ":1").build()).endSpec();
        }
        return b.build();
    }

    static dev.berth.cri.v1.ContainerStatus running(String name, int attempt) {
        return dev.berth.cri.v1.ContainerStatus.newBuilder().setId(name + "-" + attempt).setMetadata(ContainerMetadata.newBuilder()
                .setName(name).setAttempt(attempt)).setState(ContainerState.CONTAINER_RUNNING).setCreatedAt(10 * NANOS)
                .setStartedAt(11 * NANOS + 5).setImageRef("sha256:abc").build();
    }

    static dev.berth.cri.v1.ContainerStatus exited(String name, int attempt, int code, String reason) {
        return running(name, attempt).toBuilder().setState(ContainerState.CONTAINER_EXITED).setExitCode(code).setFinishedAt(20 * NANOS)
                .setReason(reason).build();
    }

    void run(dev.berth.cri.v1.ContainerStatus... newestFirst) {
        runs.put(newestFirst[0].getMetadata().getName(), List.of(newestFirst));
    }

    PodStatus build(Pod pod, PodStatus previous) {
        return builder.build(pod, previous, new PodSnapshot(sandbox, runs, waiting),
                (uid, spec, cri) -> cri.getExitCode() != 0 ? "message of " + uid + "/" + spec.getName() + "/" + cri.getMetadata().getAttempt() : "");
    }

    static PodCondition condition(PodStatus s, String type) {
        return s.getConditions().stream().filter(c -> c.getType().equals(type)).findFirst().orElseThrow();
    }

    static ContainerStatus container(List<ContainerStatus> list, String name) {
        return list.stream().filter(c -> c.getName().equals(name)).findFirst().orElseThrow();
    }

    @Test
    void aPodWithoutSandboxIsPendingItsContainersCreating() {
        sandbox = null;
        PodStatus s = build(pod("Always", List.of(), List.of("app")), null);
        assertEquals("Pending", s.getPhase());
        ContainerStatus app = container(s.getContainerStatuses(), "app");
        assertEquals("ContainerCreating", app.getState().getWaiting().getReason());
        assertEquals(0, app.getRestartCount());
        assertFalse(app.getReady());
        assertFalse(app.getStarted());
        assertEquals("img/app:1", app.getImage());
        assertEquals("False", condition(s, "PodReadyToStartContainers").getStatus());
        assertEquals("True", condition(s, "Initialized").getStatus());
        assertEquals("False", condition(s, "Ready").getStatus());
        assertEquals("ContainersNotReady", condition(s, "Ready").getReason());
        assertEquals("containers with unready status: [app]", condition(s, "ContainersReady").getMessage());
        assertEquals("True", condition(s, "PodScheduled").getStatus());
        assertEquals("2026-01-02T03:04:05Z", s.getStartTime());
        assertEquals("BestEffort", s.getQosClass());
        assertEquals("192.168.1.5", s.getHostIP());
        assertEquals(2, s.getHostIPs().size());
        assertNull(s.getPodIP());
    }

    @Test
    void aPodWhoseContainersRunIsRunningAndReady() {
        run(running("app", 0));
        run(running("side", 0));
        PodStatus s = build(pod("Always", List.of(), List.of("app", "side")), null);
        assertEquals("Running", s.getPhase());
        assertEquals("10.1.2.3", s.getPodIP());
        assertEquals(List.of("10.1.2.3", "fd10::3"), s.getPodIPs().stream().map(io.fabric8.kubernetes.api.model.PodIP::getIp).toList());
        ContainerStatus app = container(s.getContainerStatuses(), "app");
        assertEquals("berth://app-0", app.getContainerID());
        assertEquals("sha256:abc", app.getImageID());
        assertEquals("1970-01-01T00:00:11Z", app.getState().getRunning().getStartedAt());
        assertTrue(app.getReady());
        assertTrue(app.getStarted());
        assertEquals("True", condition(s, "Ready").getStatus());
        assertNull(condition(s, "Ready").getReason());
        assertEquals("True", condition(s, "ContainersReady").getStatus());
        assertEquals("True", condition(s, "PodReadyToStartContainers").getStatus());
    }

    @Test
    void initContainersHoldThePodPendingUntilTheyComplete() {
        Pod pod = pod("Always", List.of("first", "second"), List.of("app"));
        run(exited("first", 0, 0, ""));
        run(running("second", 0));
        PodStatus s = build(pod, null);
        assertEquals("Pending", s.getPhase());
        assertEquals("PodInitializing", container(s.getContainerStatuses(), "app").getState().getWaiting().getReason());
        ContainerStatus first = container(s.getInitContainerStatuses(), "first");
        assertEquals("Completed", first.getState().getTerminated().getReason());
        assertTrue(first.getReady(), "a completed init container is ready");
        assertFalse(container(s.getInitContainerStatuses(), "second").getReady());
        assertEquals("False", condition(s, "Initialized").getStatus());
        assertEquals("ContainersNotInitialized", condition(s, "Initialized").getReason());
        assertEquals("containers with incomplete status: [second]", condition(s, "Initialized").getMessage());

        run(exited("second", 0, 0, ""));
        run(running("app", 0));
        s = build(pod, s);
        assertEquals("Running", s.getPhase());
        assertEquals("True", condition(s, "Initialized").getStatus());
        assertEquals("True", condition(s, "Ready").getStatus());
    }

    @Test
    void aFailedInitContainerFailsAPodThatNeverRestarts() {
        Pod pod = pod("Never", List.of("first"), List.of("app"));
        run(exited("first", 0, 3, ""));
        PodStatus s = build(pod, null);
        assertEquals("Failed", s.getPhase());
        assertEquals("Error", container(s.getInitContainerStatuses(), "first").getState().getTerminated().getReason());
        assertEquals(3, container(s.getInitContainerStatuses(), "first").getState().getTerminated().getExitCode());
        // restartPolicy Always: the init container is retried; the pod stays Pending
        assertEquals("Pending", build(pod("Always", List.of("first"), List.of("app")), null).getPhase());
    }

    @Test
    void aFailedPodIsNotReadyWithTheReasonPodFailed() {
        run(exited("a", 0, 3, ""));
        run(exited("b", 0, 0, ""));
        PodStatus s = build(pod("Never", List.of(), List.of("a", "b")), null);
        assertEquals("Failed", s.getPhase());
        for (String type : List.of("Ready", "ContainersReady")) {
            assertEquals("False", condition(s, type).getStatus(), type);
            assertEquals("PodFailed", condition(s, type).getReason(), type);
            assertNull(condition(s, type).getMessage(), type);
        }
    }

    @Test
    void containersThatAllCompleteSucceedThePod() {
        run(exited("a", 0, 0, ""));
        run(exited("b", 0, 0, ""));
        for (String policy : List.of("Never", "OnFailure")) {
            PodStatus s = build(pod(policy, List.of(), List.of("a", "b")), null);
            assertEquals("Succeeded", s.getPhase(), policy);
            ContainerStatus a = container(s.getContainerStatuses(), "a");
            assertEquals("Completed", a.getState().getTerminated().getReason());
            assertEquals(0, a.getState().getTerminated().getExitCode());
            assertNull(a.getState().getTerminated().getMessage(), "an empty message is left out");
            assertEquals("1970-01-01T00:00:20Z", a.getState().getTerminated().getFinishedAt());
            assertEquals("berth://a-0", a.getState().getTerminated().getContainerID());
            assertEquals("PodCompleted", condition(s, "Ready").getReason());
            assertEquals("PodCompleted", condition(s, "ContainersReady").getReason());
        }
        // restartPolicy Always: they are being restarted
        assertEquals("Running", build(pod("Always", List.of(), List.of("a", "b")), null).getPhase());
    }

    @Test
    void aFailedContainerFailsAPodThatNeverRestartsWithItsReasonAndMessage() {
        run(exited("a", 0, 0, ""));
        run(exited("b", 0, 1, ""));
        run(exited("oom", 0, 137, "OOMKilled"));
        PodStatus s = build(pod("Never", List.of(), List.of("a", "b", "oom")), null);
        assertEquals("Failed", s.getPhase());
        var b = container(s.getContainerStatuses(), "b").getState().getTerminated();
        assertEquals("Error", b.getReason());
        assertEquals(1, b.getExitCode());
        assertEquals("message of u1/b/0", b.getMessage());
        var oom = container(s.getContainerStatuses(), "oom").getState().getTerminated();
        assertEquals("OOMKilled", oom.getReason());
        assertEquals(137, oom.getExitCode());
        // OnFailure: the failed one is being restarted
        assertEquals("Running", build(pod("OnFailure", List.of(), List.of("a", "b")), null).getPhase());
    }

    @Test
    void aRestartedContainerCountsItsRestartsAndShowsItsLastRun() {
        run(running("app", 2), exited("app", 1, 2, ""));
        PodStatus s = build(pod("Always", List.of(), List.of("app")), null);
        ContainerStatus app = container(s.getContainerStatuses(), "app");
        assertEquals(2, app.getRestartCount());
        assertEquals("berth://app-2", app.getContainerID());
        assertEquals(2, app.getLastState().getTerminated().getExitCode());
        assertEquals("message of u1/app/1", app.getLastState().getTerminated().getMessage());
        assertEquals("berth://app-1", app.getLastState().getTerminated().getContainerID());

        // the runtime no longer has the run before: the status keeps the lastState it showed
        runs.clear();
        run(running("app", 2));
        ContainerStatus again = container(build(pod("Always", List.of(), List.of("app")), s).getContainerStatuses(), "app");
        assertEquals(app.getLastState(), again.getLastState());
    }

    @Test
    void aContainerInCrashLoopBackOffWaitsWithItsLastRunAndThePodRuns() {
        run(exited("app", 3, 1, ""));
        waiting.put("app", new Waiting("CrashLoopBackOff", "back-off restarting failed container=app pod=web_ns(u1)"));
        PodStatus s = build(pod("Always", List.of(), List.of("app")), null);
        ContainerStatus app = container(s.getContainerStatuses(), "app");
        assertEquals("CrashLoopBackOff", app.getState().getWaiting().getReason());
        assertEquals("back-off restarting failed container=app pod=web_ns(u1)", app.getState().getWaiting().getMessage());
        assertEquals(1, app.getLastState().getTerminated().getExitCode());
        assertEquals(3, app.getRestartCount());
        assertFalse(app.getReady());
        assertEquals("Running", s.getPhase());
    }

    @Test
    void theWorkersWaitingReasonsAreShown() {
        for (String reason : List.of("ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "CreateContainerConfigError")) {
            waiting.put("app", new Waiting(reason, "because " + reason));
            PodStatus s = build(pod("Always", List.of(), List.of("app")), null);
            var w = container(s.getContainerStatuses(), "app").getState().getWaiting();
            assertEquals(reason, w.getReason());
            assertEquals("because " + reason, w.getMessage());
            assertEquals("Pending", s.getPhase());
        }
    }

    @Test
    void transitionTimesAndTheStartTimeStayWhileTheirValuesDo() {
        Pod pod = pod("Always", List.of(), List.of("app"));
        PodStatus first = build(pod, null);
        clock.set(T0.plusSeconds(60));
        run(running("app", 0));
        PodStatus second = build(pod, first);
        assertEquals("2026-01-02T03:04:05Z", second.getStartTime());
        assertEquals("2026-01-02T03:04:05Z", condition(second, "PodScheduled").getLastTransitionTime(), "unchanged: kept");
        assertEquals("2026-01-02T03:04:05Z", condition(second, "Initialized").getLastTransitionTime());
        assertEquals("2026-01-02T03:05:05Z", condition(second, "Ready").getLastTransitionTime(), "changed: now");
        clock.set(T0.plusSeconds(120));
        PodStatus third = build(pod, second);
        assertEquals(second, third, "nothing changed: the same status");
    }

    @Test
    void aTerminalPhaseIsNeverLeftAndOthersConditionsAreKept() {
        PodStatus previous = new PodStatus();
        previous.setPhase("Succeeded");
        PodCondition gate = new PodCondition();
        gate.setType("example.com/gate");
        gate.setStatus("True");
        previous.setConditions(List.of(gate));
        run(running("app", 0));
        PodStatus s = build(pod("Always", List.of(), List.of("app")), previous);
        assertEquals("Succeeded", s.getPhase());
        assertEquals("True", condition(s, "example.com/gate").getStatus());
    }

    @Test
    void betweenSandboxesThePodKeepsItsAddressAndHostNetworkPodsHaveTheNodes() {
        run(running("app", 0));
        Pod pod = pod("Always", List.of(), List.of("app"));
        PodStatus s = build(pod, null);
        sandbox = null;
        runs.clear();
        assertEquals("10.1.2.3", build(pod, s).getPodIP());
        pod.getSpec().setHostNetwork(true);
        assertEquals("192.168.1.5", build(pod, null).getPodIP());
    }

    /** A pod whose init containers {@code sidecars} have restartPolicy Always. */
    static Pod withSidecars(String restartPolicy, List<String> sidecars, List<String> init, List<String> app) {
        Pod pod = pod(restartPolicy, init, app);
        List<io.fabric8.kubernetes.api.model.Container> all = new java.util.ArrayList<>();
        for (String c : sidecars) {
            all.add(new ContainerBuilder().withName(c).withImage("img/" + c + ":1").withRestartPolicy("Always").build());
        }
        all.addAll(pod.getSpec().getInitContainers());
        pod.getSpec().setInitContainers(all);
        return pod;
    }

    @Test
    void aPodIsInitializedOnceItsSidecarsStartedAndTheyTakePartInReadiness() {
        Pod pod = withSidecars("Always", List.of("proxy"), List.of("setup"), List.of("app"));
        PodStatus s = build(pod, null);
        assertEquals("Pending", s.getPhase());
        assertEquals("containers with incomplete status: [proxy setup]", condition(s, "Initialized").getMessage());

        run(running("proxy", 0));
        run(exited("setup", 0, 0, ""));
        s = build(pod, s);
        assertEquals("True", condition(s, "Initialized").getStatus(), "the sidecar started, the init container completed");
        ContainerStatus proxy = container(s.getInitContainerStatuses(), "proxy");
        assertTrue(proxy.getStarted());
        assertTrue(proxy.getReady());
        assertEquals("Pending", s.getPhase(), "the app container is being created");

        run(running("app", 0));
        s = build(pod, s);
        assertEquals("Running", s.getPhase());
        assertEquals("True", condition(s, "Ready").getStatus());

        // the sidecar crashes and waits for its restart: the pod stays Running and initialized, but is not ready
        run(exited("proxy", 0, 1, ""));
        waiting.put("proxy", new Waiting(Waiting.CRASH_LOOP_BACK_OFF, "back-off 10s restarting failed container=proxy pod=web_ns(u1)"));
        s = build(pod, s);
        assertEquals("Running", s.getPhase());
        assertEquals("True", condition(s, "Initialized").getStatus());
        assertEquals("False", condition(s, "Ready").getStatus());
        assertEquals("containers with unready status: [proxy]", condition(s, "ContainersReady").getMessage());
        assertEquals("CrashLoopBackOff", container(s.getInitContainerStatuses(), "proxy").getState().getWaiting().getReason());
    }

    @Test
    void aSidecarStoppedWithItsFinishedPodDoesNotDecideThePhase() {
        Pod pod = withSidecars("Never", List.of("proxy"), List.of(), List.of("job"));
        run(exited("proxy", 0, 143, ""));
        run(exited("job", 0, 0, ""));
        PodStatus s = build(pod, null);
        assertEquals("Succeeded", s.getPhase());
        assertFalse(container(s.getInitContainerStatuses(), "proxy").getReady());
    }

    @Test
    void theRunsIdentityAndItsVolumeMountsAreReportedAsTheRuntimeMadeThem() {
        Pod pod = pod("Always", List.of(), List.of("app"));
        pod.getSpec().getContainers().get(0).setVolumeMounts(List.of(
                new io.fabric8.kubernetes.api.model.VolumeMountBuilder().withName("data").withMountPath("/data").withReadOnly(true)
                        .withRecursiveReadOnly("IfPossible").build(),
                new io.fabric8.kubernetes.api.model.VolumeMountBuilder().withName("conf").withMountPath("/conf").withReadOnly(true)
                        .withRecursiveReadOnly("IfPossible").build(),
                new io.fabric8.kubernetes.api.model.VolumeMountBuilder().withName("tmp").withMountPath("/tmp").build()));
        run(running("app", 0).toBuilder()
                .setUser(dev.berth.cri.v1.ContainerUser.newBuilder().setLinux(dev.berth.cri.v1.LinuxContainerUser.newBuilder()
                        .setUid(1000).setGid(3000).addSupplementalGroups(3000).addSupplementalGroups(4000)))
                .addMounts(dev.berth.cri.v1.Mount.newBuilder().setContainerPath("/data").setReadonly(true).setRecursiveReadOnly(true))
                .addMounts(dev.berth.cri.v1.Mount.newBuilder().setContainerPath("/conf").setReadonly(true))
                .build());
        ContainerStatus app = container(build(pod, null).getContainerStatuses(), "app");
        assertEquals(1000L, app.getUser().getLinux().getUid());
        assertEquals(3000L, app.getUser().getLinux().getGid());
        assertEquals(List.of(3000L, 4000L), app.getUser().getLinux().getSupplementalGroups());
        assertEquals(List.of("data:/data:true:Enabled", "conf:/conf:true:Disabled", "tmp:/tmp:false:null"), app.getVolumeMounts().stream()
                .map(m -> m.getName() + ":" + m.getMountPath() + ":" + m.getReadOnly() + ":" + m.getRecursiveReadOnly()).toList());

        run(running("app", 1));
        assertNull(container(build(pod, null).getContainerStatuses(), "app").getUser(), "a runtime that says no identity: none reported");
    }
}
