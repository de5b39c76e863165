package dev.berth.agent.pod;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.agent.cri.CriClient;
import dev.berth.agent.status.EventRecorder;
import dev.berth.agent.status.PodKnowledge;
import dev.berth.agent.status.PodStatusBuilder;
import dev.berth.agent.status.Waiting;
import dev.berth.agent.testing.FakeCri;
import dev.berth.cri.v1.ContainerState;
import dev.berth.cri.v1.PodSandboxState;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerBuilder;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodStatus;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Restarts across sandboxes, lastState, hooks around starts and stops, and sidecars, through one pass at a time on a fake runtime. */
class PodSyncLifecycleTest {
    @TempDir
    Path dir;

    FakeCri cri;
    CriClient client;
    final List<String> events = new CopyOnWriteArrayList<>();
    final List<String> hookCalls = new CopyOnWriteArrayList<>();
    final PodKnowledge knowledge = new PodKnowledge();
    /** The restart gate: restarts allowed unless the test says no. */
    final AtomicBoolean restartsAllowed = new AtomicBoolean(true);

    @BeforeEach
    void start() throws Exception {
        cri = new FakeCri();
        cri.images.add("img:1");
        client = new CriClient(cri.channel(), Duration.ofSeconds(30), Duration.ofSeconds(30));
    }

    @AfterEach
    void stop() {
        cri.close();
    }

    PodSync sync(ContainerHooks hooks) {
        EventRecorder recorder = (o, type, reason, message) -> events.add(o.getFieldPath() + " " + type + " " + reason + ": " + message);
        return new PodSync(client, new PodTranslation(new NodeFacts(1L << 30, List.of(), List.of(), List.of()), dir.resolve("logs")),
                recorder).withHooks(hooks);
    }

    PodSync.Outcome pass(PodSync sync, Pod pod) {
        return sync.sync(pod, new PodSync.Restarts() {
            @Override
            public boolean mayRestart(Container c, dev.berth.cri.v1.ContainerStatus ended) {
                return restartsAllowed.get();
            }

            @Override
            public Duration backOff(Container c) {
                return Duration.ofSeconds(20);
            }
        }, knowledge);
    }

    static Container container(String name, String args) {
        return new ContainerBuilder().withName(name).withImage("img:1").withImagePullPolicy("IfNotPresent").withArgs(args).build();
    }

    static Container sidecar(String name) {
        return new ContainerBuilder(container(name, "serve")).withRestartPolicy("Always").build();
    }

    static Pod pod(String restartPolicy, List<Container> init, List<Container> app) {
        return new PodBuilder().withNewMetadata().withName("web").withNamespace("ns").withUid("uid-web").endMetadata()
                .withNewSpec().withRestartPolicy(restartPolicy).withTerminationGracePeriodSeconds(30L).withInitContainers(init)
                .withContainers(app).endSpec().build();
    }

    PodStatus status(PodSync sync, Pod pod) {
        return new PodStatusBuilder(() -> "fake", List::of, Clock.systemUTC()).build(pod, null, sync.observe(pod, knowledge),
                PodStatusBuilder.Messages.NONE);
    }

    static ContainerStatus named(List<ContainerStatus> l, String name) {
        return l.stream().filter(c -> c.getName().equals(name)).findFirst().orElseThrow();
    }

    /** A recording hook: each call as "postStart NAME (after N starts)" and "preStop NAME budget Ns (after N stops)". */
    class Recording implements ContainerHooks {
        @Override
        public void postStart(Pod pod, Container container, String containerId) {
            hookCalls.add("postStart " + container.getName() + " after " + cri.calls("StartContainer") + " starts");
        }

        @Override
        public void preStop(Pod pod, Container container, String containerId, Duration budget) {
            // the stops of this container so far (others stop in parallel meanwhile)
            long stopsOfIt = cri.stops.stream().filter(e -> e.getKey().equals(containerId)).count();
            hookCalls.add("preStop " + container.getName() + " budget " + budget.toSeconds() + "s after " + stopsOfIt + " stops");
        }
    }

