package dev.berth.images;

import dev.berth.common.PrivateFiles;
import com.fasterxml.jackson.databind.JsonNode;
import dev.berth.common.BerthException;
import dev.berth.common.Json;
import dev.berth.images.content.ContentStore;
import dev.berth.images.content.Descriptor;
import dev.berth.images.layer.LayerStore;
import dev.berth.images.layer.UnpackLimits;
import dev.berth.common.Trees;
import dev.berth.images.reference.Digest;
import dev.berth.images.registry.CredentialStore;
import dev.berth.images.registry.Credentials;
import dev.berth.images.registry.RegistryClient;
import dev.berth.images.registry.RegistryHosts;
import dev.berth.images.store.ImageRecord;
import dev.berth.images.store.ImageStore;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * berth's image store: pulls images from registries into the content store (blobs by digest)
 * and the layer store (unpacked layers by chain id), keeps image records, and frees blobs and
 * layers that no image, no container hold and no pull under way needs any more.
 *
 * <p>The facade the rest of berth calls; the jobs live in {@link ImageResolver} (which image a
 * reference leads to), {@link ImagePuller} (registry pulls, their executors and watchdog),
 * {@link ImageImporter} (local archives), {@link NewImage} (diff_ids and the record, shared by
 * pull and import) and {@link ImageGc} (holds, pins and sweeps).
 *
 * <p>On disk under {@code <root>}: {@code content/}, {@code layers/}, {@code metadata/},
 * {@code holds/}.
 */
