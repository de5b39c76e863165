package dev.berth.criserver.cri;

import dev.berth.criserver.grpc.CriRegistry;
import dev.berth.common.BerthException;
import dev.berth.common.Json;
import dev.berth.cri.v1.AuthConfig;
import dev.berth.cri.v1.FilesystemIdentifier;
import dev.berth.cri.v1.FilesystemUsage;
import dev.berth.cri.v1.Image;
import dev.berth.cri.v1.ImageFsInfoRequest;
import dev.berth.cri.v1.ImageFsInfoResponse;
import dev.berth.cri.v1.ImageServiceGrpc;
import dev.berth.cri.v1.ImageSpec;
import dev.berth.cri.v1.ImageStatusRequest;
import dev.berth.cri.v1.ImageStatusResponse;
import dev.berth.cri.v1.Int64Value;
import dev.berth.cri.v1.ListImagesRequest;
import dev.berth.cri.v1.ListImagesResponse;
import dev.berth.cri.v1.PullImageRequest;
import dev.berth.cri.v1.PullImageResponse;
import dev.berth.cri.v1.RemoveImageRequest;
import dev.berth.cri.v1.RemoveImageResponse;
import dev.berth.cri.v1.StreamImagesRequest;
import dev.berth.cri.v1.StreamImagesResponse;
import dev.berth.cri.v1.UInt64Value;
import dev.berth.images.ImageService;
import dev.berth.images.registry.Credentials;
import dev.berth.images.store.ImageRecord;
import io.grpc.stub.StreamObserver;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import io.grpc.Context;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.FutureTask;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The CRI ImageService: ListImages, StreamImages, ImageStatus, PullImage, RemoveImage and
 * ImageFsInfo, translated to and from berth's image store. Pulls run on threads of their own
 * so that a slow registry never holds a gRPC thread: at most {@code maxConcurrentPulls} at
 * once, as many more queued, any further one answered RESOURCE_EXHAUSTED. A pull whose caller
 * cancels or whose deadline passes is cancelled too: a queued one never starts, a running one
 * is interrupted, and its thread is free for the next.
 */
public final class ImageRpcs implements CriRegistry.Feature {
    private static final int STREAM_BATCH = 100;
    public static final int DEFAULT_MAX_CONCURRENT_PULLS = 8;

    /** What a pull does: {@link ImageService#pull}, or a stand-in in tests. */
    @FunctionalInterface
    interface Puller {
        ImageRecord pull(String ref, Credentials creds, java.util.Map<String, String> annotations);
    }

    private final ImageService images;
    private final Puller puller;
    private final Path containersDir;
    private final ThreadPoolExecutor pulls;

    /** {@code containersDir} holds the containers' writable layers (reported by ImageFsInfo). */
    public ImageRpcs(ImageService images, Path containersDir) {
        this(images, containersDir, DEFAULT_MAX_CONCURRENT_PULLS);
    }

    public ImageRpcs(ImageService images, Path containersDir, int maxConcurrentPulls) {
        this(images, images::pull, containersDir, maxConcurrentPulls);
    }

    ImageRpcs(ImageService images, Puller puller, Path containersDir, int maxConcurrentPulls) {
        this.images = images;
        this.puller = puller;
        this.containersDir = containersDir;
        AtomicInteger n = new AtomicInteger();
        this.pulls = new ThreadPoolExecutor(maxConcurrentPulls, maxConcurrentPulls, 1, TimeUnit.MINUTES,
                new ArrayBlockingQueue<>(maxConcurrentPulls), r -> {
                    Thread t = new Thread(r, "berth-pull-" + n.incrementAndGet());
                    t.setDaemon(true);
                    return t;
                });
        this.pulls.allowCoreThreadTimeOut(true);
    }

    /** Pulls running or queued (for tests and metrics). */
    int pullsInProgress() {
        return pulls.getActiveCount() + pulls.getQueue().size();
    }

    @Override
    public void register(CriRegistry registry) {
        registry.unary(ImageServiceGrpc.getListImagesMethod(), this::listImages);
        registry.serverStreaming(ImageServiceGrpc.getStreamImagesMethod(), this::streamImages);
        registry.unary(ImageServiceGrpc.getImageStatusMethod(), this::imageStatus);
        registry.asyncUnary(ImageServiceGrpc.getPullImageMethod(), this::pullImage);
        registry.unary(ImageServiceGrpc.getRemoveImageMethod(), this::removeImage);
        registry.unary(ImageServiceGrpc.getImageFsInfoMethod(), this::imageFsInfo);
        if (images != null) {
            new PullProgressRpcs(images.activePulls()).register(registry); // the pulls' progress, beside PullImage
        }
    }

    private List<ImageRecord> filtered(String filter) {
        if (filter.isEmpty()) {
            return images.list();
        }
        Optional<ImageRecord> r;
        try {
            r = images.find(filter);
        } catch (BerthException e) {
            return List.of(); // a filter that is no reference matches nothing
        }
        return r.map(List::of).orElse(List.of());
    }

