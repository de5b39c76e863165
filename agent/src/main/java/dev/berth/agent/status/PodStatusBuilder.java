package dev.berth.agent.status;

import dev.berth.agent.pod.QosClass;
import dev.berth.cri.v1.PodSandboxState;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerState;
import io.fabric8.kubernetes.api.model.ContainerStateRunning;
import io.fabric8.kubernetes.api.model.ContainerStateTerminated;
import io.fabric8.kubernetes.api.model.ContainerStateWaiting;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.HostIP;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodCondition;
import io.fabric8.kubernetes.api.model.PodIP;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.PodStatus;
import java.time.Clock;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.function.Supplier;

/**
 * A pod's API status from what the agent knows of it: its spec, the status written before
 * (times that must not move: startTime, the conditions' lastTransitionTime), what the
 * runtime reports (the pod's {@link PodSnapshot}) and why containers wait. Pure: the clock,
 * the node's addresses, the runtime's name and the termination messages come in from
 * outside, so every rule below is a unit test.
 *
 * <p>The phase follows the kubelet's rules: Pending while an init container has not
 * completed or a container waits to be created; Running once every container started and
 * one runs (or, restartPolicy Always or OnFailure, all are being restarted); Succeeded when
 * all terminated with 0 and none is restarted; Failed when restartPolicy Never leaves a failed
 * container or init container. A terminal phase is never left. A running container is
 * started once its startup probe passed and ready once it started and its readiness probe
 * passes (without the probe: as soon as it runs), as {@link ProbeStates} tell; Ready is
 * ContainersReady: every container is ready (there are no readiness gates yet). Sidecars (init
 * containers of restartPolicy Always) count as the kubelet counts them: the pod is initialized
 * once they have started (and the other init containers completed), they take part in
 * readiness, and one that ended does not decide the phase.
 */
public final class PodStatusBuilder {
    /** The condition types the agent owns; other types in the previous status are kept as they are. */
    static final Set<String> OWNED = Set.of("PodScheduled", "PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready");

    /** Finds the message of a terminated container run. */
    @FunctionalInterface
    public interface Messages {
        Messages NONE = (uid, spec, cri) -> cri.getMessage();

        /** The termination message of run {@code cri} of container {@code spec} of pod {@code podUid}. */
        String message(String podUid, Container spec, dev.berth.cri.v1.ContainerStatus cri);
    }

    private final Supplier<String> runtimeName;
    private final Supplier<List<String>> hostIps;
    private final Clock clock;
    private final ProbeStates probes;

    /**
     * @param runtimeName the runtime's name from CRI Version (berth, containerd, cri-o): the scheme of container ids
     * @param hostIps the node's addresses for hostIP/hostIPs (and podIPs of host-network pods), first the primary
     */
    public PodStatusBuilder(Supplier<String> runtimeName, Supplier<List<String>> hostIps, Clock clock) {
        this(runtimeName, hostIps, clock, ProbeStates.NONE);
    }

    /** @param probes what the containers' startup and readiness probes say */
    public PodStatusBuilder(Supplier<String> runtimeName, Supplier<List<String>> hostIps, Clock clock, ProbeStates probes) {
        this.runtimeName = runtimeName;
        this.hostIps = hostIps;
        this.clock = clock;
        this.probes = probes;
    }

