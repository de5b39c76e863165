package dev.berth.agent.pod;

import dev.berth.agent.cri.CriClient;
import dev.berth.agent.status.EventRecorder;
import dev.berth.agent.status.PodKnowledge;
import dev.berth.agent.status.PodSnapshot;
import dev.berth.agent.status.Waiting;
import dev.berth.agent.volume.PodVolumes;
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
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.function.Predicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One step of bringing the runtime to a pod's desired state, through the CRI only: the pod's
 * newest ready sandbox (created when there is none, other attempts stopped and removed), then
 * its init containers one at a time in order (each must exit 0), then its app containers,
 * restarted by the pod's restartPolicy. What the runtime already runs is adopted as it is,
 * found by the kubelet's labels: a restarted agent recreates nothing.
 *
 * <p>What the runtime cannot tell is recorded in the caller's {@link PodKnowledge}: why a
 * container waits (a failed pull, a configuration error, a restart held back by its
 * back-off), cleared once it starts, and the run a restart removed (its lastState). Events (Pulling, Pulled, Failed, BackOff, Created,
 * Started, Killing) go to the {@link EventRecorder}.
 */
public final class PodSync {
    private static final Logger LOG = LoggerFactory.getLogger(PodSync.class);

    /** What a sync step left: nothing to wait for, or something to look at again soon. */
    public enum Outcome {
        /** Every app container runs, or has ended as its restart policy wants. */
        SETTLED,
        /** Something is on its way that needs another look soon (a created container was started). */
        PENDING,
        /** An init container runs; its exit (a container event or the relist sees it) moves the pod on. */
        WAITING_FOR_EXIT,
        /** A container's restart waits for its back-off to end. */
        BACKING_OFF
    }

