package dev.berth.agent.probe;

import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.ClientCalls;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * A grpc probe: {@code grpc.health.v1.Health/Check} for the optional service name on a
 * connection of its own, in plain text (no TLS, as the kubelet), within the timeout; SERVING
 * passes, any other answer or error fails, with the kubelet's messages.
 */
final class GrpcAction {
    private GrpcAction() {
    }

    static ProbeResult check(String host, int port, String service, String userAgent, Duration timeout) {
        ManagedChannel channel = NettyChannelBuilder.forAddress(host, port).usePlaintext().userAgent(userAgent)
                .maxInboundMessageSize(64 * 1024).build();
        try {
            GrpcHealth.ServingStatus status = ClientCalls.blockingUnaryCall(channel, GrpcHealth.CHECK,
                    CallOptions.DEFAULT.withDeadlineAfter(timeout.toMillis(), TimeUnit.MILLISECONDS), service == null ? "" : service);
            if (status != GrpcHealth.ServingStatus.SERVING) {
                return ProbeResult.failure("service unhealthy (responded with \"" + status + "\")");
            }
            return ProbeResult.success("service healthy");
        } catch (StatusRuntimeException e) {
            Status s = e.getStatus();
            return switch (s.getCode()) {
                case UNIMPLEMENTED -> ProbeResult.failure("this server does not implement the grpc health protocol ("
                        + GrpcHealth.SERVICE + "): " + describe(s));
                case DEADLINE_EXCEEDED -> ProbeResult.failure("timeout: health rpc did not complete within " + seconds(timeout));
                case UNAVAILABLE -> ProbeResult.failure("failed to connect service \"" + host + ":" + port + "\" within "
                        + seconds(timeout) + ": " + describe(s));
                default -> ProbeResult.failure("error: health rpc probe failed: " + describe(s));
            };
        } finally {
            channel.shutdownNow();
        }
    }

    private static String describe(Status s) {
        return "rpc error: code = " + s.getCode() + " desc = " + (s.getDescription() == null ? "" : s.getDescription());
    }

    static String seconds(Duration d) {
        return d.toMillis() % 1000 == 0 ? d.toSeconds() + "s" : d.toMillis() / 1000.0 + "s";
    }
}
