package dev.berth.agent.pod;

import dev.berth.agent.cri.CriClient;
import dev.berth.agent.status.EventRecorder;
import dev.berth.agent.status.PodKnowledge;
import dev.berth.agent.status.PodSnapshot;
import dev.berth.agent.status.ProbeStates;
import dev.berth.agent.status.Waiting;
import dev.berth.agent.volume.PodVolumes;
import dev.berth.common.DaemonThreads;
import dev.berth.common.Trees;
import dev.berth.cri.v1.ContainerState;
import dev.berth.cri.v1.ContainerStatus;
import dev.berth.cri.v1.PodSandbox;
import dev.berth.cri.v1.PodSandboxConfig;
import dev.berth.cri.v1.PodSandboxState;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.Pod;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Predicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One step of bringing the runtime to a pod's desired state, through the CRI only: the pod's
 * newest ready sandbox (created when there is none; other sandboxes are stopped, and kept with
 * their containers as the kubelet keeps them for the garbage collector), then its init
 * containers one at a time in order (each must exit 0; a sidecar, an init container of
 * restartPolicy Always, must have started and keeps running), then its app containers,
 * restarted by the pod's restartPolicy, sidecars always. What the runtime already runs is
 * adopted as it is, found by the kubelet's labels: a restarted agent recreates nothing.
 *
 * <p>Ended containers stay in the runtime: a container's next run is the attempt after the
 * newest of its name in any sandbox of the pod (its restartCount), and the newest ended run is
 * its lastState. Whether an ended container may start again now is the caller's
 * {@link Restarts} (the crash back-off). Hooks: postStart right after a start (a failed one
 * kills the container), preStop before every stop, its time taken from the grace period.
 *
 * <p>What the runtime cannot tell is recorded in the caller's {@link PodKnowledge}: why a
 * container waits (a failed pull, a configuration error, a restart held back by its
 * back-off), cleared once it starts, and each container's last run and attempt (should the
 * runtime's records go). Events (Pulling, Pulled, Failed, BackOff, Created, Started, Killing,
 * FailedPostStartHook) go to the {@link EventRecorder}.
 */
public final class PodSync {
    private static final Logger LOG = LoggerFactory.getLogger(PodSync.class);
    /** The least grace period a stop gets after the preStop hook and the wait for its turn, as the kubelet's minimum. */
    static final long MINIMUM_GRACE_SECONDS = 2;

    /** What a sync step left: nothing to wait for, or something to look at again soon. */
    public enum Outcome {
        /** Every app container runs, or has ended as its restart policy wants. */
        SETTLED,
        /** Something is on its way that needs another look soon (a created container was started, a sidecar is starting). */
        PENDING,
        /** An init container runs; its exit (a container event or the relist sees it) moves the pod on. */
        WAITING_FOR_EXIT,
        /** A container's restart waits for its back-off to end. */
        BACKING_OFF
    }

    /** Whether an ended container may run again now: the crash back-off of the pod's worker. */
    public interface Restarts {
        /**
         * Whether {@code c}, whose newest run {@code ended} has ended, may start again now; true
         * counts the restart (the next back-off grows).
         */
        boolean mayRestart(Container c, ContainerStatus ended);

        /** The back-off that holds {@code c} back now, for its CrashLoopBackOff message (null: not known). */
        default Duration backOff(Container c) {
            return null;
        }
    }

    private final CriClient cri;
    private final PodTranslation translation;
    private final PodVolumes volumes;
    private final EventRecorder events;
    private final ContainerHooks hooks;
    private final ProbeStates startedGate;
    /** Runs the stops of a pod's containers in parallel (each may run a preStop hook and wait for its turn). */
    private final ExecutorService stops;

    /** A sync without volumes: pods get no volume mounts, termination-message file or /etc/hosts of the agent's. */
    public PodSync(CriClient cri, PodTranslation translation) {
        this(cri, translation, null, EventRecorder.NONE);
    }

    /** {@code volumes} are set up before a pod's sandbox, mounted into its containers and torn down after it is killed. */
    public PodSync(CriClient cri, PodTranslation translation, PodVolumes volumes) {
        this(cri, translation, volumes, EventRecorder.NONE);
    }

    public PodSync(CriClient cri, PodTranslation translation, EventRecorder events) {
        this(cri, translation, null, events);
    }

    /**
     * @param volumes set up before a pod's sandbox, mounted into its containers and torn down after it is killed (null: none)
     * @param events where the pod's events go
     */
    public PodSync(CriClient cri, PodTranslation translation, PodVolumes volumes, EventRecorder events) {
        this(cri, translation, volumes, events, ContainerHooks.NONE, ProbeStates.NONE, newStopPool());
    }

    private PodSync(CriClient cri, PodTranslation translation, PodVolumes volumes, EventRecorder events, ContainerHooks hooks,
                    ProbeStates startedGate, ExecutorService stops) {
        this.cri = cri;
        this.translation = translation;
        this.volumes = volumes;
        this.events = events;
        this.hooks = hooks;
        this.startedGate = startedGate;
        this.stops = stops;
    }

    private static ExecutorService newStopPool() {
        return Executors.newCachedThreadPool(DaemonThreads.named("pod-stop"));
    }

    /** The same sync running {@code hooks} (postStart after each start, preStop before each stop). */
    public PodSync withHooks(ContainerHooks hooks) {
        return new PodSync(cri, translation, volumes, events, hooks, startedGate, stops);
    }

    /**
     * The same sync with {@code started} telling whether a running container has started (its
     * startup probe succeeded): the next init container waits until a sidecar has. Without it, a
     * running container has started.
     */
    public PodSync withStartedGate(ProbeStates started) {
        return new PodSync(cri, translation, volumes, events, hooks, started, stops);
    }

    public PodTranslation translation() {
        return translation;
    }

    /** Whether {@code c} is a sidecar: an init container of restartPolicy Always, which keeps running beside the app containers. */
    public static boolean isSidecar(Container c) {
        return "Always".equals(c.getRestartPolicy());
    }

    /**
     * One pass over {@code pod}. Container failures (image, configuration, runtime) are
     * thrown; the caller retries with back-off.
     * @param restartAllowed whether an exited container whose policy restarts it may be restarted now (its back-off is over)
     */
    public Outcome sync(Pod pod, Predicate<String> restartAllowed) {
        return sync(pod, restartAllowed, new PodKnowledge());
    }