    @Test
    void restartCountGoesOnAcrossANewSandboxAndLastStateIsTheNewestEndedRun() throws Exception {
        PodSync sync = sync(ContainerHooks.NONE);
        Pod pod = pod("Always", List.of(), List.of(container("app", "serve")));
        pass(sync, pod);
        String first = cri.containerOf("uid-web", "app");
        cri.exit(first, 3, null);
        pass(sync, pod);
        String second = cri.containerOf("uid-web", "app");
        assertEquals(1, cri.containers.get(second).getMetadata().getAttempt());
        assertEquals(ContainerState.CONTAINER_EXITED, cri.containers.get(first).getState(), "the ended run stays in the runtime");
        assertEquals(0, cri.calls("RemoveContainer"));
        // the sandbox dies (its containers with it): a new one, and the container's next attempt in it
        String oldSandbox = cri.containerSandbox.get(second);
        cri.exit(second, 137, null);
        cri.sandboxes.computeIfPresent(oldSandbox, (k, s) -> s.toBuilder().setState(PodSandboxState.SANDBOX_NOTREADY).build());
        pass(sync, pod);
        String third = cri.containerOf("uid-web", "app");
        assertFalse(cri.containerSandbox.get(third).equals(oldSandbox), "in a new sandbox");
        assertEquals(2, cri.containers.get(third).getMetadata().getAttempt());
        assertTrue(cri.sandboxes.containsKey(oldSandbox), "the old sandbox is kept, stopped, with its containers");

        ContainerStatus app = named(status(sync, pod).getContainerStatuses(), "app");
        assertEquals(2, app.getRestartCount());
        assertNotNull(app.getState().getRunning());
        var last = app.getLastState().getTerminated();
        assertEquals(137, last.getExitCode());
        assertEquals("fake://" + second, last.getContainerID());
        assertEquals("Error", last.getReason());
        assertNotNull(last.getStartedAt());
        assertNotNull(last.getFinishedAt());
    }

    @Test
    void aHeldBackRestartWaitsInCrashLoopBackOffWithTheKubeletsMessage() throws Exception {
        PodSync sync = sync(ContainerHooks.NONE);
        Pod pod = pod("Always", List.of(), List.of(container("app", "exit 1")));
        pass(sync, pod);
        restartsAllowed.set(false);
        assertEquals(PodSync.Outcome.BACKING_OFF, pass(sync, pod));
        Waiting w = knowledge.waiting().get("app");
        assertEquals("CrashLoopBackOff", w.reason());
        assertEquals("back-off 20s restarting failed container=app pod=web_ns(uid-web)", w.message());
        ContainerStatus app = named(status(sync, pod).getContainerStatuses(), "app");
        assertEquals("CrashLoopBackOff", app.getState().getWaiting().getReason());
        assertEquals(1, app.getLastState().getTerminated().getExitCode());
    }

    @Test
    void initContainersRerunOnFailureByThePodsPolicy() throws Exception {
        PodSync sync = sync(ContainerHooks.NONE);
        Pod onFailure = pod("OnFailure", List.of(container("init", "exit 2")), List.of(container("app", "serve")));
        assertEquals(PodSync.Outcome.WAITING_FOR_EXIT, pass(sync, onFailure));
        pass(sync, onFailure);
        assertEquals(2, cri.containers.values().stream().filter(c -> c.getMetadata().getName().equals("init")).count(), "run again");
        assertEquals(null, cri.containerOf("uid-web", "app"), "the app container waits for the init container");
    }

    @Test
    void hooksRunRightAfterTheStartAndBeforeTheStop() throws Exception {
        PodSync sync = sync(new Recording());
        Pod pod = pod("Always", List.of(), List.of(container("app", "serve")));
        pass(sync, pod);
        assertEquals(List.of("postStart app after 1 starts"), hookCalls);
        hookCalls.clear();
        Pod withPreStop = new PodBuilder(pod).editSpec().editFirstContainer().withNewLifecycle().withNewPreStop().withNewSleep(1L).endPreStop().endLifecycle().endContainer().endSpec().build();
        sync.kill(withPreStop, -1);
        assertEquals(List.of("preStop app budget 30s after 0 stops"), hookCalls);
        assertEquals(1, cri.calls("StopContainer"));
        assertTrue(events.contains("spec.containers{app} Normal Killing: Stopping container app"), events.toString());
    }

