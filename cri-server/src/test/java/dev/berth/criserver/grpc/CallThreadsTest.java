package dev.berth.criserver.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The CRI servers' call executor starts threads only for calls that run at once, up to its bound, and ends idle ones. */
@Timeout(value = 1, unit = TimeUnit.MINUTES)
class CallThreadsTest {

    @Test
    void sequentialCallsReuseOneThreadInsteadOfStartingOneEach() throws Exception {
        ExecutorService pool = CallThreads.bounded(132, Duration.ofMinutes(1), "test-call");
        try {
            Set<Thread> used = ConcurrentHashMap.newKeySet();
            for (int i = 0; i < 200; i++) {
                pool.submit(() -> used.add(Thread.currentThread())).get();
            }
            // a fixed pool of 132 had started 132 threads for these 200 calls, one after the other;
            // here a call starts a thread only while the previous one's is between its task and the next
            assertTrue(used.size() < 16, used.size() + " threads for sequential calls");
            assertTrue(((ThreadPoolExecutor) pool).getPoolSize() < 16, ((ThreadPoolExecutor) pool).getPoolSize() + " threads");
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void concurrentCallsGetThreadsUpToTheBoundAndTheRestWaitInLine() throws Exception {
        ExecutorService pool = CallThreads.bounded(3, Duration.ofMinutes(1), "test-call");
        try {
            CountDownLatch release = new CountDownLatch(1);
            CountDownLatch started = new CountDownLatch(3);
            List<Future<?>> tasks = new ArrayList<>();
            for (int i = 0; i < 5; i++) {
                tasks.add(pool.submit(() -> {
                    started.countDown();
                    release.await();
                    return null;
                }));
            }
            assertTrue(started.await(30, TimeUnit.SECONDS), "three tasks run at once");
            assertEquals(3, ((ThreadPoolExecutor) pool).getPoolSize());
            assertEquals(2, ((ThreadPoolExecutor) pool).getQueue().size(), "tasks waiting for a thread");
            release.countDown();
            for (Future<?> f : tasks) {
                f.get(30, TimeUnit.SECONDS);
            }
            assertEquals(3, ((ThreadPoolExecutor) pool).getLargestPoolSize());
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void idleThreadsEndButOneStays() throws Exception {
        ExecutorService pool = CallThreads.bounded(8, Duration.ofMillis(50), "test-call");
        try {
            CountDownLatch release = new CountDownLatch(1);
            CountDownLatch started = new CountDownLatch(8);
            for (int i = 0; i < 8; i++) {
                pool.submit(() -> {
                    started.countDown();
                    release.await();
                    return null;
                });
            }
            assertTrue(started.await(30, TimeUnit.SECONDS));
            release.countDown();
            ThreadPoolExecutor p = (ThreadPoolExecutor) pool;
            for (long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(30); p.getPoolSize() > 1 && System.nanoTime() < end; ) {
                Thread.sleep(20);
            }
            assertEquals(1, p.getPoolSize(), "threads left once idle");
            assertEquals("done", pool.submit(() -> "done").get(30, TimeUnit.SECONDS));
        } finally {
            pool.shutdownNow();
        }
    }
}
