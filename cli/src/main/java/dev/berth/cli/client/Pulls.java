package dev.berth.cli.client;

import com.google.common.util.concurrent.ListenableFuture;
import dev.berth.cri.berth.v1.PullProgressGrpc;
import dev.berth.cri.berth.v1.PullStatus;
import dev.berth.cri.berth.v1.WatchPullRequest;
import dev.berth.cri.v1.AuthConfig;
import dev.berth.cri.v1.ImageServiceGrpc;
import dev.berth.cri.v1.ImageSpec;
import dev.berth.cri.v1.ImageStatusRequest;
import dev.berth.cri.v1.ImageStatusResponse;
import dev.berth.cri.v1.PodSandboxConfig;
import dev.berth.cri.v1.PullImageRequest;
import dev.berth.cri.v1.PullImageResponse;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Pulls an image through the CRI while watching berth's PullProgress side channel on the same
 * socket: PullImage runs without a deadline unless one is given, Watch beside it feeds the
 * display; a runtime without the side channel (UNIMPLEMENTED) gives elapsed time only.
 */
final class Pulls {
    /** How often the display is redrawn. */
    static final long TICK_MS = 100;
    /** How long the side channel waits for the pull to show up (a queued pull starts late). */
    static final long WATCH_WAIT_MS = 10_000;

    private Pulls() {
    }

    /** Pulls {@code image} and returns the image reference the runtime gives. */
    static String pull(CriSession cri, String image, AuthConfig auth, PodSandboxConfig podConfig, java.util.Map<String, String> annotations,
            Duration timeout, PullDisplay display) {
        PullImageRequest.Builder req = PullImageRequest.newBuilder()
                .setImage(ImageSpec.newBuilder().setImage(image).putAllAnnotations(annotations));
        if (auth != null) {
            req.setAuth(auth);
        }
        if (podConfig != null) {
            req.setSandboxConfig(podConfig);
        }
        ImageServiceGrpc.ImageServiceFutureStub stub = ImageServiceGrpc.newFutureStub(cri.imageChannel());
        if (timeout != null) {
            stub = stub.withDeadlineAfter(timeout.toMillis(), TimeUnit.MILLISECONDS);
        }
        AtomicReference<PullStatus> latest = new AtomicReference<>();
        AtomicReference<ClientCallStreamObserver<WatchPullRequest>> watchCall = new AtomicReference<>();
        if (display != null) {
            watch(cri, image, latest, watchCall);
            display.started();
        }
        long start = System.nanoTime();
        ListenableFuture<PullImageResponse> pull = stub.pullImage(req.build());
        try {
            while (true) {
                try {
                    PullImageResponse r = pull.get(TICK_MS, TimeUnit.MILLISECONDS);
                    if (display != null) {
                        display.finished(Duration.ofNanos(System.nanoTime() - start), finalStatus(latest.get()), true);
                    }
                    return r.getImageRef();
                } catch (TimeoutException e) {
                    if (display != null) {
                        display.update(Duration.ofNanos(System.nanoTime() - start), latest.get());
                    }
                }
            }
        } catch (ExecutionException e) {
            if (display != null) {
                display.finished(Duration.ofNanos(System.nanoTime() - start), latest.get(), false);
            }
            if (e.getCause() instanceof StatusRuntimeException s) {
                throw s;
            }
            throw new ClientException(ExitCodes.FAILED, "pull of " + image + " failed: " + e.getCause(), e.getCause());
        } catch (InterruptedException e) {
            pull.cancel(true);
            Thread.currentThread().interrupt();
            throw new ClientException(ExitCodes.FAILED, "pull of " + image + " interrupted");
        } finally {
            ClientCallStreamObserver<WatchPullRequest> w = watchCall.get();
            if (w != null) {
                w.cancel("the pull ended", null);
            }
        }
    }

