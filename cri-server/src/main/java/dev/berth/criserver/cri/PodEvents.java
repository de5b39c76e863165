package dev.berth.criserver.cri;

import dev.berth.common.BerthException;
import dev.berth.cri.v1.ContainerEventResponse;
import dev.berth.cri.v1.ContainerEventType;
import dev.berth.podsandbox.container.ContainerFilter;
import dev.berth.podsandbox.container.ContainerListener;
import dev.berth.podsandbox.container.ContainerRecord;
import dev.berth.podsandbox.container.ContainerService;
import dev.berth.podsandbox.sandbox.SandboxService;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Translates what the runtime reports (the {@link ContainerService}'s container events, the
 * sandbox RPCs' pod events) into the container events of {@link ContainerEvents}, each with
 * the pod's sandbox status and the statuses of its containers. Events are built on one
 * background thread, in the order they were reported, so a runtime operation only enqueues; a
 * DELETED event is built before the removal, while there is still something to describe.
 */
public final class PodEvents implements ContainerListener {
    private static final Logger LOG = LoggerFactory.getLogger(PodEvents.class);

    private final ContainerEvents hub;
    private final SandboxService sandboxes;
    private final ContainerService containers;
    private final ExecutorService builder;
    /**
     * DELETED events built before their container's removal, published once it is gone (a
     * removal that failed leaves its event here until the next attempt replaces it).
     */
    private final Map<String, ContainerEventResponse> deletions = new ConcurrentHashMap<>();

    public PodEvents(ContainerEvents hub, SandboxService sandboxes, ContainerService containers) {
        this.hub = hub;
        this.sandboxes = sandboxes;
        this.containers = containers;
        this.builder = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "berth-container-events");
            t.setDaemon(true);
            return t;
        });
    }

    @Override
    public void created(ContainerRecord container) {
        enqueue(container.id(), container.sandboxId(), ContainerEventType.CONTAINER_CREATED_EVENT);
    }

    @Override
    public void started(ContainerRecord container) {
        enqueue(container.id(), container.sandboxId(), ContainerEventType.CONTAINER_STARTED_EVENT);
    }

    @Override
    public void stopped(ContainerRecord container) {
        enqueue(container.id(), container.sandboxId(), ContainerEventType.CONTAINER_STOPPED_EVENT);
    }

    @Override
    public void deleting(ContainerRecord container) {
        ContainerEventResponse event = safeBuild(container.id(), container.sandboxId(),
                ContainerEventType.CONTAINER_DELETED_EVENT, nowNanos());
        if (event != null) {
            deletions.put(container.id(), event);
        } else {
            deletions.remove(container.id());
        }
    }

    @Override
    public void deleted(ContainerRecord container) {
        ContainerEventResponse event = deletions.remove(container.id());
        if (event != null) {
            synchronized (this) {
                builder.execute(() -> hub.publish(event));
            }
        }
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
                synchronized (this) {
                    builder.execute(() -> hub.publish(event));
                }
            }
        };
    }

    private void enqueue(String id, String sandboxId, ContainerEventType type) {
        long at = nowNanos();
        synchronized (this) {
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
        ContainerEventResponse.Builder b = ContainerEventResponse.newBuilder()
                .setContainerId(id).setContainerEventType(type).setCreatedAt(at);
        if (!sandboxId.isEmpty()) {
            try {
                b.setPodSandboxStatus(SandboxRpcs.podSandboxStatus(sandboxes.status(sandboxId, false)));
            } catch (BerthException e) {
                // the sandbox is gone already: the event has no sandbox status
            }
            for (ContainerRecord r : containers.manager().list(new ContainerFilter("", null, sandboxId, null))) {
                try {
                    b.addContainersStatuses(ContainerTranslation.status(containers.status(r.id())));
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