    /** The status of {@code pod} now; {@code previous} may be null (never written). */
    public PodStatus build(Pod pod, PodStatus previous, PodSnapshot snapshot, Messages messages) {
        PodSpec spec = pod.getSpec();
        PodStatus prev = previous != null ? previous : new PodStatus();
        String uid = pod.getMetadata().getUid();
        String now = time(clock.instant());
        boolean hasInit = !spec.getInitContainers().isEmpty();
        List<ContainerStatus> init = new ArrayList<>();
        for (Container c : spec.getInitContainers()) {
            init.add(container(uid, c, find(prev.getInitContainerStatuses(), c.getName()), snapshot, messages, hasInit, !sidecar(c),
                    spec.getRestartPolicy()));
        }
        List<ContainerStatus> app = new ArrayList<>();
        for (Container c : spec.getContainers()) {
            app.add(container(uid, c, find(prev.getContainerStatuses(), c.getName()), snapshot, messages, hasInit, false,
                    spec.getRestartPolicy()));
        }
        String phase = phase(spec, init, app);
        if ("Succeeded".equals(prev.getPhase()) || "Failed".equals(prev.getPhase())) {
            phase = prev.getPhase(); // a terminal phase is never left
        }

        PodStatus s = new PodStatus();
        s.setPhase(phase);
        s.setQosClass(QosClass.of(spec).apiName());
        s.setStartTime(prev.getStartTime() != null ? prev.getStartTime() : now);
        s.setInitContainerStatuses(init);
        s.setContainerStatuses(app);

        List<String> hosts = hostIps.get();
        if (hosts.isEmpty() && prev.getHostIP() != null) {
            s.setHostIP(prev.getHostIP());
            s.setHostIPs(prev.getHostIPs());
        } else if (!hosts.isEmpty()) {
            s.setHostIP(hosts.get(0));
            s.setHostIPs(hosts.stream().map(HostIP::new).toList());
        }
        List<String> podIps = Boolean.TRUE.equals(spec.getHostNetwork()) ? hosts : sandboxIps(snapshot);
        if (podIps.isEmpty() && prev.getPodIP() != null) {
            // between sandboxes the pod keeps the address it had, as the kubelet reports it
            s.setPodIP(prev.getPodIP());
            s.setPodIPs(prev.getPodIPs());
        } else if (!podIps.isEmpty()) {
            s.setPodIP(podIps.get(0));
            s.setPodIPs(podIps.stream().map(PodIP::new).toList());
        }

        boolean succeeded = "Succeeded".equals(phase);
        List<PodCondition> conditions = new ArrayList<>();
        for (PodCondition c : prev.getConditions()) {
            if (!OWNED.contains(c.getType())) {
                conditions.add(c);
            }
        }
        boolean sandboxReady = snapshot.sandbox() != null && snapshot.sandbox().getState() == PodSandboxState.SANDBOX_READY;
        conditions.add(condition(prev, "PodReadyToStartContainers", sandboxReady, null, null, now));
        List<String> incomplete = new ArrayList<>();
        for (int i = 0; i < init.size(); i++) {
            ContainerStatus c = init.get(i);
            if (sidecar(spec.getInitContainers().get(i)) ? !Boolean.TRUE.equals(c.getStarted()) : !completed(c)) {
                incomplete.add(c.getName());
            }
        }
        boolean initialized = incomplete.isEmpty() || app.stream().anyMatch(PodStatusBuilder::startedOnce);
        conditions.add(condition(prev, "Initialized", initialized, succeeded ? "PodCompleted" : initialized ? null : "ContainersNotInitialized",
                initialized ? null : "containers with incomplete status: " + names(incomplete), now));
        List<String> unready = new ArrayList<>();
        for (int i = 0; i < init.size(); i++) {
            if (sidecar(spec.getInitContainers().get(i)) && !Boolean.TRUE.equals(init.get(i).getReady())) {
                unready.add(init.get(i).getName()); // sidecars take part in readiness
            }
        }
        app.stream().filter(c -> !Boolean.TRUE.equals(c.getReady())).map(ContainerStatus::getName).forEach(unready::add);
        // a Failed pod is not ready even while a container of it still runs (it is being stopped), as the kubelet says
        boolean failed = "Failed".equals(phase);
        boolean ready = unready.isEmpty() && !app.isEmpty() && !failed;
        String notReadyReason = succeeded ? "PodCompleted" : failed ? "PodFailed" : ready ? null : "ContainersNotReady";
        String notReadyMessage = ready || succeeded || failed ? null : "containers with unready status: " + names(unready);
        conditions.add(condition(prev, "Ready", ready, notReadyReason, notReadyMessage, now));
        conditions.add(condition(prev, "ContainersReady", ready, notReadyReason, notReadyMessage, now));
        conditions.add(condition(prev, "PodScheduled", true, null, null, now));
        s.setConditions(conditions);
        return s;
    }

