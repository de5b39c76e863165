package dev.berth.criserver.grpc;

import dev.berth.cri.berth.v1.PullProgressGrpc;
import dev.berth.cri.v1.ImageServiceGrpc;
import dev.berth.cri.v1.RuntimeServiceGrpc;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCallHandler;
import io.grpc.ServerServiceDefinition;
import io.grpc.ServiceDescriptor;
import io.grpc.stub.ServerCalls;
import io.grpc.stub.StreamObserver;
import java.util.HashMap;
import java.util.Map;

/**
 * Where each CRI feature of berth registers the RPCs it serves. Every method of the two CRI
 * services (and of berth's own beside them) that nothing registered answers UNIMPLEMENTED, which is what the kubelet and crictl
 * expect from a runtime that does not offer it. Exceptions thrown by a handler become gRPC
 * statuses through {@link GrpcErrors}.
 */
public final class CriRegistry {
    /** A synchronous handler of one unary RPC. */
    @FunctionalInterface
    public interface Unary<Q, R> {
        R handle(Q request) throws Exception;
    }

    /** A handler of a server-streaming RPC. */
    @FunctionalInterface
    public interface Streaming<Q, R> {
        void handle(Q request, StreamObserver<R> responses) throws Exception;
    }

    /** Something that serves CRI RPCs. */
    public interface Feature {
        void register(CriRegistry registry);
    }

    private final Map<String, ServerCallHandler<?, ?>> handlers = new HashMap<>();

    public <Q, R> CriRegistry unary(MethodDescriptor<Q, R> method, Unary<Q, R> handler) {
        put(method, ServerCalls.asyncUnaryCall((Q request, StreamObserver<R> out) -> {
            R response;
            try {
                response = handler.handle(request);
            } catch (Throwable t) {
                out.onError(GrpcErrors.toStatusException(t));
                return;
            }
            out.onNext(response);
            out.onCompleted();
        }));
        return this;
    }

    public <Q, R> CriRegistry serverStreaming(MethodDescriptor<Q, R> method, Streaming<Q, R> handler) {
        put(method, ServerCalls.asyncServerStreamingCall((Q request, StreamObserver<R> out) -> {
            try {
                handler.handle(request, out);
            } catch (Throwable t) {
                out.onError(GrpcErrors.toStatusException(t));
            }
        }));
        return this;
    }

    /** A unary RPC answered later, from another thread (e.g. an image pull). */
    public <Q, R> CriRegistry asyncUnary(MethodDescriptor<Q, R> method, Streaming<Q, R> handler) {
        put(method, ServerCalls.asyncUnaryCall((Q request, StreamObserver<R> out) -> {
            try {
                handler.handle(request, out);
            } catch (Throwable t) {
                out.onError(GrpcErrors.toStatusException(t));
            }
        }));
        return this;
    }

    private void put(MethodDescriptor<?, ?> method, ServerCallHandler<?, ?> handler) {
        if (handlers.putIfAbsent(method.getFullMethodName(), handler) != null) {
            throw new IllegalStateException(method.getFullMethodName() + " is registered twice");
        }
    }

    public ServerServiceDefinition runtimeService() {
        return build(RuntimeServiceGrpc.getServiceDescriptor());
    }

    public ServerServiceDefinition imageService() {
        return build(ImageServiceGrpc.getServiceDescriptor());
    }

    /** berth's own services beside the CRI on the same socket (berth.v1.PullProgress); UNIMPLEMENTED where nothing registered. */
    public ServerServiceDefinition berthServices() {
        return build(PullProgressGrpc.getServiceDescriptor());
    }

    /** Every service a server of this registry offers: the two CRI services and berth's own. */
    public java.util.List<ServerServiceDefinition> services() {
        return java.util.List.of(runtimeService(), imageService(), berthServices());
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private ServerServiceDefinition build(ServiceDescriptor service) {
        ServerServiceDefinition.Builder b = ServerServiceDefinition.builder(service);
        for (MethodDescriptor<?, ?> m : service.getMethods()) {
            ServerCallHandler handler = handlers.get(m.getFullMethodName());
            if (handler == null) {
                MethodDescriptor raw = m;
                handler = m.getType() == MethodDescriptor.MethodType.UNARY
                        ? ServerCalls.asyncUnaryCall((q, out) -> ServerCalls.asyncUnimplementedUnaryCall(raw, (StreamObserver) out))
                        : ServerCalls.asyncServerStreamingCall((q, out) -> ServerCalls.asyncUnimplementedUnaryCall(raw, (StreamObserver) out));
            }
            b.addMethod((MethodDescriptor) m, handler);
        }
        return b.build();
    }
}
