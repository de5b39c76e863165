package dev.berth.criserver.cri;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.common.util.concurrent.ListenableFuture;
import dev.berth.common.BerthException;
import dev.berth.cri.v1.ImageServiceGrpc;
import dev.berth.cri.v1.ImageSpec;
import dev.berth.cri.v1.PullImageRequest;
import dev.berth.cri.v1.PullImageResponse;
import dev.berth.criserver.grpc.CriRegistry;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.nio.file.Path;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * PullImage against a registry that never answers (a puller that waits until interrupted):
 * pulls beyond the running and queued ones are refused, and a pull whose caller gives up is
 * interrupted and frees its slot for the next.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class ImagePullLimitsTest {
    final BlockingQueue<String> started = new LinkedBlockingQueue<>();
    final BlockingQueue<String> interrupted = new LinkedBlockingQueue<>();
    final CountDownLatch never = new CountDownLatch(1);
    final AtomicInteger running = new AtomicInteger();
    ImageRpcs rpcs;
    Server server;
    ManagedChannel channel;

    @BeforeEach
    void start() throws Exception {
        rpcs = new ImageRpcs(null, (ref, creds, annotations) -> {
            running.incrementAndGet();
            started.add(ref);
            try {
                never.await();
                throw new AssertionError("the stalled registry answered");
            } catch (InterruptedException e) {
                interrupted.add(ref);
                throw BerthException.unavailable("pull of %s interrupted", ref);
            } finally {
                running.decrementAndGet();
            }
        }, Path.of("/nonexistent"), 1);
        CriRegistry registry = new CriRegistry();
        rpcs.register(registry);
        String name = InProcessServerBuilder.generateName();
        server = InProcessServerBuilder.forName(name).addService(registry.imageService()).build().start();
        channel = InProcessChannelBuilder.forName(name).build();
    }

    @AfterEach
    void stop() {
        never.countDown();
        channel.shutdownNow();
        server.shutdownNow();
    }

    private ListenableFuture<PullImageResponse> pull(String ref) {
        return ImageServiceGrpc.newFutureStub(channel).pullImage(PullImageRequest.newBuilder()
                .setImage(ImageSpec.newBuilder().setImage(ref)).build());
    }

    private void awaitInProgress(int n) throws InterruptedException {
        for (long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(30); rpcs.pullsInProgress() < n && System.nanoTime() < end; ) {
            Thread.sleep(10);
        }
        assertEquals(n, rpcs.pullsInProgress(), "pulls running or queued");
    }

    @Test
    void pullsBeyondTheBoundAreRefusedAndACancelledPullFreesItsSlot() throws Exception {
        ListenableFuture<PullImageResponse> first = pull("registry.test/first:1");
        assertEquals("registry.test/first:1", started.poll(30, TimeUnit.SECONDS));
        ListenableFuture<PullImageResponse> queued = pull("registry.test/queued:1");
        awaitInProgress(2);
        ExecutionException refused = assertThrows(ExecutionException.class, () -> pull("registry.test/third:1").get(30, TimeUnit.SECONDS));
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, Status.fromThrowable(refused.getCause()).getCode(), refused.toString());

        first.cancel(true);
        assertEquals("registry.test/first:1", interrupted.poll(30, TimeUnit.SECONDS), "the cancelled pull is interrupted");
        assertEquals("registry.test/queued:1", started.poll(30, TimeUnit.SECONDS), "the queued pull takes the slot");
        assertEquals(1, running.get(), "pulls running at once");

        queued.cancel(true);
        assertEquals("registry.test/queued:1", interrupted.poll(30, TimeUnit.SECONDS));
        for (long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(30); rpcs.pullsInProgress() > 0 && System.nanoTime() < end; ) {
            Thread.sleep(10);
        }
        assertEquals(0, rpcs.pullsInProgress(), "no pull left behind");
    }

    @Test
    void aPullPastItsDeadlineIsInterruptedAndAQueuedOneNeverStarts() throws Exception {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> ImageServiceGrpc
                .newBlockingStub(channel).withDeadlineAfter(500, TimeUnit.MILLISECONDS).pullImage(PullImageRequest
                        .newBuilder().setImage(ImageSpec.newBuilder().setImage("registry.test/slow:1")).build()));
        assertEquals(Status.Code.DEADLINE_EXCEEDED, e.getStatus().getCode());
        assertEquals("registry.test/slow:1", interrupted.poll(30, TimeUnit.SECONDS));

        ListenableFuture<PullImageResponse> holder = pull("registry.test/holder:1");
        assertEquals("registry.test/slow:1", started.poll(30, TimeUnit.SECONDS));
        assertEquals("registry.test/holder:1", started.poll(30, TimeUnit.SECONDS));
        ListenableFuture<PullImageResponse> waiting = pull("registry.test/waiting:1");
        awaitInProgress(2);
        waiting.cancel(true);
        // the server learns of that cancel on its own: only once the queued pull is gone does the holder free its slot
        for (long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(30); rpcs.pullsInProgress() > 1 && System.nanoTime() < end; ) {
            Thread.sleep(10);
        }
        assertEquals(1, rpcs.pullsInProgress(), "the cancelled queued pull left the queue");
        holder.cancel(true);
        assertEquals("registry.test/holder:1", interrupted.poll(30, TimeUnit.SECONDS));
        for (long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(30); rpcs.pullsInProgress() > 0 && System.nanoTime() < end; ) {
            Thread.sleep(10);
        }
        assertEquals(0, rpcs.pullsInProgress());
        assertTrue(started.isEmpty(), "the cancelled queued pull never started: " + started);
    }
}
