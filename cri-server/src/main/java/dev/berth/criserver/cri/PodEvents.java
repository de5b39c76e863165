package dev.berth.criserver.cri;

import dev.berth.common.BerthException;
import dev.berth.cri.v1.ContainerEventResponse;
import dev.berth.cri.v1.ContainerEventType;
import dev.berth.cri.v1.ContainerStatus;
import dev.berth.podsandbox.container.ContainerFilter;
import dev.berth.podsandbox.container.ContainerManager;
import dev.berth.podsandbox.container.ContainerRecord;
import dev.berth.podsandbox.sandbox.SandboxService;
import java.time.Instant;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Turns what the runtime does into the container events of {@link ContainerEvents}, each with
 * the pod's sandbox status and the statuses of its containers. Events are built on one
 * background thread, in the order they happened, so a runtime operation only enqueues; a
 * DELETED event is built before the removal, while there is still something to describe.
 */
public final class PodEvents {
    private static final Logger LOG = LoggerFactory.getLogger(PodEvents.class);

    private final ContainerEvents hub;
    private final SandboxService sandboxes;
    private final ContainerManager manager;
    private final ExecutorService builder;
    /** Containers whose STARTED event is out, so an exit seen before StartContainer returns does not reorder them. */
    private final Set<String> started = new HashSet<>();
    private volatile Function<String, ContainerStatus> containerStatus = id -> null;

    public PodEvents(ContainerEvents hub, SandboxService sandboxes, ContainerManager manager) {
        this.hub = hub;
        this.sandboxes = sandboxes;
        this.manager = manager;
        this.builder = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "berth-container-events");
            t.setDaemon(true);
            return t;
        });
        for (ContainerRecord r : manager.list()) {
            if (r.startedAt() != 0) {
                started.add(r.id());
            }
        }
    }

    /** How a container's CRI status is made (ContainerRpcs' translation). */
    void containerStatuses(Function<String, ContainerStatus> translation) {
        this.containerStatus = translation;
    }

    public void containerCreated(String id, String sandboxId) {
        enqueue(id, sandboxId, ContainerEventType.CONTAINER_CREATED_EVENT);
    }

    public void containerStarted(String id) {
        synchronized (started) {
            if (started.add(id)) {
                enqueue(id, null, ContainerEventType.CONTAINER_STARTED_EVENT);
            }
        }
    }

    /** A container berth saw exit (the engine's exit listener): one STOPPED event per exit. */
    public void containerExited(ContainerRecord rec) {
        synchronized (started) {
            if (rec.startedAt() != 0 && started.add(rec.id())) {
                enqueue(rec.id(), rec.sandboxId(), ContainerEventType.CONTAINER_STARTED_EVENT);
            }
            enqueue(rec.id(), rec.sandboxId(), ContainerEventType.CONTAINER_STOPPED_EVENT);
        }
    }

    /** Called before a container is removed; the returned action publishes its DELETED event once it is gone. */
    public Runnable containerRemoval(String id) {
        ContainerRecord rec = manager.find(id).orElse(null);
        if (rec == null) {
            return () -> { };
        }
        long at = nowNanos();
        ContainerEventResponse event = safeBuild(id, rec.sandboxId(), ContainerEventType.CONTAINER_DELETED_EVENT, at);
        return () -> {
            synchronized (started) {
                started.remove(id);
                if (event != null) {
                    builder.execute(() -> hub.publish(event));
                }
            }
        };
    }

    public void sandboxCreatedAndStarted(String sandboxId) {
        enqueue(sandboxId, sandboxId, ContainerEventType.CONTAINER_CREATED_EVENT);
        enqueue(sandboxId, sandboxId, ContainerEventType.CONTAINER_STARTED_EVENT);
    }

    public void sandboxStopped(String sandboxId) {
        enqueue(sandboxId, sandboxId, ContainerEventType.CONTAINER_STOPPED_EVENT);
    }

    /** Called before a sandbox is removed; the returned action publishes its DELETED event once it is gone. */
    public Runnable sandboxRemoval(String sandboxId) {
        ContainerEventResponse event = safeBuild(sandboxId, sandboxId, ContainerEventType.CONTAINER_DELETED_EVENT, nowNanos());
        return () -> {
            if (event != null) {
                synchronized (started) {
                    builder.execute(() -> hub.publish(event));
                }
            }
        };
    }

    private void enqueue(String id, String sandboxId, ContainerEventType type) {
        long at = nowNanos();
        synchronized (started) {
            builder.execute(() -> {
                ContainerEventResponse event = safeBuild(id, sandboxId, type, at);
                if (event != null) {
                    hub.publish(event);
                }
            });
        }
    }

    private ContainerEventResponse safeBuild(String id, String sandboxId, ContainerEventType type, long at) {
        try {
            return build(id, sandboxId, type, at);
        } catch (RuntimeException e) {
            LOG.warn("cannot describe the {} of {}: {}", type, id, e.toString());
            return null;
        }
    }

    private ContainerEventResponse build(String id, String sandboxId, ContainerEventType type, long at) {
        if (sandboxId == null) {
            sandboxId = manager.find(id).map(ContainerRecord::sandboxId).orElse("");
        }
        ContainerEventResponse.Builder b = ContainerEventResponse.newBuilder()
                .setContainerId(id).setContainerEventType(type).setCreatedAt(at);
        if (!sandboxId.isEmpty()) {
            try {
                b.setPodSandboxStatus(SandboxRpcs.podSandboxStatus(sandboxes.status(sandboxId, false)));
            } catch (BerthException e) {
                // the sandbox is gone already: the event has no sandbox status
            }
            for (ContainerRecord r : manager.list(new ContainerFilter("", null, sandboxId, null))) {
                try {
                    ContainerStatus s = containerStatus.apply(r.id());
                    if (s != null) {
                        b.addContainersStatuses(s);
                    }
                } catch (BerthException e) {
                    // removed meanwhile
                }
            }
        }
        return b.build();
    }

    private static long nowNanos() {
        Instant now = Instant.now();
        return now.getEpochSecond() * 1_000_000_000L + now.getNano();
    }
}