    /** The kubelet's getPhase over the container statuses built here (init statuses in the spec's order). */
    static String phase(PodSpec spec, List<ContainerStatus> init, List<ContainerStatus> app) {
        int pendingInit = 0;
        int failedInit = 0;
        int pendingSidecars = 0;
        int running = 0;
        for (int i = 0; i < init.size(); i++) {
            ContainerStatus c = init.get(i);
            ContainerState st = c.getState();
            if (sidecar(spec.getInitContainers().get(i))) {
                // a sidecar is pending until it has started; one that ended (the pod is ending) decides nothing
                if (st.getRunning() != null) {
                    running++;
                    if (!Boolean.TRUE.equals(c.getStarted())) {
                        pendingSidecars++;
                    }
                } else if (st.getTerminated() == null && lastTerminated(c) == null) {
                    pendingSidecars++;
                }
                continue;
            }
            if (st.getRunning() != null) {
                pendingInit++;
            } else if (st.getTerminated() != null) {
                if (st.getTerminated().getExitCode() != 0) {
                    failedInit++;
                }
            } else if (st.getWaiting() != null && lastTerminated(c) != null && lastTerminated(c).getExitCode() != 0) {
                failedInit++;
            } else {
                pendingInit++;
            }
        }
        int waiting = 0;
        int stopped = 0;
        int succeeded = 0;
        int unknown = 0;
        for (ContainerStatus c : app) {
            ContainerState st = c.getState();
            if (st.getRunning() != null) {
                running++;
            } else if (st.getTerminated() != null) {
                stopped++;
                if (st.getTerminated().getExitCode() == 0) {
                    succeeded++;
                }
            } else if (st.getWaiting() != null) {
                if (lastTerminated(c) != null) {
                    stopped++;
                } else {
                    waiting++;
                }
            } else {
                unknown++;
            }
        }
        String policy = spec.getRestartPolicy() == null ? "Always" : spec.getRestartPolicy();
        if (failedInit > 0 && policy.equals("Never")) {
            return "Failed";
        }
        boolean appStarted = app.stream().anyMatch(PodStatusBuilder::startedOnce);
        if (pendingInit > 0 || failedInit > 0 || waiting > 0 || pendingSidecars > 0 && !appStarted) {
            return "Pending";
        }
        if (running > 0 && unknown == 0) {
            return "Running";
        }
        if (running == 0 && stopped > 0 && unknown == 0) {
            if (policy.equals("Always")) {
                return "Running"; // every container is being restarted
            }
            if (stopped == succeeded) {
                return "Succeeded";
            }
            return policy.equals("Never") ? "Failed" : "Running";
        }
        return "Pending";
    }

