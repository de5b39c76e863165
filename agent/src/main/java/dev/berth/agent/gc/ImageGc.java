package dev.berth.agent.gc;

import dev.berth.agent.cri.CriClient;
import dev.berth.agent.status.EventRecorder;
import dev.berth.cri.v1.Container;
import dev.berth.cri.v1.FilesystemUsage;
import dev.berth.cri.v1.Image;
import dev.berth.cri.v1.ImageFsInfoResponse;
import io.fabric8.kubernetes.api.model.ObjectReference;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The kubelet's image garbage collection. It remembers, in memory, when it first saw each
 * image and when it last saw one used (by any container, running or not, naming it by id or
 * reference). A pass first removes (when {@code imageMaximumGcAge} is set and the agent has
 * run that long) the images unused for longer than it; then, when the image filesystem is
 * {@code imageGcHighThresholdPercent} full or more, removes unused images, least recently used
 * first, until what their sizes add up to brings it down to {@code imageGcLowThresholdPercent}.
 * An image in use, pinned by the runtime, or first seen less than {@code imageMinimumGcAge}
 * ago (just pulled, its container not made yet) is never removed. When not enough can be
 * freed the Node gets a {@code FreeDiskSpaceFailed} warning.
 * <p>
 * How full the filesystem is: CRI ImageFsInfo gives the bytes the image store uses and where it
 * is, but no capacity, so the capacity and free space come from statfs of that mountpoint
 * ({@link Space}); the fuller of the two views counts (the runtime's bytes, or all that is
 * used on the filesystem, as the kubelet's statfs-based view sees it).
 */
public final class ImageGc {
    private static final Logger LOG = LoggerFactory.getLogger(ImageGc.class);
    public static final String FREE_DISK_SPACE_FAILED = "FreeDiskSpaceFailed";
    public static final String INVALID_DISK_CAPACITY = "InvalidDiskCapacity";

    /** A filesystem's size and its bytes available, as statfs tells them. */
    public record Capacity(long capacityBytes, long availableBytes) {
    }

    /** Measures the filesystem holding a path. */
    @FunctionalInterface
    public interface Space {
        Capacity of(Path path) throws IOException;

        /** statfs through the JDK's FileStore: total blocks, and blocks available to unprivileged users, in bytes. */
        Space STATFS = path -> {
            FileStore store = Files.getFileStore(path);
            return new Capacity(store.getTotalSpace(), store.getUsableSpace());
        };
    }

    /** What a pass could not do: the loop logs it and, when it repeats, tells the Node. */
    public static final class GcFailure extends Exception {
        public GcFailure(String message) {
            super(message);
        }
    }

    private static final class Seen {
        final Instant firstDetected;
        Instant lastUsed; // null: never seen in use
        long size;
        boolean pinned;

        Seen(Instant firstDetected) {
            this.firstDetected = firstDetected;
        }
    }

    private record Candidate(String id, Instant firstDetected, Instant lastUsed, long size) {
    }

    /** Least recently used first (never used before all), then first seen first. */
    private static final Comparator<Candidate> EVICTION_ORDER = Comparator
            .comparing(Candidate::lastUsed, Comparator.nullsFirst(Comparator.naturalOrder()))
            .thenComparing(Candidate::firstDetected);

    private final CriClient cri;
    private final GcSettings settings;
    private final Space space;
    private final EventRecorder events;
    private final ObjectReference node;
    private final Clock clock;
    private final Map<String, Seen> seen = new HashMap<>();

    /** {@code node} is the Node's reference for the warnings ({@link #nodeReference}). */
    public ImageGc(CriClient cri, GcSettings settings, Space space, EventRecorder events, ObjectReference node, Clock clock) {
        this.cri = cri;
        this.settings = settings;
        this.space = space;
        this.events = events;
        this.node = node;
        this.clock = clock;
    }

    /** The reference the kubelet gives its node in events: kind Node, the node's name as name and uid. */
    public static ObjectReference nodeReference(String nodeName) {
        ObjectReference r = new ObjectReference();
        r.setKind("Node");
        r.setName(nodeName);
        r.setUid(nodeName);
        r.setNamespace("");
        return r;
    }

    /**
     * One pass; {@code began} is when the agent started collecting (the maximum age counts only
     * after the agent has watched the images that long). Returns the bytes the removed images
     * held; throws {@link GcFailure} when the filesystem stays above the low threshold or cannot
     * be measured.
     */
    public synchronized long collect(Instant began) throws GcFailure {
        Instant now = clock.instant();
        List<Candidate> order = evictionOrder(now);
        long freed = 0;
        order = removeOld(order, now, began);
        if (settings.imageGcHighThresholdPercent() >= 100) {
            return freed;
        }
        ImageFsInfoResponse info = cri.imageFsInfo();
        if (info.getImageFilesystemsCount() == 0) {
            throw new GcFailure("the runtime's ImageFsInfo names no image filesystem");
        }
        FilesystemUsage fs = info.getImageFilesystems(0);
        String mountpoint = fs.getFsId().getMountpoint();
        Capacity c;
        try {
            c = space.of(Path.of(mountpoint));
        } catch (IOException | RuntimeException e) {
            throw new GcFailure("cannot measure the image filesystem at " + mountpoint + ": " + e);
        }
        long capacity = c.capacityBytes();
        if (capacity <= 0) {
            String message = "invalid capacity " + capacity + " on image filesystem";
            events.event(node, EventRecorder.WARNING, INVALID_DISK_CAPACITY, message);
            throw new GcFailure(message);
        }
        long available = Math.min(Math.min(c.availableBytes(), capacity), capacity - Math.min(capacity, fs.getUsedBytes().getValue()));
        available = Math.max(0, available);
        int usagePercent = 100 - (int) (available * 100 / capacity);
        if (usagePercent < settings.imageGcHighThresholdPercent()) {
            return freed;
        }
        long toFree = capacity * (100 - settings.imageGcLowThresholdPercent()) / 100 - available;
        LOG.info("image filesystem {} is {}% full, at or over the high threshold ({}%): freeing {} bytes to reach the low threshold ({}%)",
                mountpoint, usagePercent, settings.imageGcHighThresholdPercent(), toFree, settings.imageGcLowThresholdPercent());
        freed += freeSpace(order, toFree, now);
        if (freed < toFree) {
            String message = "Failed to garbage collect required amount of images. Attempted to free " + toFree
                    + " bytes, but only found " + freed + " bytes eligible to free.";
            events.event(node, EventRecorder.WARNING, FREE_DISK_SPACE_FAILED, message);
            throw new GcFailure(message);
        }
        return freed;
    }

    /** Lists images and containers, updates what is remembered, and returns the removable images in eviction order. */
    private List<Candidate> evictionOrder(Instant now) {
        List<Image> images = cri.listImages();
        Set<String> inUse = new HashSet<>();
        for (Container c : cri.listAllContainers()) {
            addNonEmpty(inUse, c.getImageRef());
            addNonEmpty(inUse, c.getImageId());
            addNonEmpty(inUse, c.getImage().getImage());
        }
        Set<String> present = new HashSet<>();
        List<Candidate> out = new ArrayList<>();
        for (Image image : images) {
            present.add(image.getId());
            Seen s = seen.computeIfAbsent(image.getId(), id -> new Seen(now));
            s.size = image.getSize();
            s.pinned = image.getPinned();
            if (used(image, inUse)) {
                s.lastUsed = now;
                continue;
            }
            if (!s.pinned) {
                out.add(new Candidate(image.getId(), s.firstDetected, s.lastUsed, s.size));
            }
        }
        seen.keySet().retainAll(present);
        out.sort(EVICTION_ORDER);
        return out;
    }

    private static void addNonEmpty(Set<String> set, String s) {
        if (s != null && !s.isEmpty()) {
            set.add(s);
        }
    }

    private static boolean used(Image image, Set<String> inUse) {
        if (inUse.contains(image.getId())) {
            return true;
        }
        for (String tag : image.getRepoTagsList()) {
            if (inUse.contains(tag)) {
                return true;
            }
        }
        for (String digest : image.getRepoDigestsList()) {
            if (inUse.contains(digest)) {
                return true;
            }
        }
        return false;
    }

    /**
     * The maximum age: once the agent has collected for longer than it, the images unused for
     * longer than it go (one never seen in use counts from when it was first seen). Returns the
     * candidates left.
     */
    private List<Candidate> removeOld(List<Candidate> order, Instant now, Instant began) {
        Duration max = settings.imageMaximumGcAge();
        if (max.isZero() || Duration.between(began, now).compareTo(max) <= 0) {
            return order;
        }
        List<Candidate> left = new ArrayList<>();
        for (Candidate c : order) {
            Instant since = c.lastUsed() != null ? c.lastUsed() : c.firstDetected();
            if (Duration.between(since, now).compareTo(max) > 0 && old(c, now) && remove(c, "unused for longer than " + max)) {
                continue;
            }
            left.add(c);
        }
        return left;
    }

    private boolean old(Candidate c, Instant now) {
        return Duration.between(c.firstDetected(), now).compareTo(settings.imageMinimumGcAge()) >= 0;
    }

    /** Removes candidates in order, skipping those younger than the minimum age, until {@code toFree} bytes are freed. */
    private long freeSpace(List<Candidate> order, long toFree, Instant now) {
        long freed = 0;
        for (Candidate c : order) {
            if (freed >= toFree) {
                break;
            }
            if (!old(c, now)) {
                continue;
            }
            if (remove(c, "to free " + c.size() + " bytes")) {
                freed += c.size();
            }
        }
        return freed;
    }

    private boolean remove(Candidate c, String why) {
        try {
            LOG.info("removing image {} {}", c.id(), why);
            cri.removeImage(c.id());
            seen.remove(c.id());
            return true;
        } catch (StatusRuntimeException e) {
            LOG.warn("cannot remove image {}: {}", c.id(), e.getStatus());
            return false;
        }
    }
}
