package dev.berth.podsandbox.container;

import com.fasterxml.jackson.databind.JsonNode;
import dev.berth.cgroups.Cgroups;
import dev.berth.cgroups.Resources;
import dev.berth.common.BerthException;
import dev.berth.common.Json;
import dev.berth.common.PrivateFiles;
import dev.berth.common.StepTimer;
import dev.berth.images.reference.Digest;
import dev.berth.images.store.ImageRecord;
import dev.berth.podsandbox.container.spec.ContainerConfig;
import dev.berth.podsandbox.container.spec.ImageConfig;
import dev.berth.podsandbox.container.spec.SandboxContext;
import dev.berth.podsandbox.sandbox.PodContext;
import dev.berth.podsandbox.sandbox.SandboxConfig;
import dev.berth.podsandbox.sandbox.SandboxContainers;
import dev.berth.podsandbox.sandbox.SandboxState;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Containers of pods: what CreateContainer, StartContainer, StopContainer, RemoveContainer,
 * ContainerStatus and ListContainers do, in the runtime's terms. Every container id has, for
 * as long as the container exists, a writable layer and an overlay mount
 * ({@link ContainerRootfs}) and a hold on its image's layers, and its image volumes are staged
 * ({@link ImageVolumes}) with holds of their own; a create that fails or was
 * interrupted by a crash leaves none of them. A container joins its pod's namespaces and
 * cgroup as its {@link PodContext} says. Every change of a container is reported to the
 * {@link ContainerListener}. Also the sandbox lifecycle's view of a pod's containers.
 */
public final class ContainerService implements SandboxContainers {
    private static final Logger LOG = LoggerFactory.getLogger(ContainerService.class);

    /** Where containers find their pod. */
    @FunctionalInterface
    public interface Pods {
        /** @throws BerthException NOT_FOUND for an unknown sandbox */
        PodContext context(String sandboxId);
    }

    private final ContainerManager manager;
    private final ContainerRootfs rootfs;
    private final ContainerImages images;
    private final ImageVolumes volumes;
    private final Cgroups cgroups;
    private volatile Pods pods = id -> {
        throw BerthException.unavailable("containers have no pods yet");
    };
    private volatile ContainerListener listener = ContainerListener.NONE;
    /** Containers whose STARTED is reported; also the lock that keeps reports in order. */
    private final Set<String> started = new HashSet<>();
    /** Removals under way, by container id (see {@link #remove}). */
    private final ConcurrentHashMap<String, CompletableFuture<Void>> removals = new ConcurrentHashMap<>();

    public ContainerService(ContainerManager manager, ContainerRootfs rootfs, ContainerImages images, ImageVolumes volumes,
                            Cgroups cgroups) {
        this.manager = manager;
        this.rootfs = rootfs;
        this.images = images;
        this.volumes = volumes;
        this.cgroups = cgroups;
        for (ContainerRecord r : manager.list()) {
            if (r.startedAt() != 0) {
                started.add(r.id());
            }
        }
        manager.exits().listen(this::exited);
    }

    /** The container engine below (for streaming, stats and metrics). */
    public ContainerManager manager() {
        return manager;
    }

    /**
     * Where the pods are. The sandbox lifecycle needs this service to stop and remove a pod's
     * containers, so it is built after it and named here.
     */
    public void usePods(Pods pods) {
        this.pods = pods;
    }

    /** Who hears container events from now on. */
    public void listen(ContainerListener listener) {
        this.listener = listener;
    }

    /**
     * Frees the root filesystems and image holds of containers the engine has no record of:
     * creates that a crash cut short, or removals that a crash interrupted (a removal drops the
     * image hold last, after the root filesystem and the record are gone).
     */
    public void recover() {
        for (ContainerRecord r : manager.removedAtStart()) {
            removeCgroup(r.id(), r.cgroupsPath());
        }
        for (String id : rootfs.ids()) {
            if (manager.find(id).isEmpty()) {
                LOG.info("removing the root filesystem of container {}, which does not exist", id);
                try {
                    rootfs.remove(id);
                    images.release(id);
                } catch (RuntimeException e) {
                    LOG.error("cannot remove the leftovers of container {}: {}", id, e.getMessage());
                }
            }
        }
        for (String id : volumes.ids()) {
            if (manager.find(id).isEmpty()) {
                LOG.info("removing the image volumes of container {}, which does not exist", id);
                try {
                    volumes.remove(id);
                } catch (RuntimeException e) {
                    LOG.error("cannot remove the image volumes of container {}: {}", id, e.getMessage());
                }
            }
        }
        for (String id : images.holders()) {
            if (manager.find(ImageVolumes.owner(id)).isEmpty()) {
                LOG.info("releasing the image hold of container {}, which does not exist", id);
                try {
                    images.release(id);
                } catch (RuntimeException e) {
                    LOG.error("cannot release the image hold of container {}: {}", id, e.getMessage());
                }
            }
        }
    }

    // ---------------------------------------------------------------- create

