package dev.berth.criserver.grpc;

import io.grpc.Context;
import io.grpc.Deadline;
import io.grpc.ForwardingServerCallListener.SimpleForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.time.Duration;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Bounds the CRI handlers that run at once. A handler runs in the call's half-close callback
 * (unary and server-streaming calls both), so that is where a call takes one of
 * {@code maxRunning} permits and gives it back when the handler returns (a pull or an event
 * stream, answered later, holds none). A call that finds none free waits, holding its thread,
 * while fewer than {@code maxWaiting} calls wait and for at most {@code maxWait} or its
 * deadline; otherwise, or when the wait ends first, it is answered RESOURCE_EXHAUSTED, which
 * the kubelet retries. So at most {@code maxRunning + maxWaiting} call threads are ever busy
 * and the executor's other threads keep answering (and refusing) new calls.
 */
final class CallLimit implements ServerInterceptor {
    private static final long POLL_MS = 100;

    private final Semaphore running;
    private final int maxWaiting;
    private final Duration maxWait;
    private final AtomicInteger waiting = new AtomicInteger();

    CallLimit(int maxRunning, int maxWaiting, Duration maxWait) {
        this.running = new Semaphore(maxRunning);
        this.maxWaiting = maxWaiting;
        this.maxWait = maxWait;
    }

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
        return new SimpleForwardingServerCallListener<>(next.startCall(call, headers)) {
            @Override
            public void onHalfClose() {
                if (!admit()) {
                    call.close(Status.RESOURCE_EXHAUSTED.withDescription("berth is serving too many CRI calls at once;"
                            + " retry later"), new Metadata());
                    return;
                }
                try {
                    super.onHalfClose();
                } finally {
                    running.release();
                }
            }
        };
    }

    /** Takes a permit, waiting for one when the wait queue has room; false when the call is refused. */
    private boolean admit() {
        if (running.tryAcquire()) {
            return true;
        }
        if (waiting.incrementAndGet() > maxWaiting) {
            waiting.decrementAndGet();
            return false;
        }
        try {
            Context context = Context.current();
            long end = System.nanoTime() + maxWait.toNanos();
            Deadline deadline = context.getDeadline();
            if (deadline != null) {
                end = Math.min(end, System.nanoTime() + deadline.timeRemaining(TimeUnit.NANOSECONDS));
            }
            // in slices, so that a caller who went away stops waiting soon
            while (!context.isCancelled()) {
                long left = end - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                if (running.tryAcquire(Math.min(left, TimeUnit.MILLISECONDS.toNanos(POLL_MS)), TimeUnit.NANOSECONDS)) {
                    return true;
                }
            }
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        } finally {
            waiting.decrementAndGet();
        }
    }
}