    private ContainerStatus container(String uid, Container spec, ContainerStatus prev, PodSnapshot snapshot, Messages messages,
            boolean hasInit, boolean isInit, String restartPolicy) {
        List<dev.berth.cri.v1.ContainerStatus> runs = snapshot.runs(spec.getName());
        Waiting waiting = snapshot.waiting().get(spec.getName());
        ContainerStatus out = new ContainerStatus();
        out.setName(spec.getName());
        out.setImage(spec.getImage());
        out.setLastState(new ContainerState());
        out.setReady(false);
        out.setStarted(false);
        if (runs.isEmpty()) {
            Waiting w = waiting != null ? waiting : new Waiting(hasInit ? Waiting.POD_INITIALIZING : Waiting.CONTAINER_CREATING, null);
            out.setState(waitingState(w));
            out.setImageID("");
            out.setRestartCount(prev != null && prev.getRestartCount() != null ? prev.getRestartCount() : 0);
            if (prev != null && prev.getLastState() != null) {
                out.setLastState(prev.getLastState());
            }
            return out;
        }
        dev.berth.cri.v1.ContainerStatus latest = runs.get(0);
        int attempt = latest.getMetadata().getAttempt();
        out.setContainerID(containerId(latest.getId()));
        out.setImageID(latest.getImageRef());
        out.setRestartCount(attempt);
        out.setUser(user(latest));
        out.setVolumeMounts(volumeMounts(spec, latest));
        if (runs.size() > 1) {
            out.setLastState(terminatedState(uid, spec, runs.get(1), messages));
        } else if (prev != null && Objects.equals(prev.getRestartCount(), attempt) && prev.getLastState() != null) {
            out.setLastState(prev.getLastState()); // the previous run's record is gone from the runtime, not from the status
        }
        switch (latest.getState()) {
            case CONTAINER_RUNNING -> {
                ContainerStateRunning r = new ContainerStateRunning();
                r.setStartedAt(time(latest.getStartedAt()));
                out.setState(new ContainerState(r, null, null));
                boolean started = probes.started(uid, spec, latest.getId());
                out.setStarted(started);
                out.setReady(!isInit && started && probes.ready(uid, spec, latest.getId()));
            }
            case CONTAINER_CREATED -> out.setState(waitingState(waiting != null ? waiting : new Waiting(Waiting.CONTAINER_CREATING, null)));
            default -> {
                ContainerState terminated = terminatedState(uid, spec, latest, messages);
                if (waiting != null) {
                    // to be restarted: it waits (e.g. CrashLoopBackOff) and its run is the last state
                    out.setState(waitingState(waiting));
                    out.setLastState(terminated);
                } else {
                    out.setState(terminated);
                    out.setReady(isInit && latest.getExitCode() == 0);
                }
            }
        }
        return out;
    }

    /** The identity the runtime says the run has (its process's uid, gid and groups), as the kubelet reports it; null when it says none. */
    private static io.fabric8.kubernetes.api.model.ContainerUser user(dev.berth.cri.v1.ContainerStatus run) {
        if (!run.hasUser() || !run.getUser().hasLinux()) {
            return null;
        }
        dev.berth.cri.v1.LinuxContainerUser u = run.getUser().getLinux();
        return new io.fabric8.kubernetes.api.model.ContainerUser(
                new io.fabric8.kubernetes.api.model.LinuxContainerUser(u.getGid(), u.getSupplementalGroupsList(), u.getUid()));
    }

    /**
     * The spec's volume mounts as mounted: name, path, read-only, and for those that ask for a
     * recursive read-only mount whether the runtime made it one (Enabled) or not (Disabled),
     * from the run's mounts, as the kubelet reports them; null when the container mounts none.
     */
    private static List<io.fabric8.kubernetes.api.model.VolumeMountStatus> volumeMounts(Container spec,
            dev.berth.cri.v1.ContainerStatus run) {
        if (spec.getVolumeMounts().isEmpty()) {
            return null;
        }
        List<io.fabric8.kubernetes.api.model.VolumeMountStatus> out = new java.util.ArrayList<>();
        for (io.fabric8.kubernetes.api.model.VolumeMount vm : spec.getVolumeMounts()) {
            String rro = null;
            if (vm.getRecursiveReadOnly() != null && !"Disabled".equals(vm.getRecursiveReadOnly())) {
                boolean made = run.getMountsList().stream()
                        .anyMatch(m -> m.getContainerPath().equals(vm.getMountPath()) && m.getRecursiveReadOnly());
                rro = made ? "Enabled" : "Disabled";
            }
            out.add(new io.fabric8.kubernetes.api.model.VolumeMountStatusBuilder().withName(vm.getName()).withMountPath(vm.getMountPath())
                    .withReadOnly(Boolean.TRUE.equals(vm.getReadOnly())).withRecursiveReadOnly(rro).build());
        }
        return out;
    }