    private ListImagesResponse listImages(ListImagesRequest request) {
        ListImagesResponse.Builder b = ListImagesResponse.newBuilder();
        for (ImageRecord r : filtered(request.getFilter().getImage().getImage())) {
            b.addImages(toCri(r));
        }
        return b.build();
    }

    private void streamImages(StreamImagesRequest request, StreamObserver<StreamImagesResponse> out) {
        List<ImageRecord> all = filtered(request.getFilter().getImage().getImage());
        StreamImagesResponse.Builder batch = StreamImagesResponse.newBuilder();
        for (ImageRecord r : all) {
            batch.addImages(toCri(r));
            if (batch.getImagesCount() == STREAM_BATCH) {
                out.onNext(batch.build());
                batch = StreamImagesResponse.newBuilder();
            }
        }
        if (batch.getImagesCount() > 0) {
            out.onNext(batch.build());
        }
        out.onCompleted();
    }

    private ImageStatusResponse imageStatus(ImageStatusRequest request) {
        String ref = request.getImage().getImage();
        if (ref.isEmpty()) {
            throw BerthException.invalidArgument("ImageStatus: image is empty");
        }
        Optional<ImageRecord> r = images.find(ref);
        if (r.isEmpty()) {
            return ImageStatusResponse.getDefaultInstance(); // the kubelet reads "no image" as "not present"
        }
        ImageStatusResponse.Builder b = ImageStatusResponse.newBuilder().setImage(toCri(r.get()));
        if (request.getVerbose()) {
            b.putInfo("info", Json.write(images.verboseInfo(r.get())));
        }
        return b.build();
    }

    private void pullImage(PullImageRequest request, StreamObserver<PullImageResponse> out) {
        String ref = request.getImage().getImage();
        if (ref.isEmpty()) {
            throw BerthException.invalidArgument("PullImage: image is empty");
        }
        Credentials creds = credentials(request.getAuth());
        FutureTask<Void> pull = new FutureTask<>(() -> {
            try {
                ImageRecord r = puller.pull(ref, creds, request.getImage().getAnnotationsMap());
                out.onNext(PullImageResponse.newBuilder().setImageRef(r.id().toString()).build());
                out.onCompleted();
            } catch (io.grpc.StatusRuntimeException cancelled) {
                // the call was cancelled meanwhile: nobody to answer
            } catch (Throwable t) {
                try {
                    out.onError(dev.berth.criserver.grpc.GrpcErrors.toStatusException(t));
                } catch (RuntimeException cancelled) {
                    // the call was cancelled meanwhile
                }
            }
            return null;
        });
        try {
            pulls.execute(pull);
        } catch (RejectedExecutionException e) {
            throw BerthException.resourceExhausted("PullImage %s: %d pulls are running and %d queued; retry later", ref,
                    pulls.getMaximumPoolSize(), pulls.getQueue().size());
        }
        // the caller went away or its deadline passed: nobody waits for this pull any more
        Context.current().addListener(context -> {
            if (pull.cancel(true)) {
                pulls.remove(pull);
            }
        }, Runnable::run);
    }

    private static Credentials credentials(AuthConfig a) {
        return Credentials.of(a.getUsername(), a.getPassword(), a.getAuth(), a.getIdentityToken(), a.getRegistryToken());
    }

    private RemoveImageResponse removeImage(RemoveImageRequest request) {
        String ref = request.getImage().getImage();
        if (ref.isEmpty()) {
            throw BerthException.invalidArgument("RemoveImage: image is empty");
        }
        images.remove(ref);
        return RemoveImageResponse.getDefaultInstance();
    }

    private ImageFsInfoResponse imageFsInfo(ImageFsInfoRequest request) {
        long now = System.currentTimeMillis() * 1_000_000L;
        ImageService.Usage image = images.usage();
        ImageService.Usage containers = ImageService.usageOf(containersDir);
        return ImageFsInfoResponse.newBuilder()
                .addImageFilesystems(usage(now, image))
                .addContainerFilesystems(usage(now, containers))
                .build();
    }

    private static FilesystemUsage usage(long now, ImageService.Usage u) {
        return FilesystemUsage.newBuilder()
                .setTimestamp(now)
                .setFsId(FilesystemIdentifier.newBuilder().setMountpoint(u.mountpoint().toString()))
                .setUsedBytes(UInt64Value.newBuilder().setValue(u.bytes()))
                .setInodesUsed(UInt64Value.newBuilder().setValue(u.inodes()))
                .build();
    }

    static Image toCri(ImageRecord r) {
        Image.Builder b = Image.newBuilder()
                .setId(r.id().toString())
                .addAllRepoTags(r.repoTags())
                .addAllRepoDigests(r.repoDigests())
                .setSize(r.size())
                .setPinned(r.pinned())
                .setSpec(ImageSpec.newBuilder().setImage(r.id().toString()).putAllAnnotations(r.annotations()));
        if (r.uid() >= 0) {
            b.setUid(Int64Value.newBuilder().setValue(r.uid()));
        } else {
            b.setUsername(r.username());
        }
        return b.build();
    }
}