    /** A pull that succeeded shows every layer done, whatever the last sample said. */
    private static PullStatus finalStatus(PullStatus s) {
        if (s == null) {
            return null;
        }
        PullStatus.Builder b = s.toBuilder().setDoneBytes(s.getTotalBytes()).setDone(true);
        for (int i = 0; i < b.getLayersCount(); i++) {
            var l = b.getLayers(i);
            if (l.getState() != dev.berth.cri.berth.v1.LayerState.LAYER_EXISTS) {
                b.setLayers(i, l.toBuilder().setDone(l.getSize()).setState(dev.berth.cri.berth.v1.LayerState.LAYER_DONE));
            }
        }
        return b.build();
    }

    /** Starts Watch on the image endpoint; its messages land in {@code latest}; any failure (UNIMPLEMENTED) leaves it as it is. */
    private static void watch(CriSession cri, String image, AtomicReference<PullStatus> latest,
            AtomicReference<ClientCallStreamObserver<WatchPullRequest>> call) {
        PullProgressGrpc.newStub(cri.imageChannel()).watch(WatchPullRequest.newBuilder().setImage(image).setWaitMs(WATCH_WAIT_MS).build(),
                new ClientResponseObserver<WatchPullRequest, PullStatus>() {
                    @Override
                    public void beforeStart(ClientCallStreamObserver<WatchPullRequest> requestStream) {
                        call.set(requestStream);
                    }

                    @Override
                    public void onNext(PullStatus s) {
                        latest.set(s);
                    }

                    @Override
                    public void onError(Throwable t) {
                        // UNIMPLEMENTED (another runtime), or cancelled when the pull ended: elapsed time only
                    }

                    @Override
                    public void onCompleted() {
                    }
                });
    }

    /** Whether the runtime has the image (ImageStatus names one). */
    static boolean present(CriSession cri, String image) {
        ImageStatusResponse s = cri.images().imageStatus(ImageStatusRequest.newBuilder().setImage(ImageSpec.newBuilder().setImage(image)).build());
        return s.hasImage() && !s.getImage().getId().isEmpty();
    }

    /** Pulls {@code image} unless the runtime has it; returns its reference or ID. */
    static String ensure(CriSession cri, String image, PodSandboxConfig podConfig, Duration timeout, PullDisplay display) {
        ImageStatusResponse s = cri.images().imageStatus(ImageStatusRequest.newBuilder().setImage(ImageSpec.newBuilder().setImage(image)).build());
        if (s.hasImage() && !s.getImage().getId().isEmpty()) {
            return s.getImage().getId();
        }
        return pull(cri, image, null, podConfig, java.util.Map.of(), timeout, display);
    }

    /** The AuthConfig of crictl's --creds USER[:PASSWORD], --auth BASE64 and --username; null when none. */
    static AuthConfig auth(String creds, String authBase64, String username, String password) {
        int given = (creds != null ? 1 : 0) + (authBase64 != null ? 1 : 0) + (username != null ? 1 : 0);
        if (given > 1) {
            throw ClientException.usage("give only one of --creds, --auth and --username");
        }
        if (creds != null) {
            if (creds.isEmpty() || creds.startsWith(":")) {
                throw ClientException.usage("--creds is USER[:PASSWORD] with a user name");
            }
            int colon = creds.indexOf(':');
            return colon < 0 ? AuthConfig.newBuilder().setUsername(creds).build()
                    : AuthConfig.newBuilder().setUsername(creds.substring(0, colon)).setPassword(creds.substring(colon + 1)).build();
        }
        if (authBase64 != null) {
            return AuthConfig.newBuilder().setAuth(authBase64).build();
        }
        if (username != null) {
            return AuthConfig.newBuilder().setUsername(username).setPassword(password == null ? "" : password).build();
        }
        return null;
    }

    static boolean unimplemented(StatusRuntimeException e) {
        return e.getStatus().getCode() == Status.Code.UNIMPLEMENTED;
    }
}