    private ContainerState terminatedState(String uid, Container spec, dev.berth.cri.v1.ContainerStatus run, Messages messages) {
        ContainerStateTerminated t = new ContainerStateTerminated();
        t.setExitCode(run.getExitCode());
        t.setReason("OOMKilled".equals(run.getReason()) ? "OOMKilled" : run.getExitCode() == 0 ? "Completed" : "Error");
        String message = messages.message(uid, spec, run);
        t.setMessage(message == null || message.isEmpty() ? null : message);
        t.setStartedAt(time(run.getStartedAt()));
        t.setFinishedAt(time(run.getFinishedAt()));
        t.setContainerID(containerId(run.getId()));
        return new ContainerState(null, t, null);
    }

    private static ContainerState waitingState(Waiting w) {
        return new ContainerState(null, null, new ContainerStateWaiting(w.message(), w.reason()));
    }

    private String containerId(String id) {
        return runtimeName.get() + "://" + id;
    }

    /** An init container of restartPolicy Always: a sidecar, whose status is an app container's (ready while it runs). */
    private static boolean sidecar(Container c) {
        return "Always".equals(c.getRestartPolicy());
    }

    private static ContainerStateTerminated lastTerminated(ContainerStatus c) {
        return c.getLastState() == null ? null : c.getLastState().getTerminated();
    }

    private static boolean completed(ContainerStatus c) {
        return c.getState().getTerminated() != null && c.getState().getTerminated().getExitCode() == 0;
    }

    private static boolean startedOnce(ContainerStatus c) {
        return c.getState().getRunning() != null || c.getState().getTerminated() != null || lastTerminated(c) != null;
    }

    private static ContainerStatus find(List<ContainerStatus> list, String name) {
        if (list == null) {
            return null;
        }
        return list.stream().filter(c -> name.equals(c.getName())).findFirst().orElse(null);
    }

    private static List<String> sandboxIps(PodSnapshot snapshot) {
        List<String> ips = new ArrayList<>();
        var sandbox = snapshot.sandbox();
        if (sandbox != null && sandbox.getState() == PodSandboxState.SANDBOX_READY && sandbox.hasNetwork()
                && !sandbox.getNetwork().getIp().isEmpty()) {
            ips.add(sandbox.getNetwork().getIp());
            sandbox.getNetwork().getAdditionalIpsList().forEach(ip -> ips.add(ip.getIp()));
        }
        return ips;
    }

    /** The condition {@code type}, keeping its lastTransitionTime from {@code prev} while its status stays. */
    private static PodCondition condition(PodStatus prev, String type, boolean value, String reason, String message, String now) {
        String status = value ? "True" : "False";
        PodCondition c = new PodCondition();
        c.setType(type);
        c.setStatus(status);
        c.setReason(reason);
        c.setMessage(message);
        PodCondition before = prev.getConditions().stream().filter(p -> type.equals(p.getType())).findFirst().orElse(null);
        c.setLastTransitionTime(before != null && status.equals(before.getStatus()) && before.getLastTransitionTime() != null
                ? before.getLastTransitionTime() : now);
        return c;
    }

    private static String names(List<String> names) {
        return "[" + String.join(" ", names) + "]";
    }

    /** An API time (RFC 3339, whole seconds, UTC) of a CRI time in nanoseconds; null for 0 (never). */
    static String time(long nanos) {
        return nanos <= 0 ? null : time(Instant.ofEpochSecond(nanos / 1_000_000_000L, nanos % 1_000_000_000L));
    }

    static String time(Instant t) {
        return t.truncatedTo(ChronoUnit.SECONDS).toString();
    }

    // ---- eviction: the status of a pod the agent evicted

