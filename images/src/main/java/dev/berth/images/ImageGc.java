package dev.berth.images;

import dev.berth.common.PrivateFiles;
import dev.berth.common.BerthException;
import dev.berth.images.content.ContentStore;
import dev.berth.images.layer.LayerStore;
import dev.berth.images.reference.Digest;
import dev.berth.images.store.ImageRecord;
import dev.berth.images.store.ImageStore;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Supplier;

/**
 * Image garbage collection: frees blobs and layers that no image, no container hold and no
 * pull or import under way needs any more. Pulls and imports pin what they are adding;
 * container holds persist across restarts. Every change to the set of images goes through
 * {@link #locked} so that a sweep never sees half of it.
 */
final class ImageGc {
    private final Path root;
    private final ContentStore content;
    private final LayerStore layers;
    private final ImageStore images;
    private final ImageHolds holds;
    private final Object gcLock = new Object();
    /** Taken before the store's file lock (the file lock excludes other processes, this one other threads). */
    private final ReentrantLock storeLock = new ReentrantLock();
    private final Map<Digest, Integer> pullingBlobs = new HashMap<>();
    private final Map<Digest, Integer> pullingLayers = new HashMap<>();

    ImageGc(Path root, ContentStore content, LayerStore layers, ImageStore images, ImageHolds holds) {
        this.root = root;
        this.content = content;
        this.layers = layers;
        this.images = images;
        this.holds = holds;
    }

    /** Sweeps what a crash during a removal left behind. */
    void sweepAtStart() {
        synchronized (gcLock) {
            sweep();
        }
    }

    /** Runs {@code action} excluding sweeps of this process. */
    <T> T locked(Supplier<T> action) {
        synchronized (gcLock) {
            return action.get();
        }
    }

    /** Keeps the layers of {@code imageId} for container {@code containerId} (persisted) until {@link #release}. */
    void hold(String containerId, Digest imageId) {
        ImageHolds.checkId(containerId);
        synchronized (gcLock) {
            ImageRecord r = images.get(imageId).orElseThrow(() -> BerthException.notFound("image %s not found", imageId));
            holds.put(new ImageHolds.Hold(containerId, imageId, r.chainIds()));
        }
    }

    /** Drops a container's hold (idempotent) and frees the layers nothing else needs. */
    void release(String containerId) {
        ImageHolds.checkId(containerId);
        synchronized (gcLock) {
            if (holds.remove(containerId) != null) {
                sweep();
            }
        }
    }

    /** Removes the image record and sweeps what only it used. */
    void remove(Digest imageId) {
        synchronized (gcLock) {
            images.remove(imageId);
            sweep();
        }
    }

    /**
     * Runs {@code action} holding the store's file lock, which {@code berth image import} in
     * another process also takes, so a sweep never deletes what an import is adding.
     */
    void underStoreLock(Runnable action) {
        storeLock.lock();
        try (FileChannel ch = FileChannel.open(root.resolve("lock"),
                Set.of(StandardOpenOption.CREATE, StandardOpenOption.WRITE), PrivateFiles.fileAttribute());
             FileLock lock = ch.lock()) {
            action.run();
        } catch (IOException e) {
            throw BerthException.internal("cannot lock image store " + root, e);
        } finally {
            storeLock.unlock();
        }
    }

    /** Deletes every layer and blob that no image, hold or pull under way references. Callers hold gcLock. */
    private void sweep() {
        underStoreLock(this::sweepLocked);
    }

    private void sweepLocked() {
        Set<Digest> liveLayers = new HashSet<>(holds.heldChainIds());
        Set<Digest> liveBlobs = new HashSet<>();
        for (ImageRecord r : images.snapshot()) {
            liveLayers.addAll(r.chainIds());
            liveBlobs.addAll(r.blobs());
        }
        liveLayers.addAll(pullingLayers.keySet());
        liveBlobs.addAll(pullingBlobs.keySet());
        for (Digest c : layers.list()) {
            if (!liveLayers.contains(c)) {
                layers.delete(c);
            }
        }
        for (Digest b : content.list()) {
            if (!liveBlobs.contains(b)) {
                content.delete(b);
            }
        }
    }

    /**
     * Whether a layer already in the store may be the unpacked form of layer blob {@code blob}:
     * an image that lists the blob has its layer present, or some layer present is one no image
     * record names (kept by a container hold or a pull under way), whose blob is unknown.
     */
    boolean mayHaveUnpacked(Digest blob) {
        synchronized (gcLock) {
            Set<Digest> named = new HashSet<>();
            for (ImageRecord r : images.snapshot()) {
                named.addAll(r.chainIds());
                int i = r.layerBlobs().indexOf(blob);
                if (i >= 0 && i < r.chainIds().size() && layers.has(r.chainIds().get(i))) {
                    return true;
                }
            }
            return !named.containsAll(holds.heldChainIds()) || !named.containsAll(pullingLayers.keySet());
        }
    }

    /** Keeps {@code blobs} and {@code chains} from any sweep until {@link #unpin}; pins count. */
    void pin(Set<Digest> blobs, Set<Digest> chains) {
        synchronized (gcLock) {
            blobs.forEach(b -> pullingBlobs.merge(b, 1, Integer::sum));
            chains.forEach(c -> pullingLayers.merge(c, 1, Integer::sum));
        }
    }

    /** Drops the pins and deletes what of them no image, hold or other pin needs (what a failed pull stored). */
    void unpin(Set<Digest> blobs, Set<Digest> chains) {
        synchronized (gcLock) {
            blobs.forEach(b -> pullingBlobs.computeIfPresent(b, (k, v) -> v == 1 ? null : v - 1));
            chains.forEach(c -> pullingLayers.computeIfPresent(c, (k, v) -> v == 1 ? null : v - 1));
            underStoreLock(() -> sweepLeftovers(blobs, chains));
        }
    }

    private void sweepLeftovers(Set<Digest> blobs, Set<Digest> chains) {
        Set<Digest> liveLayers = new HashSet<>(holds.heldChainIds());
        Set<Digest> liveBlobs = new HashSet<>();
        for (ImageRecord r : images.snapshot()) {
            liveLayers.addAll(r.chainIds());
            liveBlobs.addAll(r.blobs());
        }
        for (Digest c : chains) {
            if (!liveLayers.contains(c) && !pullingLayers.containsKey(c)) {
                layers.delete(c);
            }
        }
        for (Digest b : blobs) {
            if (!liveBlobs.contains(b) && !pullingBlobs.containsKey(b)) {
                content.delete(b);
            }
        }
    }
}
