package dev.berth.criserver.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.cri.v1.Container;
import dev.berth.cri.v1.ContainerStatusRequest;
import dev.berth.cri.v1.ContainerStatusResponse;
import dev.berth.cri.v1.Image;
import dev.berth.cri.v1.ImageServiceGrpc;
import dev.berth.cri.v1.ImageStatusRequest;
import dev.berth.cri.v1.ImageStatusResponse;
import dev.berth.cri.v1.ListContainersResponse;
import dev.berth.cri.v1.ListImagesResponse;
import dev.berth.cri.v1.ListPodSandboxResponse;
import dev.berth.cri.v1.PodSandbox;
import dev.berth.cri.v1.PodSandboxStatusRequest;
import dev.berth.cri.v1.PodSandboxStatusResponse;
import dev.berth.cri.v1.RuntimeServiceGrpc;
import dev.berth.cri.v1.StatusResponse;
import dev.berth.cri.v1.VersionRequest;
import dev.berth.cri.v1.VersionResponse;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The warm-up at start makes only calls that read, and a real call never waits for it. */
@Timeout(value = 1, unit = TimeUnit.MINUTES)
class WarmupTest {
    static final Set<String> READING = Set.of("Status", "Version", "ListPodSandbox", "ListContainers", "ListImages",
            "PodSandboxStatus", "ContainerStatus", "ImageStatus");

    /** Every method of both services registered, each recording that it was called; the reading ones answer with one item. */
    private static CriRegistry recording(Set<String> called, Set<String> ids) {
        CriRegistry registry = new CriRegistry()
                .unary(RuntimeServiceGrpc.getStatusMethod(), r -> record(called, "Status", StatusResponse.getDefaultInstance()))
                .unary(RuntimeServiceGrpc.getVersionMethod(), r -> record(called, "Version", VersionResponse.getDefaultInstance()))
                .unary(RuntimeServiceGrpc.getListPodSandboxMethod(), r -> record(called, "ListPodSandbox",
                        ListPodSandboxResponse.newBuilder().addItems(PodSandbox.newBuilder().setId("pod-1")).build()))
                .unary(RuntimeServiceGrpc.getListContainersMethod(), r -> record(called, "ListContainers",
                        ListContainersResponse.newBuilder().addContainers(Container.newBuilder().setId("ctr-1")).build()))
                .unary(ImageServiceGrpc.getListImagesMethod(), r -> record(called, "ListImages",
                        ListImagesResponse.newBuilder().addImages(Image.newBuilder().setId("sha256:img-1")).build()))
                .unary(RuntimeServiceGrpc.getPodSandboxStatusMethod(), (PodSandboxStatusRequest r) -> {
                    ids.add(r.getPodSandboxId());
                    return record(called, "PodSandboxStatus", PodSandboxStatusResponse.getDefaultInstance());
                })
                .unary(RuntimeServiceGrpc.getContainerStatusMethod(), (ContainerStatusRequest r) -> {
                    ids.add(r.getContainerId());
                    return record(called, "ContainerStatus", ContainerStatusResponse.getDefaultInstance());
                })
                .unary(ImageServiceGrpc.getImageStatusMethod(), (ImageStatusRequest r) -> {
                    ids.add(r.getImage().getImage());
                    return record(called, "ImageStatus", ImageStatusResponse.getDefaultInstance());
                });
        for (var service : List.of(RuntimeServiceGrpc.getServiceDescriptor(), ImageServiceGrpc.getServiceDescriptor())) {
            for (MethodDescriptor<?, ?> m : service.getMethods()) {
                if (!READING.contains(m.getBareMethodName())) {
                    registerRecording(registry, m, called);
                }
            }
        }
        return registry;
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private static void registerRecording(CriRegistry registry, MethodDescriptor m, Set<String> called) {
        if (m.getType() == MethodDescriptor.MethodType.UNARY) {
            registry.unary(m, r -> {
                called.add(m.getBareMethodName());
                throw new IllegalStateException("the warm-up called " + m.getBareMethodName());
            });
        } else {
            registry.serverStreaming(m, (r, out) -> {
                called.add(m.getBareMethodName());
                throw new IllegalStateException("the warm-up called " + m.getBareMethodName());
            });
        }
    }

    private static <R> R record(Set<String> called, String method, R response) {
        called.add(method);
        return response;
    }

    @Test
    void warmsEveryStatusAndListCallAndCallsNothingElse() throws Exception {
        Set<String> called = ConcurrentHashMap.newKeySet();
        Set<String> ids = ConcurrentHashMap.newKeySet();
        CountDownLatch done = new CountDownLatch(1);
        Warmup w = Warmup.start(recording(called, ids), 25, done::countDown);
        assertTrue(w.await(Duration.ofSeconds(30)), "the warm-up ended");
        assertTrue(done.await(30, TimeUnit.SECONDS), "done ran");
        assertEquals(new TreeSet<>(READING), new TreeSet<>(called), "methods the warm-up called");
        assertEquals(Set.of("pod-1", "ctr-1", "sha256:img-1"), ids, "what the status calls asked about: the listed items");
    }

    @Test
    void aRealCallNeverWaitsForTheWarmUp() throws Exception {
        CountDownLatch stuck = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        AtomicInteger versions = new AtomicInteger();
        CriRegistry registry = new CriRegistry()
                .unary(RuntimeServiceGrpc.getVersionMethod(), r -> {
                    versions.incrementAndGet();
                    return VersionResponse.newBuilder().setRuntimeName("berth").build();
                })
                .unary(RuntimeServiceGrpc.getListPodSandboxMethod(), r -> {
                    stuck.countDown();
                    release.await();
                    return ListPodSandboxResponse.getDefaultInstance();
                });
        // the daemon's own server admits one call at a time: a warm-up sharing it would hold that one
        InProcessCri real = InProcessCri.start("warmup-test-" + System.nanoTime(), registry,
                new CriServer.Limits(1 << 20, 1, 0, Duration.ZERO, 8, 8192));
        Warmup w = Warmup.start(registry, 1000, () -> { });
        ManagedChannel channel = real.channel();
        try {
            assertTrue(stuck.await(30, TimeUnit.SECONDS), "the warm-up is inside ListPodSandbox");
            assertEquals("berth", RuntimeServiceGrpc.newBlockingStub(channel).withDeadlineAfter(20, TimeUnit.SECONDS)
                    .version(VersionRequest.getDefaultInstance()).getRuntimeName());
        } finally {
            release.countDown();
            w.close();
            channel.shutdownNow();
            real.close();
        }
        assertTrue(w.await(Duration.ofSeconds(30)), "closed, the warm-up ends");
    }
}
