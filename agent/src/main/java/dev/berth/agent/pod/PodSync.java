package dev.berth.agent.pod;

import dev.berth.agent.cri.CriClient;
import dev.berth.agent.volume.PodVolumes;
import dev.berth.cri.v1.ContainerState;
import dev.berth.cri.v1.ContainerStatus;
import dev.berth.cri.v1.PodSandbox;
import dev.berth.cri.v1.PodSandboxConfig;
import dev.berth.cri.v1.PodSandboxState;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.Pod;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One step of bringing the runtime to a pod's desired state, through the CRI only: the pod's
 * newest ready sandbox (created when there is none, other attempts stopped and removed), then
 * its init containers one at a time in order (each must exit 0), then its app containers,
 * restarted by the pod's restartPolicy. What the runtime already runs is adopted as it is,
 * found by the kubelet's labels: a restarted agent recreates nothing.
 */
public final class PodSync {
    private static final Logger LOG = LoggerFactory.getLogger(PodSync.class);

    /** What a sync step left: nothing to wait for, or something to look at again soon. */
    public enum Outcome {
        /** Every app container runs, or has ended as its restart policy wants. */
        SETTLED,
        /** Something is on its way (an init container runs, a container waits for its back-off). */
        PENDING
    }

    private final CriClient cri;
    private final PodTranslation translation;
    private final PodVolumes volumes;

    /** A sync without volumes: pods get no volume mounts, termination-message file or /etc/hosts of the agent's. */
    public PodSync(CriClient cri, PodTranslation translation) {
        this(cri, translation, null);
    }

    /** {@code volumes} are set up before a pod's sandbox, mounted into its containers and torn down after it is killed. */
    public PodSync(CriClient cri, PodTranslation translation, PodVolumes volumes) {
        this.cri = cri;
        this.translation = translation;
        this.volumes = volumes;
    }

    public PodTranslation translation() {
        return translation;
    }