    /** One pass over {@code pod} with a restart gate by container name; see {@link #sync(Pod, Restarts, PodKnowledge)}. */
    public Outcome sync(Pod pod, Predicate<String> restartAllowed, PodKnowledge knowledge) {
        return sync(pod, (c, ended) -> restartAllowed.test(c.getName()), knowledge);
    }

    /** One pass over {@code pod}, recording in {@code knowledge} what the runtime will not tell; see the class comment. */
    public Outcome sync(Pod pod, Restarts restarts, PodKnowledge knowledge) {
        String uid = pod.getMetadata().getUid();
        if (volumes != null) {
            try {
                volumes.setUp(pod);
            } catch (RuntimeException e) {
                events.event(EventRecorder.podReference(pod, null), EventRecorder.WARNING, "FailedMount",
                        "MountVolume.SetUp failed: " + e.getMessage());
                throw e;
            }
        }
        List<PodSandbox> sandboxes = new ArrayList<>(cri.listPodSandboxes(PodTranslation.podSelector(uid)));
        sandboxes.sort(Comparator.comparingLong(PodSandbox::getCreatedAt).reversed());
        Optional<PodSandbox> ready = sandboxes.stream().filter(s -> s.getState() == PodSandboxState.SANDBOX_READY).findFirst();
        // a finished pod keeps its last sandbox, stopped: nothing is started again and its containers' statuses stay readable
        Optional<PodSandbox> finished = ready.isEmpty() && !sandboxes.isEmpty() && finished(pod, sandboxes.get(0).getId())
                ? Optional.of(sandboxes.get(0)) : Optional.empty();
        for (PodSandbox s : sandboxes) {
            if (finished.isPresent() && s.getId().equals(finished.get().getId())) {
                continue;
            }
            if (ready.isEmpty() || !s.getId().equals(ready.get().getId())) {
                retire(pod, s);
            }
        }
        if (finished.isPresent()) {
            return Outcome.SETTLED;
        }
        // a runtime that removes the pod cgroup with a sandbox (berth) may have done so when the last one went
        translation.cgroups().ensure(pod);
        String sandboxId;
        PodSandboxConfig sandboxConfig;
        if (ready.isPresent()) {
            sandboxId = ready.get().getId();
            sandboxConfig = translation.sandboxConfig(pod, ready.get().getMetadata().getAttempt(), KubeletKeys.source(pod));
        } else {
            int attempt = sandboxes.stream().mapToInt(s -> s.getMetadata().getAttempt() + 1).max().orElse(0);
            try {
                sandboxConfig = translation.sandboxConfig(pod, attempt, KubeletKeys.source(pod));
            } catch (UserNamespaces.UserNamespaceException e) {
                events.event(EventRecorder.podReference(pod, null), EventRecorder.WARNING, "FailedCreatePodSandBox",
                        "Failed to generate sandbox config for pod \"" + name(pod) + "\": " + e.getMessage());
                throw e;
            }
            sandboxId = cri.runPodSandbox(sandboxConfig, runtimeHandler(pod));
            LOG.info("pod {}: sandbox {} (attempt {}) started", name(pod), sandboxId, attempt);
        }
        List<String> podIps = podIps(sandboxId);
        Run run = new Run(pod, sandboxId, sandboxConfig, podIps, knowledge, restarts, new Runs(sandboxes));

        boolean appStarted = pod.getSpec().getContainers().stream().anyMatch(c -> run.current(c.getName()) != null);
        if (!appStarted) {
            for (Container init : pod.getSpec().getInitContainers()) {
                boolean sidecar = isSidecar(init);
                ContainerStatus s = run.current(init.getName());
                Started started;
                if (s == null) {
                    started = run.startOrHold(init);
                } else if (s.getState() == ContainerState.CONTAINER_CREATED) {
                    started = run.startCreated(init, s);
                } else if (s.getState() == ContainerState.CONTAINER_RUNNING) {
                    if (sidecar && run.hasStarted(init, s.getId())) {
                        continue; // a started sidecar lets the next init container start
                    }
                    return sidecar ? Outcome.PENDING : Outcome.WAITING_FOR_EXIT;
                } else if (!sidecar && s.getExitCode() == 0 && s.getState() == ContainerState.CONTAINER_EXITED) {
                    continue;
                } else if (!sidecar && "Never".equals(pod.getSpec().getRestartPolicy())) {
                    LOG.warn("pod {}: init container {} failed (exit {}); restartPolicy Never: the pod stays failed", name(pod),
                            init.getName(), s.getExitCode());
                    stopFinished(pod, sandboxId);
                    return Outcome.SETTLED;
                } else {
                    started = run.restartOrHold(init, s);
                }
                if (started == Started.HELD) {
                    return Outcome.BACKING_OFF;
                }
                if (sidecar && started == Started.RUNNING && run.hasStarted(init, run.lastStartedId)) {
                    continue;
                }
                return sidecar || started == Started.KILLED ? Outcome.PENDING : Outcome.WAITING_FOR_EXIT;
            }
        }
        if (ended(pod, run)) {
            stopFinished(pod, sandboxId);
            return Outcome.SETTLED;
        }
        Outcome outcome = Outcome.SETTLED;
        // sidecars keep running beside the app containers: each one that ended is started again, whatever the pod's policy
        for (Container c : pod.getSpec().getInitContainers()) {
            if (isSidecar(c)) {
                outcome = worse(outcome, keepRunning(run, c, true));
            }
        }
        for (Container c : pod.getSpec().getContainers()) {
            outcome = worse(outcome, keepRunning(run, c, false));
        }
        return outcome;
    }

