package dev.berth.cli;

import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import java.time.Duration;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Gives the heap back once the CRI calls stop: after a burst of calls (pods started and
 * removed), as soon as no call has arrived for {@link #DEFAULT_QUIET}, one full collection
 * runs. The serial collector shrinks the heap only in a full collection (to what the
 * launcher's MaxHeapFreeRatio leaves free), and a quiet node makes none, so without this
 * the heap a burst grew stays committed for good. A node that keeps calling (the kubelet's
 * status and list calls every second or so) never goes quiet and never pays for a collection
 * here; one that has gone quiet pays for at most one per burst.
 */
public final class IdleCollector implements ServerInterceptor, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(IdleCollector.class);
    /** How long without calls counts as quiet. */
    public static final Duration DEFAULT_QUIET = Duration.ofSeconds(2);

    private final long quietNanos;
    private final LongSupplier nanoTime;
    private final Runnable collect;
    private final ScheduledExecutorService timer;
    /** nanoTime of the last call, when a call came since the last collection. */
    private volatile long lastCall;
    private volatile boolean active;

    IdleCollector(Duration quiet, LongSupplier nanoTime, Runnable collect, ScheduledExecutorService timer) {
        this.quietNanos = quiet.toNanos();
        this.nanoTime = nanoTime;
        this.collect = collect;
        this.timer = timer;
    }

    /** Collects with {@link System#gc} once the calls have stopped for {@code quiet}; checks every half of it. */
    public static IdleCollector start(Duration quiet) {
        ScheduledExecutorService timer = dev.berth.common.DaemonThreads.scheduler("berth-idle-gc");
        IdleCollector c = new IdleCollector(quiet, System::nanoTime, System::gc, timer);
        long period = Math.max(1, quiet.toMillis() / 2);
        timer.scheduleWithFixedDelay(c::check, period, period, TimeUnit.MILLISECONDS);
        return c;
    }

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
        lastCall = nanoTime.getAsLong();
        active = true;
        return next.startCall(call, headers);
    }

    /** Collects when calls came since the last collection and none for the quiet time. */
    void check() {
        if (!active || nanoTime.getAsLong() - lastCall < quietNanos) {
            return;
        }
        active = false;
        try {
            collect.run();
        } catch (RuntimeException e) {
            LOG.debug("the collection after the calls stopped failed: {}", e.toString());
        }
    }

    @Override
    public void close() {
        if (timer != null) {
            timer.shutdownNow();
        }
    }
}
