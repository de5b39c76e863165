package dev.berth.e2e;

import dev.berth.agent.probe.GrpcHealth;
import io.grpc.Server;
import io.grpc.ServerServiceDefinition;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ServerCalls;
import java.net.InetSocketAddress;

/**
 * A gRPC health server ({@code grpc.health.v1.Health/Check}) answering {@code args[1]} (a
 * ServingStatus) on port {@code args[0]} of every address, until stdin closes. The probe test
 * starts it in a pod's network namespace through nsenter.
 */
public final class HealthServerMain {
    private HealthServerMain() {
    }

    public static void main(String[] args) throws Exception {
        GrpcHealth.ServingStatus status = GrpcHealth.ServingStatus.valueOf(args[1]);
        Server server = NettyServerBuilder.forAddress(new InetSocketAddress(Integer.parseInt(args[0])))
                .addService(ServerServiceDefinition.builder(GrpcHealth.SERVICE).addMethod(GrpcHealth.CHECK,
                        ServerCalls.asyncUnaryCall((service, out) -> {
                            out.onNext(status);
                            out.onCompleted();
                        })).build())
                .build().start();
        System.out.println("serving");
        System.out.flush();
        while (System.in.read() >= 0) {
            // until the test closes our stdin (or dies)
        }
        server.shutdownNow();
    }
}
