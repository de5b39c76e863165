package dev.berth.criserver.cri;

import dev.berth.common.BerthException;
import dev.berth.cri.berth.v1.LayerProgress;
import dev.berth.cri.berth.v1.LayerState;
import dev.berth.cri.berth.v1.PullProgressGrpc;
import dev.berth.cri.berth.v1.PullStatus;
import dev.berth.cri.berth.v1.WatchPullRequest;
import dev.berth.criserver.grpc.CriRegistry;
import dev.berth.images.ActivePulls;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * berth's own {@code berth.v1.PullProgress} service on the CRI socket: Watch streams the state
 * of a pull under way (its layers' bytes and states), since CRI PullImage is unary and says
 * nothing until the image is there. One thread samples every watched pull a few times a
 * second and sends what the transport is ready for; at most {@link #MAX_WATCHERS} watches run
 * at once. It reveals only what pulls are under way (references, digests, sizes) to whoever
 * can open the socket, which is root's.
 */
public final class PullProgressRpcs implements CriRegistry.Feature, AutoCloseable {
    /** Watches at once; more are RESOURCE_EXHAUSTED. */
    static final int MAX_WATCHERS = 64;
    static final long PERIOD_MS = 200;
    static final long DEFAULT_WAIT_MS = 2_000;
    static final long MAX_WAIT_MS = 10_000;

    private final ActivePulls pulls;
    private final ScheduledExecutorService sampler;
    private final AtomicInteger watchers = new AtomicInteger();

    public PullProgressRpcs(ActivePulls pulls) {
        this.pulls = pulls;
        this.sampler = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "berth-pull-progress");
            t.setDaemon(true);
            return t;
        });
    }

    @Override
    public void register(CriRegistry registry) {
        registry.serverStreaming(PullProgressGrpc.getWatchMethod(), this::watch);
    }

    /** Watches running now (for tests). */
    int watchers() {
        return watchers.get();
    }

    private void watch(WatchPullRequest request, StreamObserver<PullStatus> out) {
        if (request.getImage().isEmpty()) {
            throw BerthException.invalidArgument("Watch: image is empty");
        }
        String ref = ActivePulls.normalise(request.getImage());
        long waitMs = request.getWaitMs() <= 0 ? DEFAULT_WAIT_MS : Math.min(request.getWaitMs(), MAX_WAIT_MS);
        if (watchers.incrementAndGet() > MAX_WATCHERS) {
            watchers.decrementAndGet();
            throw BerthException.resourceExhausted("Watch %s: %d pulls are watched already", ref, MAX_WATCHERS);
        }
        Watch w = new Watch(ref, System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(waitMs), out);
        if (out instanceof ServerCallStreamObserver<PullStatus> call) {
            w.call = call;
            call.setOnCancelHandler(w::stop);
        }
        w.future = sampler.scheduleWithFixedDelay(w::tick, 0, PERIOD_MS, TimeUnit.MILLISECONDS);
        if (w.stopped()) {
            w.future.cancel(false); // it ended before its future was known
        }
    }

    /** One watcher: finds the pull (waiting a while for it to start), then sends its state until it ends. */
    private final class Watch {
        private final String ref;
        private final long waitUntil;
        private final StreamObserver<PullStatus> out;
        volatile ServerCallStreamObserver<PullStatus> call;
        volatile ScheduledFuture<?> future;
        private ActivePulls.Watched pull;
        private boolean stopped;
        private PullStatus last;

        Watch(String ref, long waitUntil, StreamObserver<PullStatus> out) {
            this.ref = ref;
            this.waitUntil = waitUntil;
            this.out = out;
        }

        /** Runs on the sampler thread only. */
        void tick() {
            synchronized (this) {
                if (stopped) {
                    return;
                }
            }
            try {
                if (pull == null) {
                    Optional<ActivePulls.Watched> p = pulls.find(ref);
                    if (p.isEmpty()) {
                        if (System.nanoTime() - waitUntil > 0) {
                            out.onCompleted(); // no pull of it started: nothing to show
                            stop();
                        }
                        return;
                    }
                    pull = p.get();
                }
                ServerCallStreamObserver<PullStatus> c = call;
                ActivePulls.Snapshot s = pull.snapshot();
                PullStatus status = toProto(s);
                if (s.done()) {
                    out.onNext(status);
                    out.onCompleted();
                    stop();
                } else if ((c == null || c.isReady()) && !sameProgress(status, last)) {
                    out.onNext(status);
                    last = status;
                }
            } catch (RuntimeException e) {
                stop(); // the call went away meanwhile
            }
        }

        synchronized boolean stopped() {
            return stopped;
        }

        void stop() {
            synchronized (this) {
                if (stopped) {
                    return;
                }
                stopped = true;
            }
            watchers.decrementAndGet();
            ScheduledFuture<?> f = future;
            if (f != null) {
                f.cancel(false);
            }
        }
    }

    /** Equal but for the elapsed time: nothing new to send. */
    private static boolean sameProgress(PullStatus a, PullStatus b) {
        return b != null && a.toBuilder().setElapsedMs(0).build().equals(b.toBuilder().setElapsedMs(0).build());
    }

    static PullStatus toProto(ActivePulls.Snapshot s) {
        PullStatus.Builder b = PullStatus.newBuilder()
                .setImage(s.reference())
                .setElapsedMs(TimeUnit.NANOSECONDS.toMillis(s.elapsedNanos()))
                .setTotalBytes(s.totalBytes())
                .setDoneBytes(s.doneBytes())
                .setDone(s.done())
                .setError(s.error() == null ? "" : s.error());
        for (ActivePulls.Layer l : s.layers()) {
            b.addLayers(LayerProgress.newBuilder().setDigest(l.digest()).setSize(l.size()).setDone(l.done()).setState(switch (l.state()) {
                case WAITING -> LayerState.LAYER_WAITING;
                case DOWNLOADING -> LayerState.LAYER_DOWNLOADING;
                case EXTRACTING -> LayerState.LAYER_EXTRACTING;
                case DONE -> LayerState.LAYER_DONE;
                case EXISTS -> LayerState.LAYER_EXISTS;
            }));
        }
        return b.build();
    }

    @Override
    public void close() {
        sampler.shutdownNow();
    }
}