    @Test
    void aFailedPostStartHookKillsTheContainerAndItsPolicyRestartsIt() throws Exception {
        AtomicBoolean fail = new AtomicBoolean(true);
        PodSync sync = sync(new Recording() {
            @Override
            public void postStart(Pod pod, Container container, String containerId) {
                super.postStart(pod, container, containerId);
                if (fail.getAndSet(false)) {
                    throw new HookFailedException("Exec lifecycle hook ([false]) for Container \"app\" in Pod \"web_ns(uid-web)\" failed");
                }
            }
        });
        Pod pod = pod("Always", List.of(), List.of(container("app", "serve")));
        assertEquals(PodSync.Outcome.PENDING, pass(sync, pod));
        String first = cri.containerOf("uid-web", "app");
        assertEquals(ContainerState.CONTAINER_EXITED, cri.containers.get(first).getState(), "killed");
        assertEquals(List.of(Map.entry(first, 30L)), cri.stops, "stopped with the pod's grace period");
        assertTrue(events.contains("spec.containers{app} Warning FailedPostStartHook: Exec lifecycle hook ([false]) for Container"
                + " \"app\" in Pod \"web_ns(uid-web)\" failed"), events.toString());
        assertTrue(events.contains("spec.containers{app} Normal Killing: FailedPostStartHook"), events.toString());
        pass(sync, pod);
        String second = cri.containerOf("uid-web", "app");
        assertEquals(1, cri.containers.get(second).getMetadata().getAttempt(), "restarted by its policy");
        assertEquals(ContainerState.CONTAINER_RUNNING, cri.containers.get(second).getState());
    }

