package dev.berth.criserver.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.common.util.concurrent.ListenableFuture;
import dev.berth.cri.v1.RuntimeServiceGrpc;
import dev.berth.cri.v1.VersionRequest;
import dev.berth.cri.v1.VersionResponse;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.MetadataUtils;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A flood of slow CRI calls over the real socket: only the configured number of handlers run,
 * as many more wait, the rest are answered RESOURCE_EXHAUSTED at once, and the server's call
 * threads stay bounded; once the slow handlers finish, every admitted call is answered.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class CriServerLimitsTest {
    @TempDir
    Path dir;
    CriServer server;
    ManagedChannel channel;
    final CountDownLatch release = new CountDownLatch(1);
    final AtomicInteger inside = new AtomicInteger();
    final AtomicInteger mostInside = new AtomicInteger();

    @AfterEach
    void stop() {
        release.countDown();
        if (channel != null) {
            channel.shutdownNow();
        }
        if (server != null) {
            server.close();
        }
    }

    private void start(CriServer.Limits limits) {
        CriRegistry registry = new CriRegistry().unary(RuntimeServiceGrpc.getVersionMethod(), r -> {
            mostInside.accumulateAndGet(inside.incrementAndGet(), Math::max);
            try {
                release.await();
            } finally {
                inside.decrementAndGet();
            }
            return VersionResponse.newBuilder().setRuntimeName("berth").build();
        });
        server = CriServer.start(dir.resolve("cri.sock"), registry, limits);
        channel = Grpc.newChannelBuilder("unix://" + server.socket(), InsecureChannelCredentials.create()).build();
    }

    @Test
    void callsBeyondTheRunningAndWaitingOnesAreRefusedAndThreadsStayBounded() throws Exception {
        CriServer.Limits limits = new CriServer.Limits(1 << 20, 2, 2, Duration.ofMinutes(1), 64, 8192);
        start(limits);
        RuntimeServiceGrpc.RuntimeServiceFutureStub stub = RuntimeServiceGrpc.newFutureStub(channel)
                .withDeadlineAfter(90, TimeUnit.SECONDS);
        List<ListenableFuture<VersionResponse>> calls = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            calls.add(stub.version(VersionRequest.getDefaultInstance()));
        }
        // 8 refusals come at once while 2 run and 2 wait (without a bound, all 12 would run)
        int refused = 0;
        for (long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(30); System.nanoTime() < end; Thread.sleep(20)) {
            refused = (int) calls.stream().filter(f -> f.isDone() && code(f) == Status.Code.RESOURCE_EXHAUSTED).count();
            if (refused + inside.get() >= 10) {
                break;
            }
        }
        long threads = Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().startsWith("cri-call-")).count();
        assertEquals(2, mostInside.get(), "handlers running at once");
        assertEquals(8, refused, "calls answered RESOURCE_EXHAUSTED");
        assertTrue(threads <= 2 + 2 + CriServer.SPARE_THREADS, threads + " call threads");
        release.countDown();
        int answered = 0;
        for (ListenableFuture<VersionResponse> f : calls) {
            try {
                assertEquals("berth", f.get(60, TimeUnit.SECONDS).getRuntimeName());
                answered++;
            } catch (ExecutionException e) {
                assertEquals(Status.Code.RESOURCE_EXHAUSTED, Status.fromThrowable(e.getCause()).getCode());
            }
        }
        assertEquals(4, answered, "the running and the waiting calls are answered");
        assertEquals(2, mostInside.get(), "handlers running at once");
    }

    @Test
    void aWaitingCallIsRefusedWhenItsDeadlineComesFirst() throws Exception {
        start(new CriServer.Limits(1 << 20, 1, 1, Duration.ofMinutes(1), 64, 8192));
        ListenableFuture<VersionResponse> running = RuntimeServiceGrpc.newFutureStub(channel)
                .version(VersionRequest.getDefaultInstance());
        while (inside.get() < 1) {
            Thread.sleep(10);
        }
        StatusRuntimeException e = org.junit.jupiter.api.Assertions.assertThrows(StatusRuntimeException.class,
                () -> RuntimeServiceGrpc.newBlockingStub(channel).withDeadlineAfter(300, TimeUnit.MILLISECONDS)
                        .version(VersionRequest.getDefaultInstance()));
        assertTrue(e.getStatus().getCode() == Status.Code.DEADLINE_EXCEEDED
                || e.getStatus().getCode() == Status.Code.RESOURCE_EXHAUSTED, e.toString());
        release.countDown();
        assertEquals("berth", running.get(60, TimeUnit.SECONDS).getRuntimeName());
        assertEquals(1, mostInside.get());
    }

    @Test
    void oversizedHeadersAreRefused() {
        start(new CriServer.Limits(1 << 20, 2, 2, Duration.ofMinutes(1), 64, 8192));
        release.countDown();
        Metadata big = new Metadata();
        big.put(Metadata.Key.of("x-filler", Metadata.ASCII_STRING_MARSHALLER), "x".repeat(64 * 1024));
        StatusRuntimeException e = org.junit.jupiter.api.Assertions.assertThrows(StatusRuntimeException.class,
                () -> RuntimeServiceGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS)
                        .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(big))
                        .version(VersionRequest.getDefaultInstance()));
        assertTrue(e.getStatus().getCode() != Status.Code.DEADLINE_EXCEEDED, e.toString());
        assertEquals(0, mostInside.get(), "the handler never ran");
        assertEquals("berth", RuntimeServiceGrpc.newBlockingStub(channel).version(VersionRequest.getDefaultInstance())
                .getRuntimeName());
    }

    private static Status.Code code(ListenableFuture<?> f) {
        try {
            f.get();
            return Status.Code.OK;
        } catch (ExecutionException e) {
            return Status.fromThrowable(e.getCause()).getCode();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Status.Code.UNKNOWN;
        }
    }
}
