package dev.berth.criserver.grpc;

import java.time.Duration;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedTransferQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * The call executor of a CRI server: at most {@code max} threads, as many as calls run at once.
 * A fixed pool of {@code max} threads would start a new thread for each of its first
 * {@code max} tasks even while others sit idle, and keep them all for good: 132 threads per
 * server after a burst of sequential calls. Here a task goes to an idle thread when there is
 * one, a new thread starts only when none is idle, tasks wait in line once {@code max} threads
 * are busy, and a thread idle for {@code keepAlive} ends (all but one).
 */
final class CallThreads {
    private CallThreads() {
    }

    static ExecutorService bounded(int max, Duration keepAlive, String prefix) {
        HandOff queue = new HandOff();
        ThreadPoolExecutor pool = new ThreadPoolExecutor(1, max, keepAlive.toMillis(), TimeUnit.MILLISECONDS, queue,
                CriServer.daemonThreads(prefix), (task, p) -> {
                    if (p.isShutdown()) {
                        throw new RejectedExecutionException("the CRI server is shutting down");
                    }
                    // every thread is busy: the task waits; the core thread never ends, so it is run
                    queue.enqueue(task);
                });
        return pool;
    }

    /**
     * Offers a task only to a thread waiting for one, so the pool starts a thread (up to its
     * maximum) rather than queue behind busy ones; {@link #enqueue} queues it when none may start.
     */
    private static final class HandOff extends LinkedTransferQueue<Runnable> {
        private static final long serialVersionUID = 1L;

        @Override
        public boolean offer(Runnable task) {
            return tryTransfer(task);
        }

        void enqueue(Runnable task) {
            super.offer(task);
        }
    }
}