    /** Starts {@code c} (a sidecar or an app container) when it has no run in the current sandbox, or restarts it by its policy. */
    private Outcome keepRunning(Run run, Container c, boolean sidecar) {
        Pod pod = run.pod;
        ContainerStatus s = run.current(c.getName());
        Started started;
        if (s == null) {
            ContainerStatus before = run.runs.newest(c.getName());
            if (!sidecar && before != null && ended(before) && !restarts(pod, before)) {
                run.waiting.remove(c.getName()); // ended for good in an earlier sandbox (OnFailure: it succeeded)
                return Outcome.SETTLED;
            }
            started = run.startOrHold(c);
        } else if (s.getState() == ContainerState.CONTAINER_CREATED) {
            started = run.startCreated(c, s);
        } else if (s.getState() == ContainerState.CONTAINER_RUNNING) {
            return Outcome.SETTLED;
        } else if (sidecar || restarts(pod, s)) {
            started = run.restartOrHold(c, s);
        } else {
            run.waiting.remove(c.getName()); // ended for good, as its restart policy wants
            return Outcome.SETTLED;
        }
        return switch (started) {
            case HELD -> Outcome.BACKING_OFF;
            case KILLED -> Outcome.PENDING;
            case RUNNING -> s != null && s.getState() == ContainerState.CONTAINER_CREATED ? Outcome.PENDING : Outcome.SETTLED;
        };
    }

    /** The outcome that needs the sooner look of the two: PENDING before BACKING_OFF before SETTLED. */
    private static Outcome worse(Outcome a, Outcome b) {
        if (a == Outcome.PENDING || b == Outcome.PENDING) {
            return Outcome.PENDING;
        }
        if (a == Outcome.BACKING_OFF || b == Outcome.BACKING_OFF) {
            return Outcome.BACKING_OFF;
        }
        return a == Outcome.SETTLED ? b : a;
    }

    /**
     * A sandbox that is not the pod's current one: its containers are stopped as a pod's are
     * killed (hooks, sidecars last) and it is stopped, when something of it still runs. It is
     * kept with its containers, as the kubelet keeps them: their attempts count the restarts
     * and the newest ended run is the lastState; the garbage collector removes them.
     */
    private void retire(Pod pod, PodSandbox s) {
        List<dev.berth.cri.v1.Container> live = cri.listContainers(s.getId()).stream().filter(PodSync::live).toList();
        if (s.getState() != PodSandboxState.SANDBOX_READY && live.isEmpty()) {
            return;
        }
        LOG.info("pod {}: stopping sandbox {} (attempt {}, {})", name(pod), s.getId(), s.getMetadata().getAttempt(), s.getState());
        stopContainers(pod, live, podGrace(pod), null);
        try {
            cri.stopPodSandbox(s.getId());
        } catch (StatusRuntimeException e) {
            if (e.getStatus().getCode() != Status.Code.NOT_FOUND) {
                throw e;
            }
        }
    }

    /**
     * Whether the pod ran to its end in sandbox {@code sandboxId}, as the kubelet decides that a
     * pod needs no new sandbox: under restartPolicy Never a (non-sidecar) init container failed or
     * every app container ended; under OnFailure every app container ended with 0. (Always never ends.)
     */
    private boolean finished(Pod pod, String sandboxId) {
        Map<String, ContainerStatus> latest = latestStatuses(containerRuns(sandboxId));
        if ("Never".equals(pod.getSpec().getRestartPolicy())) {
            for (Container init : pod.getSpec().getInitContainers()) {
                ContainerStatus s = latest.get(init.getName());
                if (!isSidecar(init) && s != null && s.getState() == ContainerState.CONTAINER_EXITED && s.getExitCode() != 0) {
                    return true;
                }
            }
        }
        for (Container c : pod.getSpec().getContainers()) {
            ContainerStatus s = latest.get(c.getName());
            if (s == null || !ended(s) || restarts(pod, s)) {
                return false;
            }
        }
        return true;
    }

    /**
     * Every app container has run and ended, and none is to be restarted by the pod's
     * restartPolicy: in the current sandbox, or (none there yet) in the sandbox before.
     */
    private static boolean ended(Pod pod, Run run) {
        for (Container c : pod.getSpec().getContainers()) {
            ContainerStatus s = run.current(c.getName());
            if (s == null) {
                s = run.runs.newest(c.getName());
            }
            if (s == null || !ended(s) || restarts(pod, s)) {
                return false;
            }
        }
        return true;
    }

    private static boolean ended(ContainerStatus s) {
        return s.getState() == ContainerState.CONTAINER_EXITED || s.getState() == ContainerState.CONTAINER_UNKNOWN;
    }

    private static boolean live(dev.berth.cri.v1.Container c) {
        return c.getState() == ContainerState.CONTAINER_RUNNING || c.getState() == ContainerState.CONTAINER_CREATED
                || c.getState() == ContainerState.CONTAINER_UNKNOWN;
    }

    /**
     * A finished pod's sandbox is stopped, as the kubelet stops it: what still runs in it (its
     * sidecars) is stopped first as a pod's containers are, then the sandbox; its IP and network
     * go back, its record stays until the pod goes.
     */
    private void stopFinished(Pod pod, String sandboxId) {
        LOG.info("pod {}: every container has ended for good; stopping sandbox {}", name(pod), sandboxId);
        stopContainers(pod, cri.listContainers(sandboxId).stream().filter(PodSync::live).toList(), podGrace(pod), null);
        cri.stopPodSandbox(sandboxId);
    }

    private static boolean restarts(Pod pod, ContainerStatus s) {
        String policy = pod.getSpec().getRestartPolicy();
        return "Always".equals(policy) || policy == null
                || "OnFailure".equals(policy) && (s.getExitCode() != 0 || s.getState() == ContainerState.CONTAINER_UNKNOWN);
    }

    /** The grace period of the pod's containers: its deletion's when it is being deleted, else its spec's (30 s by default). */
    static long podGrace(Pod pod) {
        Long deletion = pod.getMetadata().getDeletionGracePeriodSeconds();
        return deletion != null ? Math.max(0, deletion) : PodTranslation.gracePeriodSeconds(pod);
    }

    /** What became of a start: the container runs, its postStart hook failed and it was killed, or its back-off held it back. */
    private enum Started {
        RUNNING, KILLED, HELD
    }

    /**
     * Every container run of a pod's sandboxes, by container name, newest first (by attempt, then
     * creation), with their statuses fetched once when asked.
     */
    private final class Runs {
        final Map<String, List<dev.berth.cri.v1.Container>> byName = new HashMap<>();
        final Map<String, ContainerStatus> statuses = new HashMap<>();

