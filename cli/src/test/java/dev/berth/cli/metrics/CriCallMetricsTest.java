package dev.berth.cli.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.criserver.grpc.CallLogging;
import dev.berth.criserver.grpc.CriRegistry;
import dev.berth.common.BerthException;
import dev.berth.cri.v1.ContainerEventResponse;
import dev.berth.cri.v1.ContainerStatusRequest;
import dev.berth.cri.v1.GetEventsRequest;
import dev.berth.cri.v1.ListImagesRequest;
import dev.berth.cri.v1.ListImagesResponse;
import dev.berth.cri.v1.RuntimeServiceGrpc;
import dev.berth.cri.v1.ImageServiceGrpc;
import dev.berth.cri.v1.VersionRequest;
import dev.berth.cri.v1.VersionResponse;
import io.grpc.Context;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.MockClock;
import io.micrometer.core.instrument.Timer;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** CRI calls through a real (in-process) gRPC server are counted and timed per method and status code. */
class CriCallMetricsTest {
    private static final String RUNTIME = "runtime.v1.RuntimeService";

    private final MockClock clock = new MockClock();
    private final BerthMetrics metrics = BerthMetrics.bare(clock);
    private final MeterRegistry registry = metrics.registry();
    private final CountDownLatch streamCancelled = new CountDownLatch(1);
    private Server server;
    private ManagedChannel channel;

    @BeforeEach
    void start() throws Exception {
        CriRegistry cri = new CriRegistry();
        cri.unary(RuntimeServiceGrpc.getVersionMethod(), request -> {
            clock.add(Duration.ofMillis(30));
            return VersionResponse.newBuilder().setRuntimeName("berth").build();
        });
        cri.unary(RuntimeServiceGrpc.getContainerStatusMethod(), request -> {
            throw BerthException.notFound("container %s not found", request.getContainerId());
        });
        cri.unary(ImageServiceGrpc.getListImagesMethod(), request -> ListImagesResponse.getDefaultInstance());
        cri.serverStreaming(RuntimeServiceGrpc.getGetContainerEventsMethod(),
                (GetEventsRequest request, StreamObserver<ContainerEventResponse> out) ->
                        Context.current().addListener(ctx -> streamCancelled.countDown(), Runnable::run));
        CriCallMetrics interceptor = new CriCallMetrics(registry);
        String name = InProcessServerBuilder.generateName();
        server = InProcessServerBuilder.forName(name).directExecutor()
                .addService(ServerInterceptors.intercept(cri.runtimeService(), new CallLogging(), interceptor))
                .addService(ServerInterceptors.intercept(cri.imageService(), new CallLogging(), interceptor))
                .build().start();
        channel = InProcessChannelBuilder.forName(name).directExecutor().build();
    }

    @AfterEach
    void stop() throws Exception {
        channel.shutdownNow();
        server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        metrics.close();
    }

    private Counter requests(String service, String method, String code) {
        return registry.find(CriCallMetrics.REQUESTS).tags("service", service, "method", method, "code", code).counter();
    }

    private Counter errors(String service, String method, String code) {
        return registry.find(CriCallMetrics.ERRORS).tags("service", service, "method", method, "code", code).counter();
    }

    private Timer duration(String service, String method, String code) {
        return registry.find(CriCallMetrics.DURATION).tags("service", service, "method", method, "code", code).timer();
    }

    @Test
    void successfulCallsAreCountedAndTimedWithoutErrors() {
        RuntimeServiceGrpc.RuntimeServiceBlockingStub runtime = RuntimeServiceGrpc.newBlockingStub(channel);
        for (int i = 0; i < 3; i++) {
            assertEquals("berth", runtime.version(VersionRequest.getDefaultInstance()).getRuntimeName());
        }
        ImageServiceGrpc.newBlockingStub(channel).listImages(ListImagesRequest.getDefaultInstance());

        assertEquals(3.0, requests(RUNTIME, "Version", "OK").count());
        Timer t = duration(RUNTIME, "Version", "OK");
        assertEquals(3, t.count());
        assertEquals(90.0, t.totalTime(TimeUnit.MILLISECONDS), 1e-6, "the handler advanced the clock 30 ms per call");
        assertNull(errors(RUNTIME, "Version", "OK"), "OK is not an error");
        assertEquals(1.0, requests("runtime.v1.ImageService", "ListImages", "OK").count());
    }

