package dev.berth.images;

import com.fasterxml.jackson.databind.JsonNode;
import dev.berth.common.BerthException;
import dev.berth.common.StepTimer;
import dev.berth.images.content.ContentStore;
import dev.berth.images.content.Descriptor;
import dev.berth.images.layer.Durability;
import dev.berth.images.layer.LayerStore;
import dev.berth.images.layer.UnpackLimits;
import dev.berth.images.reference.Digest;
import dev.berth.images.reference.Reference;
import dev.berth.images.registry.CredentialStore;
import dev.berth.images.registry.Credentials;
import dev.berth.images.registry.MediaTypes;
import dev.berth.images.registry.RegistryClient;
import dev.berth.images.store.ImageRecord;
import dev.berth.images.store.ImageStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.IntConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Pulls images from registries: resolves the reference, downloads the blobs on a bounded pool
 * (the pull's own thread takes one layer), verifies and unpacks them, and records the image.
 * A watchdog cancels a pull that makes no progress for the configured time; what a failed pull
 * stored is swept unless something else needs it.
 */
final class ImagePuller implements AutoCloseable {
    /** Logs under the facade's name, as pulls always have (operators filter on it). */
    private static final Logger LOG = LoggerFactory.getLogger(ImageService.class);

    private final Path root;
    private final ImageService.Settings settings;
    private final ContentStore content;
    private final LayerStore layers;
    private final ImageStore images;
    private final ImageGc gc;
    private final RegistryClient client;
    private final CredentialStore credentials;
    private final PullMetrics metrics;
    private final ExecutorService downloads;
    private final ScheduledExecutorService watchdog;
    private final Set<PullProgress> pulls = ConcurrentHashMap.newKeySet();
    private final ActivePulls active;

    ImagePuller(Path root, ImageService.Settings settings, ContentStore content, LayerStore layers, ImageStore images, ImageGc gc,
            RegistryClient client, CredentialStore credentials, PullMetrics metrics, ActivePulls active) {
        this.root = root;
        this.active = active;
        this.settings = settings;
        this.content = content;
        this.layers = layers;
        this.images = images;
        this.gc = gc;
        this.client = client;
        this.credentials = credentials;
        this.metrics = metrics;
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
    }

    /**
     * Pulls an image: resolves the reference (for this platform), stores and verifies every blob,
     * unpacks the layers, and records the image under the reference. Credentials, when empty,
     * come from the credentials file. Returns the image record.
     */
    ImageRecord pull(String image, Credentials given, Map<String, String> annotations, PullCancellation cancellation) {
        long start = System.nanoTime();
        try {
            ImageRecord r = doPull(image, given, annotations, cancellation);
            metrics.pulled(System.nanoTime() - start);
            LOG.info("pulled {} as {} in {} ms", image, r.id(), (System.nanoTime() - start) / 1_000_000);
            return r;
        } catch (RuntimeException e) {
            metrics.failed();
            throw e;
        }
    }

    private ImageRecord doPull(String image, Credentials given, Map<String, String> annotations, PullCancellation cancellation) {
        Reference ref = Reference.parse(image);
        Credentials creds = given == null || given.isEmpty() ? credentials.lookup(ref.registry()) : given;
        PullProgress progress = new PullProgress(ref, settings.progressTimeout());
        pulls.add(progress);
        boolean shown = active.add(progress);
        cancellation.onCancel(progress::cancelByCaller);
        RuntimeException failure = null;
        try {
            if (Thread.currentThread().isInterrupted()) {
                progress.cancelByCaller();
            }
            return doPull(ref, creds, annotations, progress);
        } catch (RuntimeException e) {
            failure = e;
            if (progress.stopped()) {
                Thread.interrupted();
                failure = progress.cancelled();
            }
            throw failure;
        } finally {
            pulls.remove(progress);
            progress.end(failure);
            if (shown) {
                active.remove(progress);
            }
        }
    }

    private ImageRecord doPull(Reference ref, Credentials creds, Map<String, String> annotations, PullProgress progress) {
        PullMetrics.Stopwatch watch = metrics.stopwatch();
        StepTimer timer = new StepTimer(LOG.isDebugEnabled());
        try {
            return doPull(ref, creds, annotations, progress, watch, timer);
        } finally {
            LOG.debug("pull of {} (wall/cpu): {}", ref, timer.summary());
        }
    }

    private ImageRecord doPull(Reference ref, Credentials creds, Map<String, String> annotations, PullProgress progress,
            PullMetrics.Stopwatch watch, StepTimer timer) {
        RegistryClient.Resolved resolved;
        try (PullProgress.Reader reader = progress.reader("the manifest")) {
            resolved = client.resolve(ref, creds, in -> progress.watch(reader, in));
        }
        watch.lap(PullMetrics.Phase.RESOLVE);
        timer.mark("resolve");
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
        NewImage.checkConfigSize(configDesc, why -> BerthException.failedPrecondition("image %s: %s", ref, why));
        progress.expect(configDesc.size() + layerDescs.stream().mapToLong(Descriptor::size).sum(), layerDescs);
        Set<Digest> blobs = new HashSet<>();
        blobs.add(resolved.manifest().digest());
        resolved.index().ifPresent(i -> blobs.add(i.digest()));
        blobs.add(configDesc.digest());
        layerDescs.forEach(d -> blobs.add(d.digest()));
        Set<Digest> chains = new HashSet<>();
        gc.pin(blobs, chains);
        timer.mark("pin");
        FirstLayer first = null;
        try {
            watch.restart();
            resolved.index().ifPresent(i -> content.put(i.descriptor(), i.bytes()));
            content.put(resolved.manifest().descriptor(), resolved.manifest().bytes());
            timer.mark("store manifest");
            first = startFirstLayer(ref, layerDescs, creds, progress);
            fetchBlob(ref, configDesc, creds, "config", progress);
            NewImage image = NewImage.fromStoredConfig(content, configDesc, layerDescs.size(),
                    () -> BerthException.failedPrecondition("registry %s: config of %s is not valid JSON", ref.registry(), ref),
                    (diffIds, manifestLayers) -> BerthException.failedPrecondition("image %s: its config lists %d layers but its manifest %d",
                            ref, diffIds, manifestLayers));
            watch.lap(PullMetrics.Phase.CONFIG);
            timer.mark("config");
            List<Digest> diffIds = image.diffIds();
            List<Digest> chainIds = image.chainIds();
            Set<Digest> chainSet = new HashSet<>(chainIds);
            gc.pin(Set.of(), chainSet);
            chains.addAll(chainSet);
            UnpackLimits.Budget budget = settings.unpack().budget(progress::stopped);
            List<Runnable> jobs = new ArrayList<>();
            for (int i = 0; i < layerDescs.size(); i++) {
                Descriptor d = layerDescs.get(i);
                Digest chain = chainIds.get(i);
                Digest diff = diffIds.get(i);
                jobs.add(() -> {
                    ensureLayer(ref, d, chain, diff, creds, progress, budget);
                    progress.layerDone();
                });
            }
            runLayers(jobs, progress, first);
            timer.mark("layers");
            List<String> tags = ref.tag() != null ? List.of(ref.tagged()) : List.of();
            List<String> digests = List.of(ref.name() + "@" + resolved.topDigest());
            ImageRecord record = image.record(tags, digests, resolved.manifest().digest(), resolved.manifest().bytes().length,
                    resolved.manifest().mediaType(), resolved.index().map(RegistryClient.Fetched::digest).orElse(null), layerDescs, annotations);
            watch.restart();
            // the record is written ahead, so that one filesystem sync makes it durable with the content it names
            ImageStore.Staged staged = images.stage(record);
            timer.mark("stage record");
            try {
                Durability.syncFilesystemOf(root);
                watch.lap(PullMetrics.Phase.SYNC);
                timer.mark("sync");
                return gc.locked(() -> {
                    ImageRecord stored = images.put(record, staged);
                    watch.lap(PullMetrics.Phase.RECORD);
                    timer.mark("record");
                    return stored;
                });
            } finally {
                images.discard(staged);
            }
        } finally {
            watch.restart();
            if (first != null) {
                first.finish(progress); // nothing of this pull still writes once its pins are dropped
            }
            gc.unpin(blobs, chains);
            watch.lap(PullMetrics.Phase.CLEANUP);
            timer.mark("unpin");
        }
    }

    /**
     * Runs a pull's layer jobs: on the pull's own thread, helped by at most
     * {@code maxConcurrentDownloads} tasks on the shared download pool. A helper does one layer
     * and queues itself again at the back of the pool, so pulls share the pool in turns: a pull
     * of many layers cannot hold every thread while others wait, and every pull progresses on
     * its own thread. After a failure, or once the pull is stopped, layers not yet begun are
     * skipped; the ones running stop at their next check (a stopped pull) or finish, so nothing
     * of this pull is still writing when this returns. An interrupt of the pull's thread
     * cancels the pull.
     */
    private void runLayers(List<Runnable> jobs, PullProgress progress, FirstLayer first) {
        int n = jobs.size();
        // the first layer's job goes to its task when that began (it downloads the blob); else it is done here
        int start = first != null && first.handOver(jobs.get(0)) ? 1 : 0;
        AtomicInteger next = new AtomicInteger(start);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        List<CompletableFuture<Void>> done = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            done.add(i < start ? first.done : new CompletableFuture<>());
        }
        IntConsumer runOne = i -> {
            try {
                if (failure.get() == null && !progress.stopped()) {
                    jobs.get(i).run();
                }
            } catch (Throwable t) {
                failure.compareAndSet(null, t);
            } finally {
                done.get(i).complete(null);
            }
        };
        Runnable helper = new Runnable() {
            @Override
            public void run() {
                int i = next.getAndIncrement();
                if (i >= n) {
                    return;
                }
                runOne.accept(i);
                if (next.get() < n) {
                    submit(this);
                }
            }
        };
        for (int h = 0; h < Math.min(n - start - 1, Math.max(1, settings.maxConcurrentDownloads())); h++) {
            submit(helper);
        }
        int i;
        while ((i = next.getAndIncrement()) < n) {
            runOne.accept(i);
        }
        boolean interrupted = false;
        for (CompletableFuture<Void> f : done) {
            while (true) {
                try {
                    f.get();
                    break;
                } catch (InterruptedException e) {
                    interrupted = true;
                    progress.cancelByCaller(); // the helpers stop at their next check; wait for them
                } catch (ExecutionException e) {
                    break; // never: the futures complete normally
                }
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        if (start > 0 && first.failure != null) {
            failure.compareAndSet(null, first.failure);
        }
        if (progress.stopped()) {
            throw progress.cancelled();
        }
        Throwable t = failure.get();
        if (t instanceof RuntimeException re) {
            throw re;
        }
        if (t instanceof Error err) {
            throw err;
        }
        if (t != null) {
            throw BerthException.internal("layer download failed", t);
        }
    }

    /**
     * The first layer's job, begun on the download pool before the config is known, so that
     * the config's round trip and the layer's download overlap: the task downloads the blob
     * (verified into the content store), then waits for the job (which needs the chain id the
     * config gives) and runs it. A task still queued when the job is due is taken back, and the
     * pull's own thread does the job as it would have: a pull never waits for a pool thread.
     */
    private final class FirstLayer implements Runnable {
        private static final int FREE = 0;
        private static final int TASK = 1;
        private static final int PULL = 2;
        private final Reference ref;
        private final Descriptor d;
        private final Credentials creds;
        private final PullProgress progress;
        private final AtomicInteger owner = new AtomicInteger(FREE);
        private final java.util.concurrent.atomic.AtomicBoolean abandoned = new java.util.concurrent.atomic.AtomicBoolean();
        private final CompletableFuture<Runnable> job = new CompletableFuture<>();
        final CompletableFuture<Void> done = new CompletableFuture<>();
        volatile Throwable failure;

        FirstLayer(Reference ref, Descriptor d, Credentials creds, PullProgress progress) {
            this.ref = ref;
            this.d = d;
            this.creds = creds;
            this.progress = progress;
        }

        @Override
        public void run() {
            if (!owner.compareAndSet(FREE, TASK)) {
                return; // the pull's thread took the job back
            }
            try {
                try {
                    fetchBlob(ref, d, creds, "layer", progress, abandoned::get);
                } catch (RuntimeException e) {
                    // the job fetches it again and reports what fails
                }
                Runnable j = job.join(); // null: the pull failed before its layers
                if (j != null && !progress.stopped()) {
                    j.run();
                }
            } catch (Throwable t) {
                failure = t;
            } finally {
                done.complete(null);
            }
        }

        /** Gives the task the job, and true, when the task began; false when the pull's thread is to do it. */
        boolean handOver(Runnable j) {
            if (owner.compareAndSet(FREE, PULL)) {
                return false;
            }
            job.complete(j);
            return true;
        }

        /** Ends the task: a job not handed over is dropped, a download under way stops; waits until the task is done. */
        void finish(PullProgress p) {
            job.complete(null);
            abandoned.set(true);
            if (owner.compareAndSet(FREE, PULL) || owner.get() == PULL) {
                return;
            }
            boolean interrupted = false;
            while (true) {
                try {
                    done.get();
                    break;
                } catch (InterruptedException e) {
                    interrupted = true;
                    p.cancelByCaller();
                } catch (ExecutionException e) {
                    break; // never: completes normally
                }
            }
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /**
     * Starts the first layer's job ({@link FirstLayer}) when its blob is to be downloaded: not
     * when the blob is stored, nor when a layer already in the store may be its unpacked form
     * ({@link ImageGc#mayHaveUnpacked}; a layer kept, e.g. by a container, is never downloaded
     * again). Null when not started.
     */
    private FirstLayer startFirstLayer(Reference ref, List<Descriptor> layerDescs, Credentials creds, PullProgress progress) {
        if (layerDescs.isEmpty()) {
            return null;
        }
        Descriptor d = layerDescs.get(0);
        if (content.has(d.digest()) || gc.mayHaveUnpacked(d.digest())) {
            return null;
        }
        FirstLayer f = new FirstLayer(ref, d, creds, progress);
        try {
            downloads.execute(f);
        } catch (java.util.concurrent.RejectedExecutionException e) {
            return null; // shutting down: the pull's thread does it
        }
        return f;
    }

    private void submit(Runnable helper) {
        try {
            downloads.execute(helper);
        } catch (java.util.concurrent.RejectedExecutionException e) {
            // shutting down: the pull's own thread does what is left
        }
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
    private void ensureLayer(Reference ref, Descriptor d, Digest chain, Digest diff, Credentials creds, PullProgress progress,
            UnpackLimits.Budget budget) {
        if (layers.has(chain)) {
            LayerStore.Layer l = layers.get(chain);
            budget.chargeLayer(l.bytes(), l.inodes());
            progress.blob(d.digest(), d.size());
            progress.state(d.digest(), ActivePulls.LayerState.EXISTS);
            return;
        }
        PullMetrics.Stopwatch watch = metrics.stopwatch();
        StepTimer timer = new StepTimer(LOG.isDebugEnabled());
        Path blob = fetchBlob(ref, d, creds, "layer", progress);
        watch.lap(PullMetrics.Phase.LAYER_FETCH);
        timer.mark("fetch");
        progress.state(d.digest(), ActivePulls.LayerState.EXTRACTING);
        layers.ensure(chain, diff, () -> Files.newInputStream(blob), budget);
        progress.state(d.digest(), ActivePulls.LayerState.DONE);
        watch.lap(PullMetrics.Phase.LAYER_UNPACK);
        timer.mark("unpack");
        LOG.debug("pull of {}: layer {} (wall/cpu): {}", ref, d.digest(), timer.summary());
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
        return fetchBlob(ref, d, creds, what, progress, () -> false);
    }

    /** As {@link #fetchBlob(Reference, Descriptor, Credentials, String, PullProgress)}; once {@code abandoned} says so, the download stops (CANCELLED). */
    private Path fetchBlob(Reference ref, Descriptor d, Credentials creds, String what, PullProgress progress,
            java.util.function.BooleanSupplier abandoned) {
        if (content.has(d.digest())) {
            progress.blob(d.digest(), d.size());
            return content.path(d.digest());
        }
        String name = what + " " + d.digest();
        Duration delay = settings.registry().backoff();
        for (int attempt = 1; ; attempt++) {
            long[] counted = {0};
            try (PullProgress.Reader reader = progress.reader(name)) {
                progress.state(d.digest(), ActivePulls.LayerState.DOWNLOADING);
                Path p = content.ensure(d, () -> abandonable(progress.watch(reader, client.openBlob(ref, d, creds)), abandoned), done -> {
                    metrics.downloaded(done - counted[0]);
                    counted[0] = done;
                    progress.blob(d.digest(), done);
                });
                progress.blob(d.digest(), d.size());
                return p;
            } catch (BerthException e) {
                if (progress.stopped()) {
                    throw progress.cancelled();
                }
                if (e.kind() == BerthException.Kind.UNAVAILABLE && attempt < settings.registry().attempts()) {
                    LOG.info("pulling {}: {} failed ({}), retrying", ref, name, e.getMessage());
                    sleepBeforeRetry(ref, delay);
                    delay = delay.multipliedBy(2);
                    continue;
                }
                if (e.getMessage().startsWith("registry ") || BerthException.isNoSpace(e)) {
                    throw e; // a full store is not the registry's doing
                }
                throw new BerthException(e.kind(), "registry " + ref.registry() + ": " + what + " of " + ref + ": " + e.getMessage(), e);
            }
        }
    }

    /** {@code in}, failing its next read with an {@link java.io.InterruptedIOException} (a cancelled download) once {@code abandoned}. */
    private static java.io.InputStream abandonable(java.io.InputStream in, java.util.function.BooleanSupplier abandoned) {
        return new java.io.FilterInputStream(in) {
            @Override
            public int read() throws java.io.IOException {
                check();
                return super.read();
            }

            @Override
            public int read(byte[] b, int off, int len) throws java.io.IOException {
                check();
                return super.read(b, off, len);
            }

            private void check() throws java.io.InterruptedIOException {
                if (abandoned.getAsBoolean()) {
                    throw new java.io.InterruptedIOException("the pull no longer needs this blob");
                }
            }
        };
    }

    @Override
    public void close() {
        downloads.shutdownNow();
        watchdog.shutdownNow();
    }
}