    /**
     * Creates a container in a READY pod: resolves the image, the log path under the pod's log
     * directory and the pod's namespaces, then creates it. A pod stopped meanwhile loses the
     * container again.
     */
    public ContainerRecord create(NewContainer request) {
        PodContext pod = pods.context(request.sandboxId());
        if (pod.state() != SandboxState.READY) {
            throw BerthException.failedPrecondition("pod sandbox %s is not ready", pod.id());
        }
        if (request.image().isEmpty()) {
            throw BerthException.invalidArgument("CreateContainer needs an image");
        }
        SandboxConfig.UserNamespace podUserns = pod.config().namespaces().user();
        if (request.userns() != null && !request.userns().equals(podUserns)) {
            throw BerthException.invalidArgument("the container's user namespace (%s) is not its pod's (%s)",
                    request.userns(), podUserns);
        }
        ImageRecord image = images.require(request.image());
        ContainerConfig config = request.config().apply(logPath(pod.config().logDirectory(), request.logPath()));
        Function<String, SandboxContext> context = SandboxContexts.resolve(pod, request.pid(), request.pidTarget(),
                manager::status, cgroups);
        ContainerRecord rec = create(image.id(), images.config(image), config, context, pod.config().runtimeHandler(),
                pod.config().logDirectory());
        // a StopPodSandbox or RemovePodSandbox that ran meanwhile did not see this container
        if (!stillReady(pod.id())) {
            remove(rec.id());
            throw BerthException.failedPrecondition("pod sandbox %s was stopped while the container was created", pod.id());
        }
        synchronized (started) {
            listener.created(rec);
        }
        return rec;
    }

    private boolean stillReady(String sandboxId) {
        try {
            return pods.context(sandboxId).state() == SandboxState.READY;
        } catch (BerthException e) {
            if (e.kind() == BerthException.Kind.NOT_FOUND) {
                return false;
            }
            throw e;
        }
    }

    /** The container's log file: the sandbox's log directory joined with the container's log path (see {@link LogFiles#resolve}). */
    static String logPath(String logDirectory, String logPath) {
        return LogFiles.resolve(logDirectory, logPath);
    }

    /**
     * Creates a container from {@code imageId}: holds the image's layers, mounts the root
     * filesystem and creates the log file, then has the engine create it. {@code sandbox} maps
     * the new container's id to its sandbox context (the cgroup path carries the id).
     */
    private ContainerRecord create(Digest imageId, ImageConfig image, ContainerConfig config,
                                   Function<String, SandboxContext> sandbox, String handler, String logDirectory) {
        String id = ContainerManager.newId();
        String[] cgroupsPath = {""};
        StepTimer timer = new StepTimer(LOG.isDebugEnabled());
        try {
            // the layer directory first: it is how recover() finds a create a crash cut short
            PrivateFiles.directory(rootfs.layerDir(id));
            images.hold(id, imageId);
            timer.mark("image hold");
            SandboxContext context = sandbox.apply(id);
            cgroupsPath[0] = context.cgroupsPath();
            timer.mark("pod context");
            Path root = rootfs.mount(id, images.lowerDirs(imageId), context.user());
            timer.mark("rootfs");
            ContainerConfig staged = volumes.stage(id, config);
            if (!config.logPath().isEmpty()) {
                LogFiles.create(logDirectory, Path.of(config.logPath()));
            }
            timer.mark("volumes and log");
            ContainerRecord rec = manager.create(id, new CreateRequest(staged, image, imageId.toString(), context, root,
                    handler), timer);
            LOG.debug("container {} create (wall/cpu): {}", id, timer.summary());
            return rec;
        } catch (IOException | RuntimeException e) {
            try {
                rootfs.remove(id);
                volumes.remove(id);
                removeCgroup(id, cgroupsPath[0]);
                images.release(id);
            } catch (RuntimeException c) {
                e.addSuppressed(c);
            }
            if (e instanceof BerthException be) {
                throw be;
            }
            throw BerthException.internal("cannot create container " + config.name(), e);
        }
    }

    // ---------------------------------------------------------------- start, stop, remove

    public ContainerRecord start(String id) {
        ContainerRecord rec = manager.start(id);
        synchronized (started) {
            if (started.add(id)) {
                listener.started(rec);
            }
        }
        return rec;
    }

    /**
     * Stops the container (see {@link ContainerManager#stop}: stops of one container coalesce);
     * an unknown id, or one removed while it stopped, is success.
     */
    public void stop(String id, long timeoutSeconds) {
        if (manager.find(id).isPresent()) {
            try {
                manager.stop(id, Math.max(0, timeoutSeconds));
            } catch (BerthException e) {
                if (e.kind() != BerthException.Kind.NOT_FOUND) {
                    throw e;
                }
            }
        }
    }