        Runs(List<PodSandbox> sandboxes) {
            for (PodSandbox s : sandboxes) {
                for (dev.berth.cri.v1.Container c : cri.listContainers(s.getId())) {
                    byName.computeIfAbsent(c.getMetadata().getName(), k -> new ArrayList<>()).add(c);
                }
            }
            byName.values().forEach(l -> l.sort(NEWEST_FIRST));
        }

        /** The status of the newest run of {@code name} in any sandbox, or null. */
        ContainerStatus newest(String name) {
            List<dev.berth.cri.v1.Container> l = byName.get(name);
            return l == null ? null : status(l.get(0));
        }

        /** The status of the newest run of {@code name} in sandbox {@code sandboxId}, or null. */
        ContainerStatus newestIn(String name, String sandboxId) {
            for (dev.berth.cri.v1.Container c : byName.getOrDefault(name, List.of())) {
                if (c.getPodSandboxId().equals(sandboxId)) {
                    return status(c);
                }
            }
            return null;
        }

        /** The highest attempt of {@code name} in the runtime, or -1. */
        int lastAttempt(String name) {
            List<dev.berth.cri.v1.Container> l = byName.get(name);
            return l == null ? -1 : l.get(0).getMetadata().getAttempt();
        }

        private ContainerStatus status(dev.berth.cri.v1.Container c) {
            return statuses.computeIfAbsent(c.getId(), id -> {
                try {
                    return cri.containerStatus(id);
                } catch (StatusRuntimeException e) {
                    if (e.getStatus().getCode() != Status.Code.NOT_FOUND) {
                        throw e;
                    }
                    // gone between the list and now (the garbage collector): its listed state stands in
                    return ContainerStatus.newBuilder().setId(id).setMetadata(c.getMetadata()).setState(c.getState())
                            .setCreatedAt(c.getCreatedAt()).putAllLabels(c.getLabelsMap()).putAllAnnotations(c.getAnnotationsMap()).build();
                }
            });
        }
    }

    private static final Comparator<dev.berth.cri.v1.Container> NEWEST_FIRST = Comparator
            .<dev.berth.cri.v1.Container>comparingInt(c -> -c.getMetadata().getAttempt())
            .thenComparingLong(c -> -c.getCreatedAt());

    /** One pass's view of the pod's sandbox, and the container operations of the pass. */
    private final class Run {
        final Pod pod;
        final String sandboxId;
        final PodSandboxConfig sandboxConfig;
        final List<String> podIps;
        final PodKnowledge knowledge;
        final Map<String, Waiting> waiting;
        final Restarts restarts;
        final Runs runs;
        /** The container the last start of this pass made. */
        String lastStartedId;
        /** The containers this pass started, by name, as the runtime showed them right after. */
        final Map<String, ContainerStatus> fresh = new HashMap<>();

        Run(Pod pod, String sandboxId, PodSandboxConfig sandboxConfig, List<String> podIps, PodKnowledge knowledge, Restarts restarts,
            Runs runs) {
            this.pod = pod;
            this.sandboxId = sandboxId;
            this.sandboxConfig = sandboxConfig;
            this.podIps = podIps;
            this.knowledge = knowledge;
            this.waiting = knowledge.waiting();
            this.restarts = restarts;
            this.runs = runs;
        }

        /** The newest run of {@code name} in the current sandbox, or null. */
        ContainerStatus current(String name) {
            ContainerStatus s = fresh.get(name);
            return s != null ? s : runs.newestIn(name, sandboxId);
        }

        /** Whether the container {@code id} (of {@code spec}) runs and has started (its startup probe, if any, succeeded). */
        boolean hasStarted(Container spec, String id) {
            if (id == null) {
                return false;
            }
            ContainerStatus s = fresh.values().stream().filter(f -> f.getId().equals(id)).findFirst().orElse(null);
            if (s != null && s.getState() != ContainerState.CONTAINER_RUNNING) {
                return false;
            }
            return startedGate.started(pod.getMetadata().getUid(), spec, id);
        }

        /** The attempt of {@code name}'s next run: after the newest the runtime has, or the agent saw, in any sandbox. */
        int nextAttempt(String name) {
            int last = Math.max(runs.lastAttempt(name), knowledge.attempts().getOrDefault(name, -1));
            return last + 1;
        }

        /** Starts {@code c}, which has no run in the current sandbox: as a restart when an earlier sandbox has an ended run of it. */
        Started startOrHold(Container c) {
            ContainerStatus before = runs.newest(c.getName());
            if (before != null && ended(before)) {
                return restartOrHold(c, before);
            }
            return start(c, nextAttempt(c.getName()));
        }

        /** Restarts {@code c} whose newest run {@code previous} ended, unless its back-off holds it back. */
        Started restartOrHold(Container c, ContainerStatus previous) {
            if (!restarts.mayRestart(c, previous)) {
                backOff(c);
                return Started.HELD;
            }
            LOG.info("pod {}: container {} exited ({}, code {}); restarting it", name(pod), c.getName(), previous.getReason(),
                    previous.getExitCode());
            knowledge.lastRuns().put(c.getName(), previous);
            return start(c, nextAttempt(c.getName()));
        }

        /** {@code c} must wait for its restart back-off. */
        void backOff(Container c) {
            Duration d = restarts.backOff(c);
            String message = "back-off " + (d == null ? "" : CrashBackOff.goDuration(d) + " ") + "restarting failed container="
                    + c.getName() + " pod=" + pod.getMetadata().getName() + "_" + pod.getMetadata().getNamespace() + "("
                    + pod.getMetadata().getUid() + ")";
            Waiting before = waiting.get(c.getName());
            if (before == null || !before.reason().equals(Waiting.CRASH_LOOP_BACK_OFF)) {
                events.event(EventRecorder.podReference(pod, c.getName()), EventRecorder.WARNING, "BackOff",
                        "Back-off restarting failed container " + c.getName() + " in pod " + name(pod));
            }
            if (before == null || !before.message().equals(message)) {
                LOG.info("pod {}: container {} waits: {}: {}", name(pod), c.getName(), Waiting.CRASH_LOOP_BACK_OFF, message);
            }
            waiting.put(c.getName(), new Waiting(Waiting.CRASH_LOOP_BACK_OFF, message));
        }