    /**
     * One pass over {@code pod}. Container failures (image, configuration, runtime) are
     * thrown; the caller retries with back-off.
     * @param restartAllowed whether an exited container whose policy restarts it may be restarted now (its back-off is over)
     */
    public Outcome sync(Pod pod, java.util.function.Predicate<String> restartAllowed) {
        String uid = pod.getMetadata().getUid();
        if (volumes != null) {
            volumes.setUp(pod);
        }
        List<PodSandbox> sandboxes = new ArrayList<>(cri.listPodSandboxes(PodTranslation.podSelector(uid)));
        sandboxes.sort(Comparator.comparingLong(PodSandbox::getCreatedAt).reversed());
        Optional<PodSandbox> ready = sandboxes.stream().filter(s -> s.getState() == PodSandboxState.SANDBOX_READY).findFirst();
        for (PodSandbox s : sandboxes) {
            if (ready.isEmpty() || !s.getId().equals(ready.get().getId())) {
                LOG.info("pod {}: removing sandbox {} (attempt {}, {})", name(pod), s.getId(), s.getMetadata().getAttempt(), s.getState());
                stopAndRemove(s.getId(), PodTranslation.gracePeriodSeconds(pod));
            }
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
        Map<String, ContainerStatus> latest = latestContainers(sandboxId);

        boolean appStarted = pod.getSpec().getContainers().stream().anyMatch(c -> latest.containsKey(c.getName()));
        if (!appStarted) {
            for (Container init : pod.getSpec().getInitContainers()) {
                ContainerStatus s = latest.get(init.getName());
                if (s == null) {
                    start(pod, init, 0, sandboxId, sandboxConfig, podIps);
                    return Outcome.PENDING;
                }
                if (s.getState() == ContainerState.CONTAINER_CREATED) {
                    cri.startContainer(s.getId());
                    return Outcome.PENDING;
                }
                if (s.getState() == ContainerState.CONTAINER_RUNNING) {
                    return Outcome.PENDING;
                }
                if (s.getExitCode() == 0 && s.getState() == ContainerState.CONTAINER_EXITED) {
                    continue;
                }
                if ("Never".equals(pod.getSpec().getRestartPolicy())) {
                    LOG.warn("pod {}: init container {} failed (exit {}); restartPolicy Never: the pod stays failed", name(pod),
                            init.getName(), s.getExitCode());
                    return Outcome.SETTLED;
                }
                if (!restartAllowed.test(init.getName())) {
                    return Outcome.PENDING;
                }
                restart(pod, init, s, sandboxId, sandboxConfig, podIps);
                return Outcome.PENDING;
            }
        }
        Outcome outcome = Outcome.SETTLED;
        for (Container c : pod.getSpec().getContainers()) {
            ContainerStatus s = latest.get(c.getName());
            if (s == null) {
                start(pod, c, 0, sandboxId, sandboxConfig, podIps);
            } else if (s.getState() == ContainerState.CONTAINER_CREATED) {
                cri.startContainer(s.getId());
            } else if (s.getState() != ContainerState.CONTAINER_RUNNING && restarts(pod, s)) {
                if (restartAllowed.test(c.getName())) {
                    restart(pod, c, s, sandboxId, sandboxConfig, podIps);
                } else {
                    outcome = Outcome.PENDING;
                }
            }
        }
        return outcome;
    }

    private static boolean restarts(Pod pod, ContainerStatus s) {
        String policy = pod.getSpec().getRestartPolicy();
        return "Always".equals(policy) || policy == null
                || "OnFailure".equals(policy) && (s.getExitCode() != 0 || s.getState() == ContainerState.CONTAINER_UNKNOWN);
    }

    private void restart(Pod pod, Container c, ContainerStatus previous, String sandboxId, PodSandboxConfig sandboxConfig,
            List<String> podIps) {
        LOG.info("pod {}: container {} exited ({}, code {}); restarting it", name(pod), c.getName(), previous.getReason(),
                previous.getExitCode());
        cri.removeContainer(previous.getId());
        start(pod, c, previous.getMetadata().getAttempt() + 1, sandboxId, sandboxConfig, podIps);
    }

    private void start(Pod pod, Container c, int attempt, String sandboxId, PodSandboxConfig sandboxConfig, List<String> podIps) {
        String image = ensureImage(c, sandboxConfig);
        String id = cri.createContainer(sandboxId, translation.containerConfig(pod, c, attempt, image, podIps,
                env -> volumes == null ? List.of() : volumes.containerMounts(pod, c, attempt, env, podIps)), sandboxConfig);
        try {
            cri.startContainer(id);
        } catch (StatusRuntimeException e) {
            // a container that cannot start is not left behind; the next attempt creates it anew
            removeQuietly(id);
            throw e;
        }
        LOG.info("pod {}: container {} (attempt {}) started as {}", name(pod), c.getName(), attempt, id);
    }

    /**
     * The container's image as its imagePullPolicy says: Always pulls, IfNotPresent pulls when
     * the runtime lacks it, Never fails (ErrImageNeverPull) when it lacks it. Without a policy,
     * an image tagged {@code latest} or untagged is pulled always, others when missing.
     * Returns the image's id in the runtime.
     */
    String ensureImage(Container c, PodSandboxConfig sandboxConfig) {
        String image = c.getImage();
        String policy = c.getImagePullPolicy() != null ? c.getImagePullPolicy() : defaultPullPolicy(image);
        if (!policy.equals("Always")) {
            Optional<dev.berth.cri.v1.Image> present = cri.imageStatus(image);
            if (present.isPresent()) {
                return present.get().getId();
            }
            if (policy.equals("Never")) {
                throw new ContainerConfigException("ErrImageNeverPull", "container " + c.getName() + ": image " + image
                        + " is not present and imagePullPolicy is Never");
            }
        }
        try {
            return cri.pullImage(image, sandboxConfig);
        } catch (StatusRuntimeException e) {
            throw new ContainerConfigException("ErrImagePull", "container " + c.getName() + ": pulling " + image + " failed: "
                    + e.getStatus().getCode() + ": " + e.getStatus().getDescription());
        }
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

    /** The newest container of each name in the sandbox. */
    private Map<String, ContainerStatus> latestContainers(String sandboxId) {
        Map<String, dev.berth.cri.v1.Container> newest = new HashMap<>();
        for (dev.berth.cri.v1.Container c : cri.listContainers(sandboxId)) {
            newest.merge(c.getMetadata().getName(), c, (a, b) -> a.getMetadata().getAttempt() >= b.getMetadata().getAttempt() ? a : b);
        }
        Map<String, ContainerStatus> out = new HashMap<>();
        newest.forEach((name, c) -> out.put(name, cri.containerStatus(c.getId())));
        return out;
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
     * volumes and its cgroup. Idempotent: a pod already gone is no error.
     */
    public void kill(String uid, long graceSeconds) {
        for (PodSandbox s : cri.listPodSandboxes(PodTranslation.podSelector(uid))) {
            stopAndRemove(s.getId(), graceSeconds);
        }
        if (volumes != null) {
            volumes.tearDown(uid);
        }
        translation.cgroups().released(uid);
    }

    private void stopAndRemove(String sandboxId, long graceSeconds) {
        List<CompletableFuture<Void>> stops = new ArrayList<>();
        for (dev.berth.cri.v1.Container c : cri.listContainers(sandboxId)) {
            if (c.getState() == ContainerState.CONTAINER_RUNNING || c.getState() == ContainerState.CONTAINER_CREATED
                    || c.getState() == ContainerState.CONTAINER_UNKNOWN) {
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
