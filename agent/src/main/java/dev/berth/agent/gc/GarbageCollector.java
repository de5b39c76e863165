package dev.berth.agent.gc;

import dev.berth.agent.cri.CriClient;
import dev.berth.agent.status.EventRecorder;
import dev.berth.common.DaemonThreads;
import io.fabric8.kubernetes.api.model.ObjectReference;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The agent's two garbage collection loops, each on a daemon thread of its own: dead containers
 * and sandboxes ({@link ContainerGc}) every {@code containerGcPeriod}, unused images
 * ({@link ImageGc}) every {@code imageGcPeriod}. As with the kubelet, a failed container pass is
 * a {@code ContainerGCFailed} warning on the Node, and an image pass failing twice in a row an
 * {@code ImageGCFailed} one (a single failure is only logged: the runtime's stats may not be
 * ready yet). The first container pass waits one period, so that the pod sources have told the
 * pod workers every pod before a pod's dead containers may be taken for a gone pod's; the first
 * image pass comes after {@link #FIRST_IMAGE_GC}.
 */
public final class GarbageCollector implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(GarbageCollector.class);
    public static final String CONTAINER_GC_FAILED = "ContainerGCFailed";
    public static final String IMAGE_GC_FAILED = "ImageGCFailed";
    /** How long after the start the first image pass runs: the runtime and its stats have settled. */
    static final Duration FIRST_IMAGE_GC = Duration.ofSeconds(10);

    private final ContainerGc containers;
    private final ImageGc images;
    private final EventRecorder events;
    private final ObjectReference node;
    private final ScheduledExecutorService containerThread;
    private final ScheduledExecutorService imageThread;
    private final Instant began;
    private boolean imageFailedBefore;

    GarbageCollector(ContainerGc containers, ImageGc images, EventRecorder events, ObjectReference node, Instant began) {
        this.containers = containers;
        this.images = images;
        this.events = events;
        this.node = node;
        this.began = began;
        this.containerThread = DaemonThreads.scheduler("container-gc");
        this.imageThread = images == null ? null : DaemonThreads.scheduler("image-gc");
    }

    /**
     * Starts both loops for the node {@code nodeName}; {@code podWanted} tells whether a pod uid
     * still belongs on the node. Image GC does not run when the settings switch it off.
     */
    public static GarbageCollector start(CriClient cri, GcSettings settings, Predicate<String> podWanted, EventRecorder events,
                                         String nodeName) {
        Clock clock = Clock.systemUTC();
        ObjectReference node = ImageGc.nodeReference(nodeName);
        ImageGc images = null;
        if (settings.imageGcEnabled()) {
            images = new ImageGc(cri, settings, ImageGc.Space.STATFS, events, node, clock);
        } else {
            LOG.info("image garbage collection is off (image_gc_high_threshold 100 and no image_maximum_gc_age)");
        }
        GarbageCollector gc = new GarbageCollector(new ContainerGc(cri, settings, podWanted, clock), images, events, node, clock.instant());
        long containerEvery = settings.containerGcPeriod().toMillis();
        gc.containerThread.scheduleWithFixedDelay(gc::collectContainers, containerEvery, containerEvery, TimeUnit.MILLISECONDS);
        if (images != null) {
            long imageEvery = settings.imageGcPeriod().toMillis();
            gc.imageThread.scheduleWithFixedDelay(gc::collectImages, Math.min(FIRST_IMAGE_GC.toMillis(), imageEvery), imageEvery,
                    TimeUnit.MILLISECONDS);
        }
        return gc;
    }

    /** One container pass; a failure is a warning on the Node. */
    void collectContainers() {
        try {
            containers.collect();
        } catch (RuntimeException e) {
            LOG.warn("container garbage collection failed: {}", e.toString());
            events.event(node, EventRecorder.WARNING, CONTAINER_GC_FAILED, String.valueOf(e.getMessage()));
        }
    }

    /** One image pass; a failure after a failure is a warning on the Node. */
    void collectImages() {
        try {
            images.collect(began);
            if (imageFailedBefore) {
                LOG.info("image garbage collection succeeded");
            }
            imageFailedBefore = false;
        } catch (ImageGc.GcFailure | RuntimeException e) {
            if (imageFailedBefore) {
                LOG.warn("image garbage collection failed again: {}", e.getMessage());
                events.event(node, EventRecorder.WARNING, IMAGE_GC_FAILED, String.valueOf(e.getMessage()));
            } else {
                LOG.warn("image garbage collection failed once (the runtime's stats may not be ready yet): {}", e.getMessage());
            }
            imageFailedBefore = true;
        }
    }

    /** Stops both loops; a pass under way is interrupted. */
    @Override
    public void close() {
        containerThread.shutdownNow();
        if (imageThread != null) {
            imageThread.shutdownNow();
        }
    }
}