        /** Starts a container the runtime has created but not started (an earlier pass stopped in between). */
        Started startCreated(Container c, ContainerStatus s) {
            try {
                cri.startContainer(s.getId());
            } catch (StatusRuntimeException e) {
                waiting.put(c.getName(), new Waiting(Waiting.RUN_CONTAINER_ERROR, describe(e)));
                events.event(EventRecorder.podReference(pod, c.getName()), EventRecorder.WARNING, "Failed", "Error: " + describe(e));
                throw e;
            }
            return started(c, s.getId());
        }

        Started start(Container c, int attempt) {
            var ref = EventRecorder.podReference(pod, c.getName());
            String image;
            Map<String, String> imageVolumes;
            try {
                image = ensureImage(pod, c, sandboxConfig);
                imageVolumes = ensureImageVolumes(pod, c, sandboxConfig);
            } catch (ContainerConfigException e) {
                Waiting before = waiting.get(c.getName());
                boolean again = before != null
                        && (before.reason().equals(Waiting.ERR_IMAGE_PULL) || before.reason().equals(Waiting.IMAGE_PULL_BACK_OFF));
                if (e.reason().equals(Waiting.ERR_IMAGE_PULL) && again) {
                    // a pull that failed before failed again: the container is in its pull back-off
                    waiting.put(c.getName(), new Waiting(Waiting.IMAGE_PULL_BACK_OFF, "Back-off pulling image \"" + c.getImage() + "\": "
                            + e.getMessage()));
                    events.event(ref, EventRecorder.NORMAL, "BackOff", "Back-off pulling image \"" + c.getImage() + "\"");
                } else if (e.reason().equals(Waiting.ERR_IMAGE_NEVER_PULL)) {
                    // as the kubelet tells it: the event of its own reason says why, Failed names the reason only
                    waiting.put(c.getName(), new Waiting(e.reason(), e.getMessage()));
                    events.event(ref, EventRecorder.WARNING, Waiting.ERR_IMAGE_NEVER_PULL, e.getMessage());
                    events.event(ref, EventRecorder.WARNING, "Failed", "Error: " + e.reason());
                } else {
                    waiting.put(c.getName(), new Waiting(e.reason(), e.getMessage()));
                    events.event(ref, EventRecorder.WARNING, "Failed", "Error: " + e.reason() + ": " + e.getMessage());
                }
                throw e;
            }
            String id;
            try {
                id = cri.createContainer(sandboxId, translation.containerConfig(pod, c, attempt, image, podIps,
                        env -> volumes == null ? List.of() : idmapped(volumes.containerMounts(pod, c, attempt, env, podIps, imageVolumes,
                                asksRecursiveReadOnly(c) && cri.handlerFeatures(runtimeHandler(pod)).getRecursiveReadOnlyMounts()),
                                sandboxConfig.getLinux().getSecurityContext().getNamespaceOptions().getUsernsOptions())), sandboxConfig);
            } catch (ContainerConfigException e) {
                waiting.put(c.getName(), new Waiting(e.reason(), e.getMessage()));
                events.event(ref, EventRecorder.WARNING, "Failed", "Error: " + e.getMessage());
                throw e;
            } catch (StatusRuntimeException e) {
                waiting.put(c.getName(), new Waiting(Waiting.CREATE_CONTAINER_ERROR, describe(e)));
                events.event(ref, EventRecorder.WARNING, "Failed", "Error: " + describe(e));
                throw e;
            }
            events.event(ref, EventRecorder.NORMAL, "Created", "Created container: " + c.getName());
            try {
                cri.startContainer(id);
            } catch (StatusRuntimeException e) {
                // a container that cannot start is not left behind; the next attempt creates it anew
                removeQuietly(id);
                waiting.put(c.getName(), new Waiting(Waiting.RUN_CONTAINER_ERROR, describe(e)));
                events.event(ref, EventRecorder.WARNING, "Failed", "Error: " + describe(e));
                throw e;
            }
            knowledge.attempts().merge(c.getName(), attempt, Math::max);
            LOG.info("pod {}: container {} (attempt {}) started as {}", name(pod), c.getName(), attempt, id);
            return started(c, id);
        }

        /**
         * {@code c} runs as {@code id}: its Started event, then its postStart hook; a hook that
         * fails has the container killed (as the kubelet does; its restart policy decides on).
         */
        private Started started(Container c, String id) {
            waiting.remove(c.getName());
            lastStartedId = id;
            try {
                fresh.put(c.getName(), cri.containerStatus(id));
            } catch (StatusRuntimeException e) {
                LOG.debug("pod {}: no status of the container {} just started: {}", name(pod), id, e.getStatus());
            }
            var ref = EventRecorder.podReference(pod, c.getName());
            events.event(ref, EventRecorder.NORMAL, "Started", "Started container " + c.getName());
            try {
                hooks.postStart(pod, c, id);
            } catch (ContainerHooks.HookFailedException e) {
                LOG.warn("pod {}: the postStart hook of container {} failed; killing it: {}", name(pod), c.getName(), e.getMessage());
                events.event(ref, EventRecorder.WARNING, "FailedPostStartHook", e.getMessage());
                dev.berth.cri.v1.Container running = dev.berth.cri.v1.Container.newBuilder().setId(id).setPodSandboxId(sandboxId)
                        .setMetadata(dev.berth.cri.v1.ContainerMetadata.newBuilder().setName(c.getName()))
                        .setState(ContainerState.CONTAINER_RUNNING).build();
                stopContainers(pod, List.of(running), podGrace(pod), "FailedPostStartHook");
                fresh.put(c.getName(), fresh.getOrDefault(c.getName(), ContainerStatus.newBuilder().setId(id).build()).toBuilder()
                        .setState(ContainerState.CONTAINER_EXITED).build());
                return Started.KILLED;
            }
            return Started.RUNNING;
        }
    }

    private static String describe(StatusRuntimeException e) {
        return e.getStatus().getCode() + (e.getStatus().getDescription() != null ? ": " + e.getStatus().getDescription() : "");
    }