public final class ImageService implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ImageService.class);

    /** How pulls behave. */
    /**
     * How pulls behave.
     * @param unpack the caps on what one layer and one image may unpack (bytes, entries)
     */
    public record Settings(Duration progressTimeout, int maxConcurrentDownloads, Set<String> pinnedImages, RegistryClient.Settings registry,
                           UnpackLimits unpack) {
        /** With the default unpack limits. */
        public Settings(Duration progressTimeout, int maxConcurrentDownloads, Set<String> pinnedImages, RegistryClient.Settings registry) {
            this(progressTimeout, maxConcurrentDownloads, pinnedImages, registry, UnpackLimits.DEFAULTS);
        }

        public static Settings defaults() {
            return new Settings(Duration.ofMinutes(5), 3, Set.of(), RegistryClient.Settings.defaults());
        }
    }

    /** Bytes and inodes used by a filesystem area. */
    public record Usage(Path mountpoint, long bytes, long inodes) {
    }

    private final Path root;
    private final ContentStore content;
    private final LayerStore layers;
    private final ImageStore images;
    private final ImageHolds holds;
    private final RegistryClient client;
    private final PullMetrics metrics = new PullMetrics();
    private final ActivePulls active = new ActivePulls();
    private final ImageResolver resolver;
    private final ImageGc gc;
    private final ImagePuller puller;
    private final ImageImporter importer;

    public ImageService(Path root, Settings settings, RegistryHosts hosts, CredentialStore credentials) {
        this.root = root;
        try {
            PrivateFiles.directory(root); // nothing below is any other user's business; an older berth left it 0755
        } catch (IOException e) {
            throw BerthException.failedPrecondition("cannot prepare image store %s: %s", root, e.getMessage());
        }
        this.content = new ContentStore(root.resolve("content"));
        this.layers = new LayerStore(root.resolve("layers"));
        this.images = new ImageStore(root.resolve("metadata"));
        this.holds = new ImageHolds(root.resolve("holds"));
        this.client = new RegistryClient(hosts, settings.registry(), credentials);
        this.resolver = new ImageResolver(images, settings.pinnedImages());
        this.gc = new ImageGc(root, content, layers, images, holds);
        this.puller = new ImagePuller(root, settings, content, layers, images, gc, client, credentials, metrics, active);
        this.importer = new ImageImporter(root, content, layers, images, gc, settings.unpack());
        gc.sweepAtStart();
    }

    public Path root() {
        return root;
    }

    public PullMetrics metrics() {
        return metrics;
    }

    /** The pulls under way, for showing their progress. */
    public ActivePulls activePulls() {
        return active;
    }

    /** HTTP requests sent to registries so far. */
    public long registryRequests() {
        return client.requests();
    }

    public ContentStore content() {
        return content;
    }

    public LayerStore layers() {
        return layers;
    }

    // ---------------------------------------------------------------- queries

    public List<ImageRecord> list() {
        return resolver.list();
    }

    /** The image an id, id prefix, tag, digest reference or plain name leads to. */
    public Optional<ImageRecord> find(String ref) {
        return resolver.find(ref);
    }

    public ImageRecord require(String ref) {
        return find(ref).orElseThrow(() -> BerthException.notFound("image %s not found", ref));
    }

    /** The image's config as stored (JSON). */
    public JsonNode config(ImageRecord r) {
        try {
            return Json.mapper().readTree(content.read(r.id(), NewImage.MAX_CONFIG_BYTES));
        } catch (IOException e) {
            throw BerthException.internal("cannot read config of image " + r.id(), e);
        }
    }

    /** The overlayfs lower directories of an image, top layer first (the order {@code lowerdir=} takes). */
    public List<Path> lowerDirs(Digest imageId) {
        ImageRecord r = images.get(imageId).orElseThrow(() -> BerthException.notFound("image %s not found", imageId));
        List<Path> out = new ArrayList<>();
        for (Digest c : r.chainIds()) {
            if (!layers.has(c)) {
                throw BerthException.failedPrecondition("layer %s of image %s is missing from the layer store", c, imageId);
            }
            out.add(layers.diffDir(c));
        }
        Collections.reverse(out);
        return out;
    }

    // ---------------------------------------------------------------- holds and removal

    /** Keeps the layers of {@code imageId} for container {@code containerId} (persisted) until {@link #release}. */
    public void hold(String containerId, Digest imageId) {
        gc.hold(containerId, imageId);
    }

    /** Drops a container's hold (idempotent) and frees the layers nothing else needs. */
    public void release(String containerId) {
        gc.release(containerId);
    }

    /** The containers that hold an image (for a recovery that releases the holds of containers gone). */
    public Set<String> holders() {
        return holds.all().keySet();
    }

    /** Removes the image a reference leads to, with its blobs and layers nobody else uses; an unknown image is not an error. */
    public void remove(String ref) {
        Optional<ImageRecord> r = resolver.findRaw(ref);
        if (r.isEmpty()) {
            return;
        }
        gc.remove(r.get().id());
        LOG.info("removed image {} ({})", r.get().id(), r.get().repoTags());
    }

    // ---------------------------------------------------------------- pulls and imports

    /**
     * Pulls an image: resolves the reference (for this platform), stores and verifies every blob,
     * unpacks the layers, and records the image under the reference. Credentials, when empty,
     * come from the credentials file. Returns the image record.
     */
    public ImageRecord pull(String image, Credentials given, Map<String, String> annotations) {
        return pull(image, given, annotations, new PullCancellation());
    }

    /**
     * As {@link #pull(String, Credentials, Map)}; {@code cancellation} lets the caller stop the
     * pull when its client gave up (the pull then ends with CANCELLED).
     */
    public ImageRecord pull(String image, Credentials given, Map<String, String> annotations, PullCancellation cancellation) {
        return puller.pull(image, given, annotations, cancellation);
    }

    /**
     * Imports an image whose blobs are local files (an OCI layout or {@code docker save}
     * archive): every blob is verified against its digest, layers are unpacked, and the
     * image is recorded under {@code tags}. Holds the store's file lock throughout, so a
     * daemon sharing the store does not sweep what is being added.
     */
    public ImageRecord importImage(byte[] manifest, String manifestMediaType, Descriptor configDesc, Path configFile,
                                   List<LocalLayer> localLayers, List<String> tags) {
        return importer.importImage(manifest, manifestMediaType, configDesc, configFile, localLayers, tags);
    }

    // ---------------------------------------------------------------- usage

    /** What the image store uses: unpacked layers and stored blobs. */
    public Usage usage() {
        long bytes = 0;
        long inodes = 0;
        for (Digest c : layers.list()) {
            if (layers.has(c)) {
                LayerStore.Layer l = layers.get(c);
                bytes += l.bytes();
                inodes += l.inodes();
            }
        }
        for (Digest b : content.list()) {
            try {
                bytes += Files.size(content.path(b));
                inodes++;
            } catch (IOException e) {
                // removed meanwhile
            }
        }
        inodes += images.list().size();
        return new Usage(root, bytes, inodes);
    }

    /** What a directory tree uses (e.g. the containers' writable layers). */
    public static Usage usageOf(Path dir) {
        long[] u = Trees.usage(dir);
        return new Usage(dir, u[0], u[1]);
    }

    /** The verbose status of an image: its config, manifest digest and layer chain. */
    public Map<String, Object> verboseInfo(ImageRecord r) {
        Map<String, Object> info = new LinkedHashMap<>();
        info.put("imageSpec", config(r));
        info.put("manifestDigest", r.manifestDigest().toString());
        info.put("manifestMediaType", r.manifestMediaType());
        if (r.indexDigest() != null) {
            info.put("indexDigest", r.indexDigest().toString());
        }
        List<Map<String, Object>> chain = new ArrayList<>();
        for (int i = 0; i < r.chainIds().size(); i++) {
            Map<String, Object> l = new LinkedHashMap<>();
            l.put("blob", r.layerBlobs().get(i).toString());
            l.put("diffId", r.diffIds().get(i).toString());
            l.put("chainId", r.chainIds().get(i).toString());
            l.put("path", layers.diffDir(r.chainIds().get(i)).toString());
            chain.add(l);
        }
        info.put("layers", chain);
        info.put("holds", holds.all().values().stream().filter(h -> h.imageId().equals(r.id())).map(ImageHolds.Hold::containerId).toList());
        return info;
    }

    @Override
    public void close() {
        puller.close();
    }
}