    @Test
    void thePreStopHooksTimeIsTakenFromTheGracePeriodLeavingAtLeastTwoSeconds() throws Exception {
        PodSync sync = sync(new ContainerHooks() {
            @Override
            public void postStart(Pod pod, Container container, String containerId) {
            }

            @Override
            public void preStop(Pod pod, Container container, String containerId, Duration budget) {
                hookCalls.add(container.getName() + " " + budget.toSeconds());
                try {
                    Thread.sleep(1100);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        });
        Container slow = new ContainerBuilder(container("app", "serve")).withNewLifecycle().withNewPreStop().withNewSleep(1L)
                .endPreStop().endLifecycle().build();
        Container plain = container("plain", "serve");
        Pod pod = new PodBuilder(pod("Always", List.of(), List.of(slow, plain))).editSpec().withTerminationGracePeriodSeconds(5L)
                .endSpec().build();
        pass(sync, pod);
        String app = cri.containerOf("uid-web", "app");
        String other = cri.containerOf("uid-web", "plain");
        sync.kill(pod, -1);
        assertEquals(List.of("app 5"), hookCalls, "only a container with a preStop hook runs it, with the grace period as budget");
        assertTrue(cri.stops.contains(Map.entry(app, 4L)), "5 s less the hook's whole second: " + cri.stops);
        assertTrue(cri.stops.contains(Map.entry(other, 5L)), cri.stops.toString());

        hookCalls.clear();
        cri.stops.clear();
        Pod tight = new PodBuilder(pod).editMetadata().withUid("uid-tight").endMetadata().editSpec().withTerminationGracePeriodSeconds(2L)
                .endSpec().build();
        pass(sync, tight);
        String tightApp = cri.containerOf("uid-tight", "app");
        sync.kill(tight, -1);
        assertTrue(cri.stops.contains(Map.entry(tightApp, 2L)), "2 s less 1 s, raised to the kubelet's minimum of 2 s: " + cri.stops);
    }

    @Test
    void sidecarsStartInOrderBeforeTheAppContainersAndKeepRunning() throws Exception {
        PodSync sync = sync(new Recording());
        Pod pod = pod("OnFailure", List.of(sidecar("proxy"), container("setup", "exit 0"), sidecar("logger")),
                List.of(container("app", "serve")));
        List<PodSync.Outcome> outcomes = new ArrayList<>();
        for (int i = 0; i < 4 && cri.containerOf("uid-web", "app") == null; i++) {
            outcomes.add(pass(sync, pod));
        }
        assertEquals(List.of("postStart proxy after 1 starts", "postStart setup after 2 starts", "postStart logger after 3 starts",
                "postStart app after 4 starts"), hookCalls);
        String sandbox = cri.containerSandbox.get(cri.containerOf("uid-web", "app"));
        assertEquals(Map.of("proxy", ContainerState.CONTAINER_RUNNING, "setup", ContainerState.CONTAINER_EXITED,
                "logger", ContainerState.CONTAINER_RUNNING, "app", ContainerState.CONTAINER_RUNNING), cri.containerStates(sandbox));
        assertEquals(PodSync.Outcome.SETTLED, pass(sync, pod));

        PodStatus s = status(sync, pod);
        ContainerStatus proxy = named(s.getInitContainerStatuses(), "proxy");
        assertTrue(proxy.getStarted());
        assertTrue(proxy.getReady(), "a running sidecar is ready (no readiness probe)");
        assertEquals("Running", s.getPhase());
        assertEquals("True", s.getConditions().stream().filter(c -> c.getType().equals("Initialized")).findFirst().orElseThrow().getStatus());
        assertEquals("True", s.getConditions().stream().filter(c -> c.getType().equals("Ready")).findFirst().orElseThrow().getStatus());

        // a sidecar that exits is started again, whatever the pod's policy, as its next attempt
        cri.exit(cri.containerOf("uid-web", "proxy"), 0, null);
        pass(sync, pod);
        assertEquals(1, cri.containers.get(cri.containerOf("uid-web", "proxy")).getMetadata().getAttempt());
        assertEquals(ContainerState.CONTAINER_RUNNING, cri.containers.get(cri.containerOf("uid-web", "proxy")).getState());
    }

    @Test
    void theNextInitContainerWaitsUntilASidecarHasStarted() throws Exception {
        AtomicBoolean started = new AtomicBoolean(false);
        PodSync sync = sync(ContainerHooks.NONE).withStartedGate(new dev.berth.agent.status.ProbeStates() {
            @Override
            public boolean started(String podUid, io.fabric8.kubernetes.api.model.Container spec, String containerId) {
                return started.get();
            }

            @Override
            public boolean ready(String podUid, io.fabric8.kubernetes.api.model.Container spec, String containerId) {
                return true;
            }
        });
        Pod pod = pod("Always", List.of(sidecar("proxy"), container("setup", "exit 0")), List.of(container("app", "serve")));
        assertEquals(PodSync.Outcome.PENDING, pass(sync, pod));
        assertEquals(PodSync.Outcome.PENDING, pass(sync, pod));
        assertEquals(null, cri.containerOf("uid-web", "setup"), "not before the sidecar's startup probe succeeded");
        PodStatus s = status(sync, pod);
        assertEquals("False", s.getConditions().stream().filter(c -> c.getType().equals("Initialized")).findFirst().orElseThrow().getStatus());
        started.set(true);
        pass(sync, pod);
        assertNotNull(cri.containerOf("uid-web", "setup"));
    }

    @Test
    void sidecarsStopAfterTheAppContainersInReverseOrder() throws Exception {
        PodSync sync = sync(new Recording());
        Container app = new ContainerBuilder(container("app", "serve")).withNewLifecycle().withNewPreStop().withNewSleep(1L)
                .endPreStop().endLifecycle().build();
        Pod pod = pod("Always", List.of(sidecar("first"), sidecar("second")), List.of(app, container("web", "serve")));
        for (int i = 0; i < 3; i++) {
            pass(sync, pod);
        }
        hookCalls.clear();
        Map<String, String> names = new java.util.HashMap<>();
        cri.containers.forEach((id, c) -> names.put(id, c.getMetadata().getName()));
        sync.kill(pod, 5);
        List<String> order = cri.stops.stream().map(e -> names.get(e.getKey())).toList();
        assertEquals(4, order.size(), order.toString());
        assertEquals(List.of("app", "web"), order.subList(0, 2).stream().sorted().toList(), "the app containers first: " + order);
        assertEquals(List.of("second", "first"), order.subList(2, 4), "then the sidecars, the last one first");
        assertEquals(List.of("preStop app budget 5s after 0 stops"), hookCalls);
        assertTrue(cri.sandboxes.isEmpty(), "then the sandbox is removed");
    }

    @Test
    void aPodWhoseAppContainersEndedStopsItsSidecars() throws Exception {
        PodSync sync = sync(ContainerHooks.NONE);
        Pod pod = pod("Never", List.of(sidecar("proxy")), List.of(container("job", "exit 0")));
        pass(sync, pod);
        String proxy = cri.containerOf("uid-web", "proxy");
        assertEquals(PodSync.Outcome.SETTLED, pass(sync, pod));
        assertEquals(ContainerState.CONTAINER_EXITED, cri.containers.get(proxy).getState(), "the sidecar was stopped");
        assertEquals("proxy", cri.stoppedNames().get(0));
        assertTrue(cri.sandboxes.values().stream().allMatch(s -> s.getState() == PodSandboxState.SANDBOX_NOTREADY));
        assertEquals("Succeeded", status(sync, pod).getPhase());
    }

    @Test
    void aLivenessKillIsRestartedByThePolicy() throws Exception {
        PodSync sync = sync(ContainerHooks.NONE);
        Pod pod = pod("OnFailure", List.of(), List.of(container("app", "serve")));
        pass(sync, pod);
        String first = cri.containerOf("uid-web", "app");
        // what the probe manager does: StopContainer, then a resync
        client.stopContainerAsync(first, 2).get();
        pass(sync, pod);
        String second = cri.containerOf("uid-web", "app");
        assertEquals(1, cri.containers.get(second).getMetadata().getAttempt());
        assertEquals(ContainerState.CONTAINER_RUNNING, cri.containers.get(second).getState());
    }
}
