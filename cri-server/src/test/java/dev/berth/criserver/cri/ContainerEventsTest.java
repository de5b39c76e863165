package dev.berth.criserver.cri;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.criserver.grpc.CriRegistry;
import dev.berth.cri.v1.ContainerEventResponse;
import dev.berth.cri.v1.ContainerEventType;
import dev.berth.cri.v1.GetEventsRequest;
import dev.berth.cri.v1.RuntimeServiceGrpc;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.grpc.stub.StreamObserver;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The container event hub behind GetContainerEvents, served over an in-process gRPC channel. */
class ContainerEventsTest {
    private Server server;
    private ManagedChannel channel;

    private ContainerEvents serve(int buffer) throws Exception {
        ContainerEvents hub = new ContainerEvents(buffer);
        CriRegistry registry = new CriRegistry();
        hub.register(registry);
        String name = InProcessServerBuilder.generateName();
        server = InProcessServerBuilder.forName(name).addService(registry.runtimeService()).build().start();
        channel = InProcessChannelBuilder.forName(name).build();
        return hub;
    }

    @AfterEach
    void close() throws Exception {
        if (channel != null) {
            channel.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
        }
        if (server != null) {
            server.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
        }
    }

    private static ContainerEventResponse event(int i) {
        return ContainerEventResponse.newBuilder().setContainerId("c" + i)
                .setContainerEventType(ContainerEventType.forNumber(i % 4)).setCreatedAt(i).build();
    }

    /** A client that reads everything and records it. */
    private static final class Reader implements StreamObserver<ContainerEventResponse> {
        final List<ContainerEventResponse> events = new CopyOnWriteArrayList<>();
        final CompletableFuture<Throwable> done = new CompletableFuture<>();

        @Override
        public void onNext(ContainerEventResponse value) {
            events.add(value);
        }

        @Override
        public void onError(Throwable t) {
            done.complete(t);
        }

        @Override
        public void onCompleted() {
            done.complete(null);
        }
    }

    private static void await(BooleanSupplier condition, String what) throws InterruptedException {
        for (int i = 0; i < 2000 && !condition.getAsBoolean(); i++) {
            Thread.sleep(10);
        }
        assertTrue(condition.getAsBoolean(), what);
    }

    @Test
    void everySubscriberGetsEveryEventInOrder() throws Exception {
        ContainerEvents hub = serve(ContainerEvents.DEFAULT_BUFFER);
        List<Reader> readers = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            Reader r = new Reader();
            RuntimeServiceGrpc.newStub(channel).getContainerEvents(GetEventsRequest.getDefaultInstance(), r);
            readers.add(r);
        }
        await(() -> hub.subscribers() == 5, "five subscribers are connected");
        for (int i = 0; i < 500; i++) {
            hub.publish(event(i));
        }
        for (Reader r : readers) {
            await(() -> r.events.size() == 500, "all 500 events arrive: " + r.events.size());
            for (int i = 0; i < 500; i++) {
                assertEquals(event(i), r.events.get(i));
            }
            assertTrue(!r.done.isDone(), "the stream stays open");
        }
    }

    @Test
    void aSubscriberThatNeverReadsIsDroppedWithResourceExhaustedWhilePublishingGoesOn() throws Exception {
        ContainerEvents hub = serve(8);
        CompletableFuture<Throwable> stuckEnded = new CompletableFuture<>();
        List<ContainerEventResponse> stuckGot = new CopyOnWriteArrayList<>();
        RuntimeServiceGrpc.newStub(channel).getContainerEvents(GetEventsRequest.getDefaultInstance(),
                new ClientResponseObserver<GetEventsRequest, ContainerEventResponse>() {
                    @Override
                    public void beforeStart(ClientCallStreamObserver<GetEventsRequest> call) {
                        call.disableAutoRequestWithInitial(0); // and never requests anything
                    }

                    @Override
                    public void onNext(ContainerEventResponse value) {
                        stuckGot.add(value);
                    }

                    @Override
                    public void onError(Throwable t) {
                        stuckEnded.complete(t);
                    }

                    @Override
                    public void onCompleted() {
                        stuckEnded.complete(null);
                    }
                });
        await(() -> hub.subscribers() == 1, "the stuck subscriber is connected");
        Reader direct = new Reader();
        hub.subscribe(direct);
        assertEquals(2, hub.subscribers());

        for (int i = 0; i < 10_000; i++) {
            hub.publish(event(i)); // returns although one subscriber reads nothing
        }
        assertEquals(10_000, direct.events.size(), "the subscriber that keeps up got everything");
        assertEquals(event(9_999), direct.events.get(9_999));
        assertEquals(1, hub.subscribers(), "the stuck subscriber was dropped");
        Throwable t = stuckEnded.get(20, TimeUnit.SECONDS);
        assertEquals(Status.Code.RESOURCE_EXHAUSTED, Status.fromThrowable(t).getCode(), String.valueOf(t));
        assertTrue(stuckGot.isEmpty(), "nothing was requested, nothing was delivered");
        assertNull(direct.done.getNow(null), "the other subscriber is not ended");
    }

    @Test
    void aCancelledSubscriberIsRemoved() throws Exception {
        ContainerEvents hub = serve(ContainerEvents.DEFAULT_BUFFER);
        CompletableFuture<ClientCallStreamObserver<GetEventsRequest>> call = new CompletableFuture<>();
        Reader r = new Reader();
        RuntimeServiceGrpc.newStub(channel).getContainerEvents(GetEventsRequest.getDefaultInstance(),
                new ClientResponseObserver<GetEventsRequest, ContainerEventResponse>() {
                    @Override
                    public void beforeStart(ClientCallStreamObserver<GetEventsRequest> c) {
                        call.complete(c);
                    }

                    @Override
                    public void onNext(ContainerEventResponse value) {
                        r.onNext(value);
                    }

                    @Override
                    public void onError(Throwable t) {
                        r.onError(t);
                    }

                    @Override
                    public void onCompleted() {
                        r.onCompleted();
                    }
                });
        await(() -> hub.subscribers() == 1, "the subscriber is connected");
        hub.publish(event(1));
        await(() -> r.events.size() == 1, "the first event arrives");
        call.get().cancel("the client goes away", null);
        await(() -> hub.subscribers() == 0, "the cancelled subscriber is removed");
        hub.publish(event(2));
        assertEquals(1, r.events.size());
    }
}