    /**
     * {@code status} as the kubelet reports a pod it evicted: phase Failed with {@code reason}
     * and {@code message}, the condition DisruptionTarget (TerminationByKubelet, with the same
     * message), and not ready. Other fields stay as they are.
     */
    public static PodStatus evicted(PodStatus status, String reason, String message, Instant now) {
        PodStatus s = new io.fabric8.kubernetes.api.model.PodStatusBuilder(status != null ? status : new PodStatus()).build();
        String at = time(now);
        s.setPhase("Failed");
        s.setReason(reason);
        s.setMessage(message);
        List<PodCondition> conditions = new ArrayList<>();
        boolean disruption = false;
        for (PodCondition c : s.getConditions()) {
            if ("DisruptionTarget".equals(c.getType())) {
                disruption = true;
                conditions.add(c);
            } else if ("Ready".equals(c.getType()) || "ContainersReady".equals(c.getType())) {
                conditions.add(new io.fabric8.kubernetes.api.model.PodConditionBuilder(c).withStatus("False").withReason("PodFailed")
                        .withMessage(null).withLastTransitionTime("False".equals(c.getStatus()) ? c.getLastTransitionTime() : at).build());
            } else {
                conditions.add(c);
            }
        }
        if (!disruption) {
            conditions.add(0, new io.fabric8.kubernetes.api.model.PodConditionBuilder().withType("DisruptionTarget").withStatus("True")
                    .withReason("TerminationByKubelet").withMessage(message).withLastTransitionTime(at).build());
        }
        s.setConditions(conditions);
        for (ContainerStatus c : s.getContainerStatuses()) {
            c.setReady(false);
        }
        return s;
    }

    /**
     * The status of a pod the agent refused to start, as the kubelet reports one: phase Failed
     * with {@code reason} and {@code message}, its QoS class, a start time (now, unless it had
     * one); the conditions others set (PodScheduled) stay, nothing else is said.
     */
    public static PodStatus rejected(Pod pod, String reason, String message, Instant now) {
        PodStatus s = new io.fabric8.kubernetes.api.model.PodStatusBuilder(pod.getStatus() != null ? pod.getStatus() : new PodStatus()).build();
        s.setPhase("Failed");
        s.setReason(reason);
        s.setMessage(message);
        s.setQosClass(QosClass.of(pod.getSpec()).apiName());
        if (s.getStartTime() == null) {
            s.setStartTime(time(now));
        }
        return s;
    }

    /**
     * An evicted pod's status once the pod is stopped and removed: each container not
     * terminated before is terminated with exit code 137 and ContainerStatusUnknown (its
     * runtime record is gone with the pod), as the kubelet reports a container it cannot find
     * after stopping a pod; nothing is started or ready.
     */
    public static PodStatus stopped(PodStatus status, Instant now) {
        PodStatus s = new io.fabric8.kubernetes.api.model.PodStatusBuilder(status).build();
        List<ContainerStatus> all = new ArrayList<>(s.getInitContainerStatuses());
        all.addAll(s.getContainerStatuses());
        for (ContainerStatus c : all) {
            c.setReady(false);
            c.setStarted(false);
            if (c.getState() != null && c.getState().getTerminated() != null) {
                continue;
            }
            boolean init = s.getInitContainerStatuses().contains(c);
            if (init && c.getState() != null && c.getState().getWaiting() != null) {
                continue; // an init container that never ran stays waiting
            }
            ContainerStateTerminated t = new ContainerStateTerminated();
            t.setExitCode(137);
            t.setReason("ContainerStatusUnknown");
            t.setMessage("The container could not be located when the pod was terminated");
            t.setStartedAt(c.getState() != null && c.getState().getRunning() != null ? c.getState().getRunning().getStartedAt() : null);
            t.setFinishedAt(time(now));
            t.setContainerID(c.getContainerID());
            c.setState(new ContainerState(null, t, null));
        }
        return s;
    }
}