    /**
     * The container's image as its imagePullPolicy says: Always pulls, IfNotPresent pulls when
     * the runtime lacks it, Never fails (ErrImageNeverPull) when it lacks it. Without a policy,
     * an image tagged {@code latest} or untagged is pulled always, others when missing.
     * Returns the image's id in the runtime.
     */
    String ensureImage(Pod pod, Container c, PodSandboxConfig sandboxConfig) {
        return ensureImage(pod, c, c.getImage(), c.getImagePullPolicy(), sandboxConfig);
    }

    /**
     * The image volumes {@code c} mounts, each pulled as its volume's pullPolicy says (as a
     * container's image), by volume name to the runtime's image id.
     */
    Map<String, String> ensureImageVolumes(Pod pod, Container c, PodSandboxConfig sandboxConfig) {
        Map<String, String> ids = new java.util.HashMap<>();
        for (io.fabric8.kubernetes.api.model.VolumeMount m : c.getVolumeMounts()) {
            for (io.fabric8.kubernetes.api.model.Volume v : pod.getSpec().getVolumes()) {
                if (v.getName().equals(m.getName()) && v.getImage() != null && !ids.containsKey(v.getName())) {
                    String reference = java.util.Objects.requireNonNullElse(v.getImage().getReference(), "");
                    if (reference.isEmpty()) {
                        throw new ContainerConfigException("CreateContainerConfigError", "image volume " + v.getName() + " names no image");
                    }
                    ids.put(v.getName(), ensureImage(pod, c, reference, v.getImage().getPullPolicy(), sandboxConfig));
                }
            }
        }
        return ids;
    }

    /**
     * In a pod with a user namespace of its own, every host path mount is idmapped with the
     * pod's mappings (so what the agent made, owned by the host's root, is root's inside), as
     * the kubelet asks; image volumes are the runtime's own.
     */
    static List<dev.berth.cri.v1.Mount> idmapped(List<dev.berth.cri.v1.Mount> mounts, dev.berth.cri.v1.UserNamespace userns) {
        if (userns.getMode() != dev.berth.cri.v1.NamespaceMode.POD) {
            return mounts;
        }
        return mounts.stream().map(m -> m.hasImage() ? m
                : m.toBuilder().clearUidMappings().addAllUidMappings(userns.getUidsList())
                        .clearGidMappings().addAllGidMappings(userns.getGidsList()).build()).toList();
    }

    private static boolean asksRecursiveReadOnly(Container c) {
        return c.getVolumeMounts().stream().anyMatch(m -> m.getRecursiveReadOnly() != null && !"Disabled".equals(m.getRecursiveReadOnly()));
    }

    private String ensureImage(Pod pod, Container c, String image, String pullPolicy, PodSandboxConfig sandboxConfig) {
        String policy = pullPolicy != null ? pullPolicy : defaultPullPolicy(image);
        var ref = EventRecorder.podReference(pod, c.getName());
        if (!policy.equals("Always")) {
            Optional<dev.berth.cri.v1.Image> present = cri.imageStatus(image);
            if (present.isPresent()) {
                events.event(ref, EventRecorder.NORMAL, "Pulled", "Container image \"" + image + "\" already present on machine");
                return present.get().getId();
            }
            if (policy.equals("Never")) {
                throw new ContainerConfigException(Waiting.ERR_IMAGE_NEVER_PULL, "Container image \"" + image
                        + "\" is not present with pull policy of Never");
            }
        }
        events.event(ref, EventRecorder.NORMAL, "Pulling", "Pulling image \"" + image + "\"");
        long began = System.nanoTime();
        StatusRuntimeException failed = null;
        // each credential of the pod's pull secrets for this registry in turn, as the kubelet tries them; none: anonymous
        List<dev.berth.cri.v1.AuthConfig> auths = pullCredentials(pod, image);
        for (dev.berth.cri.v1.AuthConfig auth : auths.isEmpty() ? java.util.Collections.<dev.berth.cri.v1.AuthConfig>singletonList(null) : auths) {
            try {
                String id = cri.pullImage(image, sandboxConfig, auth);
                events.event(ref, EventRecorder.NORMAL, "Pulled", String.format("Successfully pulled image \"%s\" in %.3fs", image,
                        (System.nanoTime() - began) / 1e9));
                return id;
            } catch (StatusRuntimeException e) {
                failed = e;
            }
        }
        throw new ContainerConfigException("ErrImagePull", "container " + c.getName() + ": pulling " + image + " failed: "
                + failed.getStatus().getCode() + ": " + failed.getStatus().getDescription());
    }

    /**
     * The credentials of the pod's imagePullSecrets (in its namespace) for {@code image}'s
     * registry. A secret that cannot be read is skipped with a warning event, and the pull goes
     * on without it, as with the kubelet.
     */
    private List<dev.berth.cri.v1.AuthConfig> pullCredentials(Pod pod, String image) {
        List<io.fabric8.kubernetes.api.model.Secret> secrets = new ArrayList<>();
        for (io.fabric8.kubernetes.api.model.LocalObjectReference r : pod.getSpec().getImagePullSecrets()) {
            if (r.getName() == null || r.getName().isEmpty()) {
                continue;
            }
            try {
                Optional<io.fabric8.kubernetes.api.model.Secret> s = translation.objects().secret(pod.getMetadata().getNamespace(), r.getName());
                if (s.isPresent()) {
                    secrets.add(s.get());
                    continue;
                }
            } catch (RuntimeException e) {
                LOG.debug("pod {}: pull secret {}: {}", name(pod), r.getName(), e.toString());
            }
            events.event(EventRecorder.podReference(pod, null), EventRecorder.WARNING, "FailedToRetrieveImagePullSecret",
                    "Unable to retrieve some image pull secrets (" + r.getName() + "); attempting to pull the image may not succeed.");
        }
        return PullSecrets.credentials(image, secrets);
    }

    /** The API server's default: Always for {@code :latest} or no tag (and no digest), else IfNotPresent. */
    static String defaultPullPolicy(String image) {
        if (image.contains("@")) {
            return "IfNotPresent";
        }
        String last = image.substring(image.lastIndexOf('/') + 1);
        int colon = last.lastIndexOf(':');
        return colon < 0 || last.substring(colon + 1).equals("latest") ? "Always" : "IfNotPresent";
    }