    /**
     * Kills the container if it runs, unmounts its root filesystem, removes it and drops its
     * image hold. An unknown id is success. Removals of one container coalesce: a call while
     * another is under way waits for it and shares its outcome.
     */
    public void remove(String id) {
        if (id == null || id.isEmpty()) {
            throw BerthException.invalidArgument("a container id is required");
        }
        CompletableFuture<Void> mine = new CompletableFuture<>();
        CompletableFuture<Void> running = removals.putIfAbsent(id, mine);
        if (running != null) {
            try {
                running.join();
                return;
            } catch (CompletionException e) {
                if (e.getCause() instanceof RuntimeException re) {
                    throw re;
                }
                throw e;
            }
        }
        try {
            removeNow(id);
            mine.complete(null);
        } catch (RuntimeException | Error e) {
            mine.completeExceptionally(e);
            throw e;
        } finally {
            removals.remove(id, mine);
        }
    }

    private void removeNow(String id) {
        ContainerRecord rec = manager.find(id).orElse(null);
        if (rec != null) {
            // nothing may use the root filesystem when it is unmounted; an exit not yet
            // recorded is recorded (and reported) here, before DELETING
            stop(id, 0);
        }
        ContainerRecord removing = rec == null ? null : manager.find(id).orElse(null);
        if (removing != null) {
            listener.deleting(removing);
            // from here on a crash leaves a container that start-up removes, never a listed
            // container whose writable layer is gone
            manager.markRemoving(id);
        }
        if (id.matches("[0-9a-f]{64}")) {
            rootfs.remove(id);
            volumes.remove(id);
        }
        if (rec != null) {
            manager.remove(id);
            removeCgroup(id, rec.cgroupsPath());
        }
        if (id.matches("[0-9a-f]{64}")) {
            images.release(id);
        }
        if (removing != null) {
            synchronized (started) {
                started.remove(id);
                listener.deleted(removing);
            }
        }
    }

    /**
     * Removes the container's own cgroup (the OCI runtime made it at {@code linux.cgroupsPath})
     * when the runtime did not: a {@code delete} of a container the runtime no longer knew, a
     * create rolled back half-way. Only a cgroupfs path ("/...") is berth's to remove here; a
     * systemd unit goes with its processes. Failures are logged: the pod's removal takes the
     * rest.
     */
    private void removeCgroup(String id, String cgroupsPath) {
        if (cgroupsPath == null || !cgroupsPath.startsWith("/") || !cgroupsPath.contains(id)) {
            return;
        }
        try {
            cgroups.remove(cgroupsPath);
        } catch (RuntimeException e) {
            LOG.warn("cannot remove the cgroup {} of container {}: {}", cgroupsPath, id, e.getMessage());
        }
    }

    /** An exit the engine recorded: STARTED first if nobody reported it yet, then STOPPED. */
    private void exited(ContainerRecord rec) {
        synchronized (started) {
            if (rec.startedAt() != 0 && started.add(rec.id())) {
                listener.started(rec);
            }
            listener.stopped(rec);
        }
    }

    /** StopPodSandbox: every container of the pod is killed (the kubelet has given them their grace period before). */
    @Override
    public void stopAll(String sandboxId) {
        for (ContainerRecord r : manager.list(new ContainerFilter("", null, sandboxId, null))) {
            if (r.state() != ContainerState.EXITED) {
                stop(r.id(), 0);
            }
        }
    }

    @Override
    public void removeAll(String sandboxId) {
        for (ContainerRecord r : manager.list(new ContainerFilter("", null, sandboxId, null))) {
            remove(r.id());
        }
    }

    // ---------------------------------------------------------------- status and lists

    /**
     * The container as ContainerStatus reports it, with the user from its runtime spec.
     *
     * @throws BerthException NOT_FOUND for an unknown id
     */
    public ContainerView status(String id) {
        ContainerRecord r = manager.status(id);
        return view(r, user(id));
    }

    /** The verbose info of ContainerStatus (see {@link ContainerManager#verboseInfo}). */
    public String verboseInfo(String id) {
        return manager.verboseInfo(id);
    }

    /** The containers matching {@code filter}, oldest first, without their users. */
    public List<ContainerView> list(ContainerFilter filter) {
        List<ContainerView> out = new ArrayList<>();
        for (ContainerRecord r : manager.list(filter)) {
            out.add(view(r, null));
        }
        return out;
    }

    private ContainerView view(ContainerRecord r, ContainerView.User user) {
        String imageId = r.imageRef();
        ImageRecord img = null;
        try {
            img = images.find(imageId).orElse(null);
        } catch (BerthException e) {
            // an id the store cannot parse: report it as it is
        }
        if (img == null) {
            return new ContainerView(r, imageId, imageId, user);
        }
        String image = img.repoTags().isEmpty() ? imageId : img.repoTags().get(0);
        String ref = img.repoDigests().isEmpty() ? imageId : img.repoDigests().get(0);
        return new ContainerView(r, image, ref, user);
    }

    /** The user of the container's runtime spec, null when the spec is gone or unreadable. */
    private ContainerView.User user(String id) {
        return manager.user(id).orElse(null);
    }

    // ---------------------------------------------------------------- exec, update, logs

    public ExecResult execSync(String id, List<String> cmd, Duration timeout) {
        return manager.execSync(id, cmd, timeout);
    }

    public ContainerRecord updateResources(String id, Resources resources) {
        return manager.updateResources(id, resources);
    }

    public void reopenLog(String id) {
        manager.reopenLog(id);
    }
}
