package dev.berth.criserver.cri;

import dev.berth.common.BerthException;
import dev.berth.images.ImageService;
import dev.berth.images.reference.Digest;
import dev.berth.podsandbox.container.ContainerFilter;
import dev.berth.podsandbox.container.ContainerManager;
import dev.berth.podsandbox.container.ContainerRecord;
import dev.berth.podsandbox.container.ContainerRootfs;
import dev.berth.podsandbox.container.ContainerState;
import dev.berth.podsandbox.container.CreateRequest;
import dev.berth.podsandbox.container.spec.ContainerConfig;
import dev.berth.podsandbox.container.spec.ImageConfig;
import dev.berth.podsandbox.container.spec.SandboxContext;
import dev.berth.podsandbox.sandbox.SandboxContainers;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Containers with their root filesystems and image holds: what CreateContainer and
 * RemoveContainer do beyond the container engine. Every container id has, for as long as the
 * container exists, a writable layer and an overlay mount ({@link ContainerRootfs}) and a hold
 * on its image's layers; a create that fails or was interrupted by a crash leaves none of them.
 * Also the sandbox lifecycle's view of a pod's containers.
 */
public final class Containers implements SandboxContainers {
    private static final Logger LOG = LoggerFactory.getLogger(Containers.class);

    private final ContainerManager manager;
    private final ContainerRootfs rootfs;
    private final ImageService images;
    private volatile Function<String, Runnable> removal = id -> () -> { };

    public Containers(ContainerManager manager, ContainerRootfs rootfs, ImageService images) {
        this.manager = manager;
        this.rootfs = rootfs;
        this.images = images;
    }

    public ContainerManager manager() {
        return manager;
    }

    /**
     * {@code hook} is called with the id before each removal; the action it returns runs once
     * the container is gone (how container events report a DELETED container).
     */
    public void onRemove(Function<String, Runnable> hook) {
        this.removal = hook;
    }

    /**
     * Frees the root filesystems and image holds of containers the engine has no record of:
     * creates that a crash cut short, or removals that a crash interrupted.
     */
    public void recover() {
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
    }

    /**
     * Creates a container from {@code imageId}: holds the image's layers, mounts the root
     * filesystem, then has the engine create it. {@code sandbox} maps the new container's id
     * to its sandbox context (the cgroup path carries the id).
     */
    public ContainerRecord create(Digest imageId, ImageConfig image, ContainerConfig config,
                                  Function<String, SandboxContext> sandbox, String handler) {
        String id = ContainerManager.newContainerId();
        try {
            // the layer directory first: it is how recover() finds a create a crash cut short
            Files.createDirectories(rootfs.layerDir(id));
            images.hold(id, imageId);
            Path root = rootfs.mount(id, images.lowerDirs(imageId));
            if (!config.logPath().isEmpty()) {
                Files.createDirectories(Path.of(config.logPath()).getParent());
            }
            return manager.create(id, new CreateRequest(config, image, imageId.toString(), sandbox.apply(id), root, handler));
        } catch (IOException | RuntimeException e) {
            try {
                rootfs.remove(id);
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

    /**
     * Kills the container if it runs, unmounts its root filesystem, removes it and drops its
     * image hold. An unknown id is success.
     */
    public void remove(String id) {
        if (id == null || id.isEmpty()) {
            throw BerthException.invalidArgument("a container id is required");
        }
        ContainerRecord rec = manager.find(id).orElse(null);
        if (rec != null && rec.state() != ContainerState.EXITED) {
            manager.stop(id, 0); // nothing may use the root filesystem when it is unmounted
        }
        Runnable removed = rec == null ? () -> { } : removal.apply(id);
        if (id.matches("[0-9a-f]{64}")) {
            rootfs.remove(id);
        }
        if (rec != null) {
            manager.remove(id);
        }
        if (id.matches("[0-9a-f]{64}")) {
            images.release(id);
        }
        removed.run();
    }

    /** StopPodSandbox: every container of the pod is killed (the kubelet has given them their grace period before). */
    @Override
    public void stopAll(String sandboxId) {
        for (ContainerRecord r : manager.list(new ContainerFilter("", null, sandboxId, null))) {
            if (r.state() != ContainerState.EXITED) {
                manager.stop(r.id(), 0);
            }
        }
    }

    @Override
    public void removeAll(String sandboxId) {
        for (ContainerRecord r : manager.list(new ContainerFilter("", null, sandboxId, null))) {
            remove(r.id());
        }
    }
}