    /** The containers of the sandbox by name, newest attempt first. */
    private Map<String, List<dev.berth.cri.v1.Container>> containerRuns(String sandboxId) {
        Map<String, List<dev.berth.cri.v1.Container>> runs = new HashMap<>();
        for (dev.berth.cri.v1.Container c : cri.listContainers(sandboxId)) {
            runs.computeIfAbsent(c.getMetadata().getName(), k -> new ArrayList<>()).add(c);
        }
        runs.values().forEach(l -> l.sort(NEWEST_FIRST));
        return runs;
    }

    /** The status of the newest container of each name. */
    private Map<String, ContainerStatus> latestStatuses(Map<String, List<dev.berth.cri.v1.Container>> runs) {
        Map<String, ContainerStatus> out = new HashMap<>();
        runs.forEach((name, l) -> out.put(name, cri.containerStatus(l.get(0).getId())));
        return out;
    }

    /**
     * What the runtime shows of {@code pod} now, for its status: its newest ready sandbox (or
     * none), the statuses of its containers in all its sandboxes, newest run first (with the
     * last run the worker saw, from {@code knowledge}, should the runtime have removed it), and
     * why containers wait.
     */
    public PodSnapshot observe(Pod pod, PodKnowledge knowledge) {
        Map<String, Waiting> waiting = knowledge.waiting();
        List<PodSandbox> sandboxes = new ArrayList<>(cri.listPodSandboxes(PodTranslation.podSelector(pod.getMetadata().getUid())));
        sandboxes.sort(Comparator.comparingLong(PodSandbox::getCreatedAt).reversed());
        Optional<PodSandbox> current = sandboxes.stream().filter(s -> s.getState() == PodSandboxState.SANDBOX_READY).findFirst()
                .or(() -> sandboxes.stream().findFirst());
        if (current.isEmpty()) {
            return new PodSnapshot(null, Map.of(), waiting);
        }
        dev.berth.cri.v1.PodSandboxStatus sandbox;
        try {
            sandbox = cri.podSandboxStatus(current.get().getId());
        } catch (StatusRuntimeException e) {
            if (e.getStatus().getCode() != Status.Code.NOT_FOUND) {
                throw e;
            }
            return new PodSnapshot(null, Map.of(), waiting);
        }
        Map<String, List<dev.berth.cri.v1.Container>> runs = new HashMap<>();
        for (PodSandbox s : sandboxes) {
            try {
                for (dev.berth.cri.v1.Container c : cri.listContainers(s.getId())) {
                    runs.computeIfAbsent(c.getMetadata().getName(), k -> new ArrayList<>()).add(c);
                }
            } catch (StatusRuntimeException e) {
                if (e.getStatus().getCode() != Status.Code.NOT_FOUND) {
                    throw e;
                }
            }
        }
        Map<String, List<ContainerStatus>> containers = new HashMap<>();
        runs.forEach((name, l) -> {
            l.sort(NEWEST_FIRST);
            List<ContainerStatus> statuses = new ArrayList<>();
            for (dev.berth.cri.v1.Container c : l) {
                try {
                    statuses.add(cri.containerStatus(c.getId()));
                } catch (StatusRuntimeException e) {
                    if (e.getStatus().getCode() != Status.Code.NOT_FOUND) {
                        throw e;
                    }
                }
            }
            ContainerStatus last = knowledge.lastRuns().get(name);
            if (statuses.size() == 1 && last != null && last.getMetadata().getAttempt() < statuses.get(0).getMetadata().getAttempt()) {
                statuses.add(last);
            }
            if (!statuses.isEmpty()) {
                containers.put(name, List.copyOf(statuses));
            }
        });
        return new PodSnapshot(sandbox, containers, waiting);
    }

    private List<String> podIps(String sandboxId) {
        try {
            var status = cri.podSandboxStatus(sandboxId);
            List<String> ips = new ArrayList<>();
            if (status.hasNetwork() && !status.getNetwork().getIp().isEmpty()) {
                ips.add(status.getNetwork().getIp());
                status.getNetwork().getAdditionalIpsList().forEach(ip -> ips.add(ip.getIp()));
            }
            return ips;
        } catch (StatusRuntimeException e) {
            return List.of();
        }
    }

    private static String runtimeHandler(Pod pod) {
        String rc = pod.getSpec().getRuntimeClassName();
        return rc == null ? "" : rc;
    }

    /**
     * Stops and removes every sandbox of the pod {@code uid} whose spec is not known: its
     * containers are stopped without hooks, in parallel; see {@link #kill(Pod, long)}.
     */
    public void kill(String uid, long graceSeconds) {
        kill(uid, null, graceSeconds);
    }

    /**
     * Stops every sandbox of {@code pod}: its containers first as the kubelet kills a pod (each
     * with its preStop hook, whose time counts against its grace period; the app containers in
     * parallel, then the sidecars in reverse order), each with {@code graceSeconds} between its
     * stop signal and SIGKILL (negative: the pod's grace period, or the one each container was
     * created with), then the sandbox; then removes them, and then the pod's volumes, its cgroup
     * and its logs, as the kubelet removes a deleted pod's logs. Idempotent: a pod already gone is no error.
     */
    public void kill(Pod pod, long graceSeconds) {
        kill(pod.getMetadata().getUid(), pod, graceSeconds);
    }

    private void kill(String uid, Pod pod, long graceSeconds) {
        for (PodSandbox s : cri.listPodSandboxes(PodTranslation.podSelector(uid))) {
            stopAndRemove(pod, s.getId(), graceSeconds >= 0 || pod == null ? graceSeconds : podGrace(pod));
        }
        if (volumes != null) {
            volumes.tearDown(uid);
        }
        translation.cgroups().released(uid);
        if (translation.userNamespaces() != null) {
            translation.userNamespaces().released(uid);
        }
        for (Path logs : translation.logDirectories(uid)) {
            try {
                Trees.deleteRecursively(logs);
            } catch (IOException e) {
                LOG.warn("pod {}: cannot remove its logs {}: {}", uid, logs, e.toString());
            }
        }
    }

    private void stopAndRemove(Pod pod, String sandboxId, long graceSeconds) {
        stopContainers(pod, cri.listContainers(sandboxId).stream().filter(PodSync::live).toList(), graceSeconds, null);
        try {
            cri.stopPodSandbox(sandboxId);
            cri.removePodSandbox(sandboxId);
        } catch (StatusRuntimeException e) {
            if (e.getStatus().getCode() != Status.Code.NOT_FOUND) {
                throw e;
            }
        }
    }

