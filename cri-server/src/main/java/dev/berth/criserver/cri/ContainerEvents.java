package dev.berth.criserver.cri;

import dev.berth.criserver.grpc.CriRegistry;
import dev.berth.cri.v1.ContainerEventResponse;
import dev.berth.cri.v1.GetEventsRequest;
import dev.berth.cri.v1.RuntimeServiceGrpc;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.ArrayDeque;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * GetContainerEvents: a hub that hands every published event to every subscriber. Each
 * subscriber has a bounded buffer drained as gRPC flow control allows; a subscriber whose
 * buffer is full is dropped with RESOURCE_EXHAUSTED, so {@link #publish} never waits for a
 * slow reader and runtime operations are never held up by one.
 */
public final class ContainerEvents implements CriRegistry.Feature {
    public static final int DEFAULT_BUFFER = 1024;

    private final int buffer;
    private final Set<Subscriber> subscribers = ConcurrentHashMap.newKeySet();

    public ContainerEvents(int buffer) {
        if (buffer <= 0) {
            throw new IllegalArgumentException("buffer must be positive");
        }
        this.buffer = buffer;
    }

    @Override
    public void register(CriRegistry registry) {
        registry.serverStreaming(RuntimeServiceGrpc.getGetContainerEventsMethod(),
                (GetEventsRequest r, StreamObserver<ContainerEventResponse> out) -> subscribe(out));
    }

    /** Adds a subscriber; it receives every event published from now on until it goes away or falls behind. */
    public void subscribe(StreamObserver<ContainerEventResponse> out) {
        Subscriber s = new Subscriber(out);
        subscribers.add(s);
        if (out instanceof ServerCallStreamObserver<ContainerEventResponse> call) {
            s.call = call;
            call.setOnCancelHandler(() -> s.close());
            call.setOnReadyHandler(s::drain);
        }
        s.drain();
    }

    /** Queues the event for every subscriber; never blocks. */
    public void publish(ContainerEventResponse event) {
        for (Subscriber s : subscribers) {
            s.offer(event);
        }
    }

    /** How many subscribers are connected. */
    public int subscribers() {
        return subscribers.size();
    }

    private final class Subscriber {
        private final StreamObserver<ContainerEventResponse> out;
        private volatile ServerCallStreamObserver<ContainerEventResponse> call;
        private final ArrayDeque<ContainerEventResponse> queue = new ArrayDeque<>();
        private boolean closed;
        private boolean failed;
        private boolean draining;

        Subscriber(StreamObserver<ContainerEventResponse> out) {
            this.out = out;
        }

        void offer(ContainerEventResponse event) {
            synchronized (this) {
                if (closed || failed) {
                    return;
                }
                if (queue.size() >= buffer) {
                    // dropped: the client is told why once the drain is free to send
                    queue.clear();
                    failed = true;
                    subscribers.remove(this);
                } else {
                    queue.add(event);
                }
            }
            drain();
        }

        /** Sends queued events while the transport is ready; one thread at a time keeps the order. */
        void drain() {
            while (true) {
                ContainerEventResponse next = null;
                synchronized (this) {
                    if (closed || draining) {
                        return;
                    }
                    if (!failed) {
                        ServerCallStreamObserver<ContainerEventResponse> c = call;
                        if (queue.isEmpty() || (c != null && !c.isReady())) {
                            return;
                        }
                        next = queue.poll();
                    } else {
                        closed = true;
                    }
                    draining = true;
                }
                try {
                    if (next != null) {
                        out.onNext(next);
                    } else {
                        out.onError(Status.RESOURCE_EXHAUSTED
                                .withDescription("the subscriber fell " + buffer + " container events behind and was dropped")
                                .asRuntimeException());
                        return;
                    }
                } catch (RuntimeException e) {
                    close();
                    return;
                } finally {
                    synchronized (this) {
                        draining = false;
                    }
                }
            }
        }

        void close() {
            synchronized (this) {
                closed = true;
                queue.clear();
            }
            subscribers.remove(this);
        }
    }
}
