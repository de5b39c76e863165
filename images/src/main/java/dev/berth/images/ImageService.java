package dev.berth.images;

import com.fasterxml.jackson.databind.JsonNode;
import dev.berth.common.BerthException;
import dev.berth.common.Json;
import dev.berth.images.content.ContentStore;
import dev.berth.images.content.Descriptor;
import dev.berth.images.layer.Durability;
import dev.berth.images.layer.LayerStore;
import dev.berth.images.layer.Trees;
import dev.berth.images.reference.Digest;
import dev.berth.images.reference.Reference;
import dev.berth.images.registry.CredentialStore;
import dev.berth.images.registry.Credentials;
import dev.berth.images.registry.MediaTypes;
import dev.berth.images.registry.RegistryClient;
import dev.berth.images.registry.RegistryHosts;
import dev.berth.images.store.ImageRecord;
import dev.berth.images.store.ImageStore;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * berth's image store: pulls images from registries into the content store (blobs by digest)
 * and the layer store (unpacked layers by chain id), keeps image records, and frees blobs and
 * layers that no image, no container hold and no pull under way needs any more.
 *
 * <p>On disk under {@code <root>}: {@code content/}, {@code layers/}, {@code metadata/},
 * {@code holds/}.
 */
public final class ImageService implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ImageService.class);

    /** How pulls behave. */
    public record Settings(Duration progressTimeout, int maxConcurrentDownloads, Set<String> pinnedImages, RegistryClient.Settings registry) {
        public static Settings defaults() {
            return new Settings(Duration.ofMinutes(5), 3, Set.of(), RegistryClient.Settings.defaults());
        }
    }

    /** Bytes and inodes used by a filesystem area. */
    public record Usage(Path mountpoint, long bytes, long inodes) {
    }

    private final Path root;
    private final Settings settings;
    private final ContentStore content;
    private final LayerStore layers;
    private final ImageStore images;
    private final ImageHolds holds;
    private final RegistryClient client;
    private final CredentialStore credentials;
    private final ExecutorService downloads;
    private final ScheduledExecutorService watchdog;
    private final Set<PullProgress> pulls = ConcurrentHashMap.newKeySet();
    private final PullMetrics metrics = new PullMetrics();
    private final Object gcLock = new Object();
    /** Taken before the store's file lock (the file lock excludes other processes, this one other threads). */
    private final java.util.concurrent.locks.ReentrantLock storeLock = new java.util.concurrent.locks.ReentrantLock();
    private final Map<Digest, Integer> pullingBlobs = new HashMap<>();
    private final Map<Digest, Integer> pullingLayers = new HashMap<>();

    public ImageService(Path root, Settings settings, RegistryHosts hosts, CredentialStore credentials) {
        this.root = root;
        this.settings = settings;
        this.content = new ContentStore(root.resolve("content"));
        this.layers = new LayerStore(root.resolve("layers"));
        this.images = new ImageStore(root.resolve("metadata"));
        this.holds = new ImageHolds(root.resolve("holds"));
        this.client = new RegistryClient(hosts, settings.registry());
        this.credentials = credentials;
        AtomicInteger n = new AtomicInteger();
        this.downloads = Executors.newFixedThreadPool(Math.max(1, settings.maxConcurrentDownloads()), r -> {
            Thread t = new Thread(r, "berth-image-download-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        this.watchdog = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "berth-pull-watchdog");
            t.setDaemon(true);
            return t;
        });
        long period = Math.max(50, Math.min(1000, settings.progressTimeout().toMillis() / 4));
        watchdog.scheduleAtFixedRate(this::checkProgress, period, period, TimeUnit.MILLISECONDS);
        synchronized (gcLock) {
            sweep(); // what a crash during a removal left behind
        }
    }

    public Path root() {
        return root;
    }

    public PullMetrics metrics() {
        return metrics;
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
        List<ImageRecord> out = new ArrayList<>();
        for (ImageRecord r : images.list()) {
            out.add(withPin(r));
        }
        out.sort((a, b) -> a.id().compareTo(b.id()));
        return out;
    }

    private ImageRecord withPin(ImageRecord r) {
        if (r.pinned() || r.repoTags().stream().noneMatch(settings.pinnedImages()::contains)) {
            return r;
        }
        return r.withPinned(true);
    }

    /** The image an id, id prefix, tag, digest reference or plain name leads to. */
    public Optional<ImageRecord> find(String ref) {
        if (ref == null || ref.isEmpty()) {
            throw BerthException.invalidArgument("image reference is empty");
        }
        Optional<ImageRecord> r = findRaw(ref);
        return r.map(this::withPin);
    }

    private Optional<ImageRecord> findRaw(String ref) {
        if (ref.startsWith("sha256:") && Digest.isDigest(ref)) {
            return images.get(Digest.parse(ref));
        }
        if (ref.matches("[a-f0-9]{64}")) {
            return images.get(new Digest("sha256", ref));
        }
        Reference parsedOrNull = null;
        try {
            parsedOrNull = Reference.parse(ref);
        } catch (BerthException e) {
            if (!ref.matches("[a-f0-9]{4,63}")) {
                throw e;
            }
        }
        final Reference parsed = parsedOrNull;
        if (parsed != null) {
            if (parsed.digest() != null) {
                Optional<ImageRecord> r = images.byRepoDigest(parsed.digested());
                if (r.isPresent()) {
                    return r;
                }
                Optional<ImageRecord> byId = images.get(parsed.digest());
                if (byId.isPresent() && byId.get().repoDigests().stream().anyMatch(d -> d.startsWith(parsed.name() + "@"))) {
                    return byId;
                }
                return Optional.empty(); // a digest, when given, decides
            }
            Optional<ImageRecord> r = images.byTag(parsed.tagged());
            if (r.isPresent()) {
                return r;
            }
        }
        if (ref.matches("[a-f0-9]{4,63}")) {
            List<ImageRecord> matches = images.list().stream().filter(i -> i.id().hex().startsWith(ref)).toList();
            if (matches.size() == 1) {
                return Optional.of(matches.get(0));
            }
        }
        return Optional.empty();
    }

    public ImageRecord require(String ref) {
        return find(ref).orElseThrow(() -> BerthException.notFound("image %s not found", ref));
    }

    /** The image's config as stored (JSON). */
    public JsonNode config(ImageRecord r) {
        try {
            return Json.mapper().readTree(content.read(r.id()));
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

    // ---------------------------------------------------------------- holds

    /** Keeps the layers of {@code imageId} for container {@code containerId} (persisted) until {@link #release}. */
    public void hold(String containerId, Digest imageId) {
        ImageHolds.checkId(containerId);
        synchronized (gcLock) {
            ImageRecord r = images.get(imageId).orElseThrow(() -> BerthException.notFound("image %s not found", imageId));
            holds.put(new ImageHolds.Hold(containerId, imageId, r.chainIds()));
        }
    }

    /** Drops a container's hold (idempotent) and frees the layers nothing else needs. */
    public void release(String containerId) {
        ImageHolds.checkId(containerId);
        synchronized (gcLock) {
            if (holds.remove(containerId) != null) {
                sweep();
            }
        }
    }

    // ---------------------------------------------------------------- removal

    /** Removes the image a reference leads to, with its blobs and layers nobody else uses; an unknown image is not an error. */
    public void remove(String ref) {
        Optional<ImageRecord> r = findRaw(ref);
        if (r.isEmpty()) {
            return;
        }
        synchronized (gcLock) {
            images.remove(r.get().id());
            sweep();
        }
        LOG.info("removed image {} ({})", r.get().id(), r.get().repoTags());
    }

    /**
     * Runs {@code action} holding the store's file lock, which {@code berth image import} in
     * another process also takes, so a sweep never deletes what an import is adding.
     */
    private void underStoreLock(Runnable action) {
        storeLock.lock();
        try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(root.resolve("lock"),
                java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.WRITE);
             java.nio.channels.FileLock lock = ch.lock()) {
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

    private void pinWhilePulling(Set<Digest> blobs, Set<Digest> chains) {
        synchronized (gcLock) {
            blobs.forEach(b -> pullingBlobs.merge(b, 1, Integer::sum));
            chains.forEach(c -> pullingLayers.merge(c, 1, Integer::sum));
        }
    }

    private void unpin(Set<Digest> blobs, Set<Digest> chains) {
        synchronized (gcLock) {
            blobs.forEach(b -> pullingBlobs.computeIfPresent(b, (k, v) -> v == 1 ? null : v - 1));
            chains.forEach(c -> pullingLayers.computeIfPresent(c, (k, v) -> v == 1 ? null : v - 1));
            underStoreLock(() -> sweepLeftovers(blobs, chains));
        }
    }

    /** After a failed pull: drops what it stored that no image needs. */
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

    // ---------------------------------------------------------------- pulls

    /**
     * Pulls an image: resolves the reference (for this platform), stores and verifies every blob,
     * unpacks the layers, and records the image under the reference. Credentials, when empty,
     * come from the credentials file. Returns the image record.
     */
    public ImageRecord pull(String image, Credentials given, Map<String, String> annotations) {
        long start = System.nanoTime();
        try {
            ImageRecord r = doPull(image, given, annotations);
            metrics.pulled(System.nanoTime() - start);
            LOG.info("pulled {} as {} in {} ms", image, r.id(), (System.nanoTime() - start) / 1_000_000);
            return r;
        } catch (RuntimeException e) {
            metrics.failed();
            throw e;
        }
    }

    private ImageRecord doPull(String image, Credentials given, Map<String, String> annotations) {
        Reference ref = Reference.parse(image);
        Credentials creds = given == null || given.isEmpty() ? credentials.lookup(ref.registry()) : given;
        PullProgress progress = new PullProgress(ref, settings.progressTimeout());
        pulls.add(progress);
        try {
            return doPull(ref, creds, annotations, progress);
        } catch (RuntimeException e) {
            if (progress.stalled()) {
                Thread.interrupted();
                throw progress.cancelled();
            }
            throw e;
        } finally {
            pulls.remove(progress);
        }
    }

    private ImageRecord doPull(Reference ref, Credentials creds, Map<String, String> annotations, PullProgress progress) {
        PullMetrics.Stopwatch watch = metrics.stopwatch();
        RegistryClient.Resolved resolved;
        try (PullProgress.Reader reader = progress.reader("the manifest")) {
            resolved = client.resolve(ref, creds, in -> progress.watch(reader, in));
        }
        watch.lap(PullMetrics.Phase.RESOLVE);
        JsonNode manifest = resolved.manifest().json();
        Descriptor configDesc = Descriptor.fromJson(manifest.path("config"), "manifest of " + ref);
        List<Descriptor> layerDescs = new ArrayList<>();
        for (JsonNode l : manifest.path("layers")) {
            Descriptor d = Descriptor.fromJson(l, "manifest of " + ref);
            String mt = d.mediaType();
            // plain, gzip and zstd tars (compression is detected from the content); not encrypted layers
            if (!mt.isEmpty() && (!MediaTypes.isLayer(mt) || mt.contains("+encrypted"))) {
                throw BerthException.failedPrecondition("image %s has a layer of unsupported media type %s", ref, mt);
            }
            layerDescs.add(d);
        }
        progress.expect(configDesc.size() + layerDescs.stream().mapToLong(Descriptor::size).sum(), layerDescs.size());
        Set<Digest> blobs = new HashSet<>();
        blobs.add(resolved.manifest().digest());
        resolved.index().ifPresent(i -> blobs.add(i.digest()));
        blobs.add(configDesc.digest());
        layerDescs.forEach(d -> blobs.add(d.digest()));
        Set<Digest> chains = new HashSet<>();
        pinWhilePulling(blobs, chains);
        try {
            watch.restart();
            resolved.index().ifPresent(i -> content.put(i.descriptor(), i.bytes()));
            content.put(resolved.manifest().descriptor(), resolved.manifest().bytes());
            fetchBlob(ref, configDesc, creds, "config", progress);
            JsonNode config;
            try {
                config = Json.mapper().readTree(content.read(configDesc.digest()));
            } catch (IOException e) {
                throw BerthException.failedPrecondition("registry %s: config of %s is not valid JSON", ref.registry(), ref);
            }
            List<Digest> diffIds = new ArrayList<>();
            for (JsonNode d : config.path("rootfs").path("diff_ids")) {
                diffIds.add(Digest.parse(d.asText()));
            }
            if (diffIds.size() != layerDescs.size()) {
                throw BerthException.failedPrecondition("image %s: its config lists %d layers but its manifest %d", ref, diffIds.size(), layerDescs.size());
            }
            watch.lap(PullMetrics.Phase.CONFIG);
            List<Digest> chainIds = LayerStore.chainIds(diffIds);
            Set<Digest> chainSet = new HashSet<>(chainIds);
            pinWhilePulling(Set.of(), chainSet);
            chains.addAll(chainSet);
            List<Future<?>> tasks = new ArrayList<>();
            java.util.concurrent.atomic.AtomicBoolean abort = new java.util.concurrent.atomic.AtomicBoolean();
            java.util.concurrent.FutureTask<Void> here = null;
            for (int i = 0; i < layerDescs.size(); i++) {
                Descriptor d = layerDescs.get(i);
                Digest chain = chainIds.get(i);
                Digest diff = diffIds.get(i);
                java.util.concurrent.FutureTask<Void> task = new java.util.concurrent.FutureTask<>(() -> {
                    if (abort.get()) {
                        return null; // another layer of this pull failed
                    }
                    ensureLayer(ref, d, chain, diff, creds, progress);
                    progress.layerDone();
                    return null;
                });
                tasks.add(task);
                if (i == layerDescs.size() - 1) {
                    here = task; // the pull's own thread takes one layer: no hand-off for a one-layer image
                } else {
                    downloads.execute(task);
                }
            }
            if (here != null) {
                here.run();
            }
            awaitAll(tasks, abort);
            String user = config.path("config").path("User").asText("");
            Object[] u = ImageRecord.parseUser(user);
            long size = configDesc.size() + resolved.manifest().bytes().length + layerDescs.stream().mapToLong(Descriptor::size).sum();
            List<String> tags = ref.tag() != null ? List.of(ref.tagged()) : List.of();
            List<String> digests = List.of(ref.name() + "@" + resolved.topDigest());
            ImageRecord record = new ImageRecord(configDesc.digest(), tags, digests, size, resolved.manifest().digest(),
                    resolved.manifest().mediaType(), resolved.index().map(RegistryClient.Fetched::digest).orElse(null),
                    layerDescs.stream().map(Descriptor::digest).toList(), diffIds, chainIds, user, (Long) u[0], (String) u[1],
                    false, annotations == null ? Map.of() : annotations, System.currentTimeMillis());
            watch.restart();
            // the record is written ahead, so that one filesystem sync makes it durable with the content it names
            ImageStore.Staged staged = images.stage(record);
            try {
                Durability.syncFilesystemOf(root);
                watch.lap(PullMetrics.Phase.SYNC);
                synchronized (gcLock) {
                    ImageRecord stored = images.put(record, staged);
                    watch.lap(PullMetrics.Phase.RECORD);
                    return stored;
                }
            } finally {
                images.discard(staged);
            }
        } finally {
            watch.restart();
            unpin(blobs, chains);
            watch.lap(PullMetrics.Phase.CLEANUP);
        }
    }

    /**
     * Waits for every layer task. After a failure the tasks not yet started are skipped and
     * the running ones are let finish (not interrupted: another pull may be waiting on the same
     * blob or layer), so nothing of this pull is still writing when it returns.
     */
    private static void awaitAll(List<Future<?>> tasks, java.util.concurrent.atomic.AtomicBoolean abort) {
        RuntimeException failure = null;
        boolean interrupted = false;
        for (Future<?> f : tasks) {
            while (true) {
                try {
                    f.get();
                    break;
                } catch (ExecutionException e) {
                    if (failure == null) {
                        failure = e.getCause() instanceof RuntimeException re ? re : BerthException.internal("layer download failed", e.getCause());
                        abort.set(true);
                    }
                    break;
                } catch (InterruptedException e) {
                    interrupted = true;
                    abort.set(true);
                    if (failure == null) {
                        failure = new BerthException(BerthException.Kind.CANCELLED, "pull interrupted");
                    }
                }
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        if (failure != null) {
            throw failure;
        }
    }

    /** A layer of an image being imported from a file. */
    public record LocalLayer(Descriptor descriptor, Path file) {
    }

    /**
     * Imports an image whose blobs are local files (an OCI layout or {@code docker save}
     * archive): every blob is verified against its digest, layers are unpacked, and the
     * image is recorded under {@code tags}. Holds the store's file lock throughout, so a
     * daemon sharing the store does not sweep what is being added.
     */
    public ImageRecord importImage(byte[] manifest, String manifestMediaType, Descriptor configDesc, Path configFile,
                                   List<LocalLayer> localLayers, List<String> tags) {
        Descriptor manifestDesc = Descriptor.of(manifestMediaType, Digest.sha256(manifest), manifest.length);
        Set<Digest> blobs = new HashSet<>();
        blobs.add(manifestDesc.digest());
        blobs.add(configDesc.digest());
        localLayers.forEach(l -> blobs.add(l.descriptor().digest()));
        Set<Digest> chains = new HashSet<>();
        ImageRecord[] out = new ImageRecord[1];
        pinWhilePulling(blobs, chains);
        try {
            underStoreLock(() -> {
                content.put(manifestDesc, manifest);
                content.ensure(configDesc, () -> Files.newInputStream(configFile), n -> { });
                JsonNode config;
                try {
                    config = Json.mapper().readTree(content.read(configDesc.digest()));
                } catch (IOException e) {
                    throw BerthException.invalidArgument("image config %s is not valid JSON", configDesc.digest());
                }
                List<Digest> diffIds = new ArrayList<>();
                for (JsonNode d : config.path("rootfs").path("diff_ids")) {
                    diffIds.add(Digest.parse(d.asText()));
                }
                if (diffIds.size() != localLayers.size()) {
                    throw BerthException.invalidArgument("image config %s lists %d layers, the archive %d", configDesc.digest(), diffIds.size(), localLayers.size());
                }
                // no sweep can run while the store lock is held: the chain ids need no pin
                List<Digest> chainIds = LayerStore.chainIds(diffIds);
                chains.addAll(chainIds);
                for (int i = 0; i < localLayers.size(); i++) {
                    LocalLayer l = localLayers.get(i);
                    Path blob = content.ensure(l.descriptor(), () -> Files.newInputStream(l.file()), n -> { });
                    layers.ensure(chainIds.get(i), diffIds.get(i), () -> Files.newInputStream(blob));
                }
                String user = config.path("config").path("User").asText("");
                Object[] u = ImageRecord.parseUser(user);
                long size = configDesc.size() + manifest.length + localLayers.stream().mapToLong(l -> l.descriptor().size()).sum();
                ImageRecord record = new ImageRecord(configDesc.digest(), tags, List.of(), size, manifestDesc.digest(), manifestMediaType, null,
                        localLayers.stream().map(l -> l.descriptor().digest()).toList(), diffIds, chainIds, user, (Long) u[0], (String) u[1],
                        false, Map.of(), System.currentTimeMillis());
                Durability.syncFilesystemOf(root);
                out[0] = images.put(record);
            });
        } finally {
            unpin(blobs, chains);
        }
        return out[0];
    }

    private void checkProgress() {
        long now = System.nanoTime();
        for (PullProgress p : pulls) {
            try {
                p.check(now);
            } catch (RuntimeException e) {
                LOG.warn("pull watchdog: {}", e.toString());
            }
        }
    }

    /**
     * Makes sure a layer is unpacked: its blob is downloaded (verified as it streams into the
     * content store) and then unpacked from the stored file. (Unpacking while downloading was
     * measured no faster here: inflating dominates, and the two compete for the cores.)
     */
    private void ensureLayer(Reference ref, Descriptor d, Digest chain, Digest diff, Credentials creds, PullProgress progress) {
        if (layers.has(chain)) {
            progress.blob(d.digest(), d.size());
            return;
        }
        PullMetrics.Stopwatch watch = metrics.stopwatch();
        Path blob = fetchBlob(ref, d, creds, "layer", progress);
        watch.lap(PullMetrics.Phase.LAYER_FETCH);
        layers.ensure(chain, diff, () -> Files.newInputStream(blob));
        watch.lap(PullMetrics.Phase.LAYER_UNPACK);
    }

    private static void sleepBeforeRetry(Reference ref, Duration delay) {
        try {
            Thread.sleep(delay.toMillis());
        } catch (InterruptedException ie) {
            Thread.currentThread().interrupt();
            throw new BerthException(BerthException.Kind.CANCELLED, "pull of " + ref + " interrupted");
        }
    }

    private Path fetchBlob(Reference ref, Descriptor d, Credentials creds, String what, PullProgress progress) {
        if (content.has(d.digest())) {
            progress.blob(d.digest(), d.size());
            return content.path(d.digest());
        }
        String name = what + " " + d.digest();
        Duration delay = settings.registry().backoff();
        for (int attempt = 1; ; attempt++) {
            long[] counted = {0};
            try (PullProgress.Reader reader = progress.reader(name)) {
                Path p = content.ensure(d, () -> progress.watch(reader, client.openBlob(ref, d, creds)), done -> {
                    metrics.downloaded(done - counted[0]);
                    counted[0] = done;
                    progress.blob(d.digest(), done);
                });
                progress.blob(d.digest(), d.size());
                return p;
            } catch (BerthException e) {
                if (progress.stalled()) {
                    throw progress.cancelled();
                }
                if (e.kind() == BerthException.Kind.UNAVAILABLE && attempt < settings.registry().attempts()) {
                    LOG.info("pulling {}: {} failed ({}), retrying", ref, name, e.getMessage());
                    sleepBeforeRetry(ref, delay);
                    delay = delay.multipliedBy(2);
                    continue;
                }
                if (e.getMessage().startsWith("registry ")) {
                    throw e;
                }
                throw new BerthException(e.kind(), "registry " + ref.registry() + ": " + what + " of " + ref + ": " + e.getMessage(), e);
            }
        }
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
        downloads.shutdownNow();
        watchdog.shutdownNow();
    }
}