    /**
     * Stops {@code live} containers of {@code pod} (null: not known; no hooks, no order) as the
     * kubelet kills them, all at once: each running one gets a Killing event ({@code message},
     * or "Stopping container NAME") and its preStop hook with the grace period as its budget;
     * the hook's whole seconds are taken from the grace period; a sidecar then waits, within
     * what is left, until every app container and every sidecar after it has stopped, so
     * sidecars stop last and in reverse order; the stop gets what is left, but at least the
     * kubelet's minimum of 2 s (or less when less was asked for). {@code graceSeconds} negative:
     * the grace period each container was created with. Returns when all have stopped.
     */
    private void stopContainers(Pod pod, List<dev.berth.cri.v1.Container> live, long graceSeconds, String message) {
        if (live.isEmpty()) {
            return;
        }
        List<Container> initSpecs = pod == null ? List.of() : pod.getSpec().getInitContainers();
        Map<String, CompletableFuture<Void>> done = new HashMap<>();
        for (dev.berth.cri.v1.Container c : live) {
            done.put(c.getId(), new CompletableFuture<>());
        }
        for (dev.berth.cri.v1.Container c : live) {
            Container spec = pod == null ? null : spec(pod, c.getMetadata().getName());
            List<CompletableFuture<Void>> before = new ArrayList<>();
            if (spec != null && isSidecar(spec)) {
                int index = initSpecs.indexOf(spec);
                for (dev.berth.cri.v1.Container other : live) {
                    Container o = spec(pod, other.getMetadata().getName());
                    boolean otherSidecar = o != null && isSidecar(o);
                    if (other != c && (!otherSidecar || initSpecs.indexOf(o) > index)) {
                        before.add(done.get(other.getId()));
                    }
                }
            }
            CompletableFuture<Void> mine = done.get(c.getId());
            try {
                stops.execute(() -> {
                    try {
                        stopOne(pod, spec, c, graceSeconds, before, message);
                        mine.complete(null);
                    } catch (Throwable t) {
                        mine.completeExceptionally(t);
                    }
                });
            } catch (java.util.concurrent.RejectedExecutionException e) {
                mine.completeExceptionally(e);
            }
        }
        for (dev.berth.cri.v1.Container c : live) {
            try {
                done.get(c.getId()).get();
            } catch (ExecutionException e) {
                Throwable cause = e.getCause() instanceof ExecutionException ee ? ee.getCause() : e.getCause();
                if (!(cause instanceof StatusRuntimeException sre && sre.getStatus().getCode() == Status.Code.NOT_FOUND)) {
                    LOG.warn("stopping container {} of sandbox {} failed: {}", c.getMetadata().getName(), c.getPodSandboxId(),
                            cause.getMessage());
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw Status.CANCELLED.withDescription("interrupted while stopping sandbox " + c.getPodSandboxId()).asRuntimeException();
            }
        }
    }

    /** One container's stop: see {@link #stopContainers}. */
    private void stopOne(Pod pod, Container spec, dev.berth.cri.v1.Container c, long graceSeconds, List<CompletableFuture<Void>> before,
                         String message) throws ExecutionException, InterruptedException {
        long requested = graceSeconds >= 0 ? graceSeconds : recordedGrace(c);
        long left = requested;
        String name = c.getMetadata().getName();
        if (c.getState() == ContainerState.CONTAINER_RUNNING) {
            var ref = pod != null ? EventRecorder.podReference(pod, name) : EventRecorder.podReference(
                    c.getLabelsOrDefault(KubeletKeys.POD_NAMESPACE, ""), c.getLabelsOrDefault(KubeletKeys.POD_NAME, ""),
                    c.getLabelsOrDefault(KubeletKeys.POD_UID, ""), null, name);
            events.event(ref, EventRecorder.NORMAL, "Killing", message != null ? message : "Stopping container " + name);
            if (spec != null && spec.getLifecycle() != null && spec.getLifecycle().getPreStop() != null && left > 0) {
                long began = System.nanoTime();
                try {
                    hooks.preStop(pod, spec, c.getId(), Duration.ofSeconds(left));
                } catch (RuntimeException e) {
                    LOG.warn("pod {}: the preStop hook of container {} failed: {}", name(pod), name, e.toString());
                }
                left -= TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - began);
            }
        }
        if (!before.isEmpty() && left > 0) {
            long began = System.nanoTime();
            try {
                CompletableFuture.allOf(before.toArray(new CompletableFuture<?>[0])).exceptionally(t -> null).get(left, TimeUnit.SECONDS);
            } catch (TimeoutException e) {
                // its turn came by time: what is left of its grace period is gone
            }
            left -= TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - began);
        }
        left = Math.max(left, Math.min(requested, MINIMUM_GRACE_SECONDS));
        cri.stopContainerAsync(c.getId(), left).get();
    }

    /** The spec of the container or init container {@code name} of {@code pod}, or null. */
    private static Container spec(Pod pod, String name) {
        for (Container c : pod.getSpec().getInitContainers()) {
            if (c.getName().equals(name)) {
                return c;
            }
        }
        for (Container c : pod.getSpec().getContainers()) {
            if (c.getName().equals(name)) {
                return c;
            }
        }
        return null;
    }

    /** The grace period the container was created with (its pod's), or the default. */
    private static long recordedGrace(dev.berth.cri.v1.Container c) {
        String g = c.getAnnotationsOrDefault(KubeletKeys.POD_TERMINATION_GRACE_PERIOD, "");
        return g.matches("[0-9]{1,9}") ? Long.parseLong(g) : PodTranslation.DEFAULT_GRACE_SECONDS;
    }

    private void removeQuietly(String containerId) {
        try {
            cri.removeContainer(containerId);
        } catch (StatusRuntimeException e) {
            LOG.debug("cannot remove container {}: {}", containerId, e.getStatus());
        }
    }

    private static String name(Pod pod) {
        return pod == null ? "?" : pod.getMetadata().getNamespace() + "/" + pod.getMetadata().getName();
    }
}
