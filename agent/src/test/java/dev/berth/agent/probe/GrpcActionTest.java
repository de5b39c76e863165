package dev.berth.agent.probe;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fabric8.kubernetes.api.model.ContainerBuilder;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.ProbeBuilder;
import io.grpc.Server;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ServerCalls;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** grpc probes against a grpc-java server on loopback: SERVING, NOT_SERVING, no health service, a slow answer, nobody listening. */
class GrpcActionTest {
    Server server;
    final List<String> agents = new CopyOnWriteArrayList<>();

    @AfterEach
    void stop() {
        if (server != null) {
            server.shutdownNow();
        }
    }

    /** A health server answering by service name ("" is the server as a whole); "slow" answers after 3 s. */
    private int serve(Map<String, GrpcHealth.ServingStatus> statuses, boolean withHealth) throws IOException {
        NettyServerBuilder b = NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
        if (withHealth) {
            b.addService(ServerServiceDefinition.builder(GrpcHealth.SERVICE).addMethod(GrpcHealth.CHECK,
                    ServerCalls.asyncUnaryCall((service, out) -> {
                        if (service.equals("slow")) {
                            try {
                                Thread.sleep(3000);
                            } catch (InterruptedException e) {
                                Thread.currentThread().interrupt();
                            }
                        }
                        GrpcHealth.ServingStatus s = statuses.get(service);
                        if (s == null) {
                            out.onError(Status.NOT_FOUND.withDescription("unknown service").asRuntimeException());
                            return;
                        }
                        out.onNext(s);
                        out.onCompleted();
                    })).build());
        }
        b.intercept(new io.grpc.ServerInterceptor() {
            @Override
            public <Q, A> io.grpc.ServerCall.Listener<Q> interceptCall(io.grpc.ServerCall<Q, A> call, io.grpc.Metadata headers,
                    io.grpc.ServerCallHandler<Q, A> next) {
                agents.add(headers.get(io.grpc.Metadata.Key.of("user-agent", io.grpc.Metadata.ASCII_STRING_MARSHALLER)));
                return next.startCall(call, headers);
            }
        });
        server = b.build().start();
        return server.getPort();
    }

    private static ProbeResult probe(int port, String service, int timeout) {
        Probe p = new ProbeBuilder().withNewGrpc().withPort(port).withService(service).endGrpc().withTimeoutSeconds(timeout).build();
        return new Actions(null).probe(p, new ContainerBuilder().withName("c").build(), "c1", "127.0.0.1");
    }

    @Test
    void servingPassesAndAnyOtherAnswerFails() throws IOException {
        int port = serve(Map.of("", GrpcHealth.ServingStatus.SERVING, "db", GrpcHealth.ServingStatus.NOT_SERVING), true);
        assertEquals(ProbeResult.success("service healthy"), probe(port, null, 2));
        assertEquals(ProbeResult.failure("service unhealthy (responded with \"NOT_SERVING\")"), probe(port, "db", 2));
        ProbeResult unknown = probe(port, "cache", 2);
        assertEquals(ProbeResult.Outcome.FAILURE, unknown.outcome());
        assertTrue(unknown.message().startsWith("error: health rpc probe failed: rpc error: code = NOT_FOUND"), unknown.message());
        assertTrue(agents.get(0).startsWith("kube-probe/1.36"), agents.toString());
    }

    @Test
    void aServerWithoutTheHealthServiceFails() throws IOException {
        int port = serve(Map.of(), false);
        ProbeResult r = probe(port, null, 2);
        assertEquals(ProbeResult.Outcome.FAILURE, r.outcome());
        assertTrue(r.message().startsWith("this server does not implement the grpc health protocol (grpc.health.v1.Health)"), r.message());
    }

    @Test
    void aSlowAnswerFailsAtTheTimeout() throws IOException {
        int port = serve(Map.of("slow", GrpcHealth.ServingStatus.SERVING), true);
        assertEquals(ProbeResult.failure("timeout: health rpc did not complete within 1s"), probe(port, "slow", 1));
    }

    @Test
    void nobodyListeningFails() throws IOException {
        int port;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        ProbeResult r = probe(port, null, 1);
        assertEquals(ProbeResult.Outcome.FAILURE, r.outcome());
        assertTrue(r.message().startsWith("failed to connect service \"127.0.0.1:" + port + "\" within 1s"), r.message());
    }

    @Test
    void theMessagesAreTheHealthProtocolsBytes() throws IOException {
        assertEquals("db", GrpcHealth.REQUEST.parse(GrpcHealth.REQUEST.stream("db")));
        assertEquals(0, GrpcHealth.REQUEST.stream("").readAllBytes().length, "the default service: an empty message");
        byte[] serving = GrpcHealth.RESPONSE.stream(GrpcHealth.ServingStatus.SERVING).readAllBytes();
        assertEquals(List.of((byte) 0x08, (byte) 0x01), List.of(serving[0], serving[1]), "field 1, varint 1");
        assertEquals(GrpcHealth.ServingStatus.NOT_SERVING, GrpcHealth.RESPONSE.parse(new java.io.ByteArrayInputStream(new byte[] {8, 2})));
    }
}