    @Test
    void failuresAreCountedUnderTheirStatusCode() {
        RuntimeServiceGrpc.RuntimeServiceBlockingStub runtime = RuntimeServiceGrpc.newBlockingStub(channel);
        StatusRuntimeException notFound = assertThrows(StatusRuntimeException.class,
                () -> runtime.containerStatus(ContainerStatusRequest.newBuilder().setContainerId("c1").build()));
        assertEquals(Status.Code.NOT_FOUND, notFound.getStatus().getCode());
        for (int i = 0; i < 2; i++) {
            StatusRuntimeException unimplemented = assertThrows(StatusRuntimeException.class,
                    () -> runtime.checkpointContainer(dev.berth.cri.v1.CheckpointContainerRequest.getDefaultInstance()));
            assertEquals(Status.Code.UNIMPLEMENTED, unimplemented.getStatus().getCode());
        }

        assertEquals(1.0, requests(RUNTIME, "ContainerStatus", "NOT_FOUND").count());
        assertEquals(1.0, errors(RUNTIME, "ContainerStatus", "NOT_FOUND").count());
        assertEquals(1, duration(RUNTIME, "ContainerStatus", "NOT_FOUND").count());
        assertEquals(2.0, requests(RUNTIME, "CheckpointContainer", "UNIMPLEMENTED").count());
        assertEquals(2.0, errors(RUNTIME, "CheckpointContainer", "UNIMPLEMENTED").count());
        assertNull(requests(RUNTIME, "ContainerStatus", "OK"), "no OK series for a method that never succeeded");
    }

    @Test
    void aStreamTheClientCancelsIsRecordedOnceAsCancelled() throws Exception {
        Context.CancellableContext ctx = Context.current().withCancellation();
        CountDownLatch clientDone = new CountDownLatch(1);
        ctx.run(() -> RuntimeServiceGrpc.newStub(channel).getContainerEvents(GetEventsRequest.getDefaultInstance(),
                new StreamObserver<>() {
                    @Override
                    public void onNext(ContainerEventResponse value) {
                    }

                    @Override
                    public void onError(Throwable t) {
                        clientDone.countDown();
                    }

                    @Override
                    public void onCompleted() {
                        clientDone.countDown();
                    }
                }));
        assertNull(requests(RUNTIME, "GetContainerEvents", "CANCELLED"), "an open stream is not recorded yet");
        ctx.cancel(null);
        assertTrue(streamCancelled.await(10, TimeUnit.SECONDS), "the server saw the cancellation");
        assertTrue(clientDone.await(10, TimeUnit.SECONDS));

        Counter cancelled = requests(RUNTIME, "GetContainerEvents", "CANCELLED");
        assertNotNull(cancelled);
        assertEquals(1.0, cancelled.count());
        assertEquals(1.0, errors(RUNTIME, "GetContainerEvents", "CANCELLED").count());
        assertEquals(1, registry.find(CriCallMetrics.REQUESTS).tag("method", "GetContainerEvents").counters().size(),
                "no other code was recorded for the stream");
    }

    @Test
    void theExpositionHasTheHistogramWithBerthsBuckets() throws Exception {
        RuntimeServiceGrpc.newBlockingStub(channel).version(VersionRequest.getDefaultInstance());
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrometheusTextFormatWriter.create().write(out, metrics.snapshot());
        String text = out.toString(StandardCharsets.UTF_8);

        String labels = "code=\"OK\",method=\"Version\",service=\"runtime.v1.RuntimeService\"";
        assertTrue(text.contains("# TYPE berth_cri_request_duration_seconds histogram"), text);
        // 30 ms falls into the 50 ms bucket, not the 25 ms one
        assertTrue(text.contains("berth_cri_request_duration_seconds_bucket{" + labels + ",le=\"0.025\"} 0"), text);
        assertTrue(text.contains("berth_cri_request_duration_seconds_bucket{" + labels + ",le=\"0.05\"} 1"), text);
        assertTrue(text.contains("berth_cri_request_duration_seconds_bucket{" + labels + ",le=\"600.0\"} 1"), text);
        assertTrue(text.contains("berth_cri_request_duration_seconds_bucket{" + labels + ",le=\"+Inf\"} 1"), text);
        assertTrue(text.contains("berth_cri_request_duration_seconds_count{" + labels + "} 1"), text);
        assertTrue(text.contains("berth_cri_requests_total{" + labels + "} 1"), text);
    }
}