    private final CriClient cri;
    private final PodTranslation translation;
    private final PodVolumes volumes;
    private final EventRecorder events;

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
        this.cri = cri;
        this.translation = translation;
        this.volumes = volumes;
        this.events = events;
    }

    public PodTranslation translation() {
        return translation;
    }

    /**
     * One pass over {@code pod}. Container failures (image, configuration, runtime) are
     * thrown; the caller retries with back-off.
     * @param restartAllowed whether an exited container whose policy restarts it may be restarted now (its back-off is over)
     */
    public Outcome sync(Pod pod, Predicate<String> restartAllowed) {
        return sync(pod, restartAllowed, new PodKnowledge());
    }

    /** One pass over {@code pod}, recording in {@code knowledge} what the runtime will not tell; see the class comment. */
    public Outcome sync(Pod pod, Predicate<String> restartAllowed, PodKnowledge knowledge) {
        Map<String, Waiting> waiting = knowledge.waiting();
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
                LOG.info("pod {}: removing sandbox {} (attempt {}, {})", name(pod), s.getId(), s.getMetadata().getAttempt(), s.getState());
                stopAndRemove(s.getId(), PodTranslation.gracePeriodSeconds(pod));
            }
        }
        if (finished.isPresent()) {
            return Outcome.SETTLED;
        }
        // after the removals: a runtime that removes the pod cgroup with a sandbox (berth) may just have done so
        translation.cgroups().ensure(pod);
        String sandboxId;
        int attempt;
        if (ready.isPresent()) {
            sandboxId = ready.get().getId();
            attempt = ready.get().getMetadata().getAttempt();
        } else {
            attempt = sandboxes.stream().mapToInt(s -> s.getMetadata().getAttempt() + 1).max().orElse(0);
            PodSandboxConfig config = translation.sandboxConfig(pod, attempt, KubeletKeys.source(pod));
            sandboxId = cri.runPodSandbox(config, runtimeHandler(pod));
            LOG.info("pod {}: sandbox {} (attempt {}) started", name(pod), sandboxId, attempt);
        }
        PodSandboxConfig sandboxConfig = translation.sandboxConfig(pod, attempt, KubeletKeys.source(pod));
        List<String> podIps = podIps(sandboxId);
        Map<String, List<dev.berth.cri.v1.Container>> runs = containerRuns(sandboxId);
        Map<String, ContainerStatus> latest = latestStatuses(runs);
        Run run = new Run(pod, sandboxId, sandboxConfig, podIps, knowledge);

        boolean appStarted = pod.getSpec().getContainers().stream().anyMatch(c -> latest.containsKey(c.getName()));
        if (!appStarted) {
            for (Container init : pod.getSpec().getInitContainers()) {
                ContainerStatus s = latest.get(init.getName());
                if (s == null) {
                    run.start(init, 0);
                    return Outcome.WAITING_FOR_EXIT;
                }
                if (s.getState() == ContainerState.CONTAINER_CREATED) {
                    run.startCreated(init, s);
                    return Outcome.WAITING_FOR_EXIT;
                }
                if (s.getState() == ContainerState.CONTAINER_RUNNING) {
                    return Outcome.WAITING_FOR_EXIT;
                }
                if (s.getExitCode() == 0 && s.getState() == ContainerState.CONTAINER_EXITED) {
                    continue;
                }
                if ("Never".equals(pod.getSpec().getRestartPolicy())) {
                    LOG.warn("pod {}: init container {} failed (exit {}); restartPolicy Never: the pod stays failed", name(pod),
                            init.getName(), s.getExitCode());
                    stopFinished(pod, sandboxId);
                    return Outcome.SETTLED;
                }
                if (!restartAllowed.test(init.getName())) {
                    run.backOff(init);
                    return Outcome.BACKING_OFF;
                }
                run.restart(init, s);
                return Outcome.WAITING_FOR_EXIT;
            }
        }
        Outcome outcome = Outcome.SETTLED;
        for (Container c : pod.getSpec().getContainers()) {
            ContainerStatus s = latest.get(c.getName());
            if (s == null) {
                run.start(c, 0);
            } else if (s.getState() == ContainerState.CONTAINER_CREATED) {
                run.startCreated(c, s);
                outcome = Outcome.PENDING;
            } else if (s.getState() != ContainerState.CONTAINER_RUNNING && restarts(pod, s)) {
                if (restartAllowed.test(c.getName())) {
                    run.restart(c, s);
                } else {
                    run.backOff(c);
                    if (outcome == Outcome.SETTLED) {
                        outcome = Outcome.BACKING_OFF;
                    }
                }
            } else if (s.getState() != ContainerState.CONTAINER_RUNNING) {
                waiting.remove(c.getName()); // ended for good, as its restart policy wants
            }
        }
        if (outcome == Outcome.SETTLED && ended(pod, latest)) {
            stopFinished(pod, sandboxId);
        }
        return outcome;
    }

    /**
     * Whether the pod ran to its end in sandbox {@code sandboxId}, as the kubelet decides that a
     * pod needs no new sandbox: under restartPolicy Never an init container failed or every app
     * container ended; under OnFailure every app container ended with 0. (Always never ends.)
     */
    private boolean finished(Pod pod, String sandboxId) {
        Map<String, ContainerStatus> latest = latestStatuses(containerRuns(sandboxId));
        if ("Never".equals(pod.getSpec().getRestartPolicy())) {
            for (Container init : pod.getSpec().getInitContainers()) {
                ContainerStatus s = latest.get(init.getName());
                if (s != null && s.getState() == ContainerState.CONTAINER_EXITED && s.getExitCode() != 0) {
                    return true;
                }
            }
        }
        return ended(pod, latest);
    }

    /** Every app container has run and ended, and none is to be restarted by the pod's restartPolicy. */
    private static boolean ended(Pod pod, Map<String, ContainerStatus> latest) {
        for (Container c : pod.getSpec().getContainers()) {
            ContainerStatus s = latest.get(c.getName());
            if (s == null || s.getState() == ContainerState.CONTAINER_RUNNING || s.getState() == ContainerState.CONTAINER_CREATED
                    || restarts(pod, s)) {
                return false;
            }
        }
        return true;
    }

    /** A finished pod's sandbox is stopped, as the kubelet stops it: its IP and network go back, its record stays until the pod goes. */
    private void stopFinished(Pod pod, String sandboxId) {
        LOG.info("pod {}: every container has ended for good; stopping sandbox {}", name(pod), sandboxId);
        cri.stopPodSandbox(sandboxId);
    }

    private static boolean restarts(Pod pod, ContainerStatus s) {
        String policy = pod.getSpec().getRestartPolicy();
        return "Always".equals(policy) || policy == null
                || "OnFailure".equals(policy) && (s.getExitCode() != 0 || s.getState() == ContainerState.CONTAINER_UNKNOWN);
    }

    /** One pass's view of the pod's sandbox, and the container operations of the pass. */
    private final class Run {
        final Pod pod;
        final String sandboxId;
        final PodSandboxConfig sandboxConfig;
        final List<String> podIps;
        final PodKnowledge knowledge;
        final Map<String, Waiting> waiting;

        Run(Pod pod, String sandboxId, PodSandboxConfig sandboxConfig, List<String> podIps, PodKnowledge knowledge) {
            this.pod = pod;
            this.sandboxId = sandboxId;
            this.sandboxConfig = sandboxConfig;
            this.podIps = podIps;
            this.knowledge = knowledge;
            this.waiting = knowledge.waiting();
        }

        /** Restarts {@code c} whose newest run {@code previous} ended; the worker keeps {@code previous} for the status's lastState. */
        void restart(Container c, ContainerStatus previous) {
            LOG.info("pod {}: container {} exited ({}, code {}); restarting it", name(pod), c.getName(), previous.getReason(),
                    previous.getExitCode());
            knowledge.lastRuns().put(c.getName(), previous);
            cri.removeContainer(previous.getId());
            start(c, previous.getMetadata().getAttempt() + 1);
        }

        /** {@code c} must wait for its restart back-off. */
        void backOff(Container c) {
            String message = "back-off restarting failed container=" + c.getName() + " pod=" + pod.getMetadata().getName() + "_"
                    + pod.getMetadata().getNamespace() + "(" + pod.getMetadata().getUid() + ")";
            Waiting before = waiting.get(c.getName());
            if (before == null || !before.reason().equals(Waiting.CRASH_LOOP_BACK_OFF)) {
                events.event(EventRecorder.podReference(pod, c.getName()), EventRecorder.WARNING, "BackOff",
                        "Back-off restarting failed container " + c.getName() + " in pod " + name(pod));
            }
            waiting.put(c.getName(), new Waiting(Waiting.CRASH_LOOP_BACK_OFF, message));
        }

        /** Starts a container the runtime has created but not started (an earlier pass stopped in between). */
        void startCreated(Container c, ContainerStatus s) {
            try {
                cri.startContainer(s.getId());
            } catch (StatusRuntimeException e) {
                waiting.put(c.getName(), new Waiting(Waiting.RUN_CONTAINER_ERROR, describe(e)));
                events.event(EventRecorder.podReference(pod, c.getName()), EventRecorder.WARNING, "Failed", "Error: " + describe(e));
                throw e;
            }
            started(c);
        }

        void start(Container c, int attempt) {
            var ref = EventRecorder.podReference(pod, c.getName());
            String image;
            try {
                image = ensureImage(pod, c, sandboxConfig);
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
                        env -> volumes == null ? List.of() : volumes.containerMounts(pod, c, attempt, env, podIps)), sandboxConfig);
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
            started(c);
            LOG.info("pod {}: container {} (attempt {}) started as {}", name(pod), c.getName(), attempt, id);
        }

        private void started(Container c) {
            waiting.remove(c.getName());
            events.event(EventRecorder.podReference(pod, c.getName()), EventRecorder.NORMAL, "Started", "Started container " + c.getName());
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
        String image = c.getImage();
        String policy = c.getImagePullPolicy() != null ? c.getImagePullPolicy() : defaultPullPolicy(image);
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
        Comparator<dev.berth.cri.v1.Container> newestFirst = Comparator.comparingInt(c -> -c.getMetadata().getAttempt());
        runs.values().forEach(l -> l.sort(newestFirst.thenComparing(c -> -c.getCreatedAt())));
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
     * none) and the statuses of the containers in it, newest run first (with the run a
     * restart removed, from {@code knowledge}), and why containers wait.
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
        Map<String, List<ContainerStatus>> containers = new HashMap<>();
        containerRuns(current.get().getId()).forEach((name, l) -> {
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
            if (statuses.size() == 1 && last != null && last.getMetadata().getAttempt() + 1 == statuses.get(0).getMetadata().getAttempt()) {
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
     * Stops every sandbox of the pod {@code uid}: its containers first, in parallel, each with
     * {@code graceSeconds} between its stop signal and SIGKILL (negative: the grace period each
     * container was created with), then the sandbox; then removes them, and then the pod's
     * volumes, its cgroup and its logs, as the kubelet removes a deleted pod's logs. Idempotent: a pod already gone is no error.
     */
    public void kill(String uid, long graceSeconds) {
        for (PodSandbox s : cri.listPodSandboxes(PodTranslation.podSelector(uid))) {
            stopAndRemove(s.getId(), graceSeconds);
        }
        if (volumes != null) {
            volumes.tearDown(uid);
        }
        translation.cgroups().released(uid);
        for (Path logs : translation.logDirectories(uid)) {
            try {
                Trees.deleteRecursively(logs);
            } catch (IOException e) {
                LOG.warn("pod {}: cannot remove its logs {}: {}", uid, logs, e.toString());
            }
        }
    }

    private void stopAndRemove(String sandboxId, long graceSeconds) {
        List<CompletableFuture<Void>> stops = new ArrayList<>();
        for (dev.berth.cri.v1.Container c : cri.listContainers(sandboxId)) {
            if (c.getState() == ContainerState.CONTAINER_RUNNING || c.getState() == ContainerState.CONTAINER_CREATED
                    || c.getState() == ContainerState.CONTAINER_UNKNOWN) {
                if (c.getState() == ContainerState.CONTAINER_RUNNING) {
                    events.event(EventRecorder.podReference(c.getLabelsOrDefault(KubeletKeys.POD_NAMESPACE, ""),
                            c.getLabelsOrDefault(KubeletKeys.POD_NAME, ""), c.getLabelsOrDefault(KubeletKeys.POD_UID, ""), null,
                            c.getMetadata().getName()), EventRecorder.NORMAL, "Killing", "Stopping container " + c.getMetadata().getName());
                }
                stops.add(cri.stopContainerAsync(c.getId(), graceSeconds >= 0 ? graceSeconds : recordedGrace(c)));
            }
        }
        for (CompletableFuture<Void> f : stops) {
            try {
                f.get();
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof StatusRuntimeException sre && sre.getStatus().getCode() == Status.Code.NOT_FOUND)) {
                    LOG.warn("stopping a container of sandbox {} failed: {}", sandboxId, e.getCause().getMessage());
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw Status.CANCELLED.withDescription("interrupted while stopping sandbox " + sandboxId).asRuntimeException();
            }
        }
        try {
            cri.stopPodSandbox(sandboxId);
            cri.removePodSandbox(sandboxId);
        } catch (StatusRuntimeException e) {
            if (e.getStatus().getCode() != Status.Code.NOT_FOUND) {
                throw e;
            }
        }
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
        return pod.getMetadata().getNamespace() + "/" + pod.getMetadata().getName();
    }
}
