package dev.berth.criserver.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.common.BerthException;
import dev.berth.cri.v1.RuntimeServiceGrpc;
import dev.berth.cri.v1.VersionRequest;
import dev.berth.cri.v1.VersionResponse;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Path;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GrpcErrorsTest {
    @Test
    void everyKindHasItsOwnCode() {
        for (BerthException.Kind kind : BerthException.Kind.values()) {
            Status s = GrpcErrors.toStatus(new BerthException(kind, "m"));
            assertEquals(kind.name(), s.getCode().name());
        }
    }

    @Test
    void wrappersAreUnwrapped() {
        Status s = GrpcErrors.toStatus(new CompletionException(BerthException.alreadyExists("sandbox %s exists", "x")));
        assertEquals(Status.Code.ALREADY_EXISTS, s.getCode());
        assertEquals("sandbox x exists", s.getDescription());
    }

    @Test
    void grpcStatusesPassThrough() {
        assertEquals(Status.Code.DEADLINE_EXCEEDED,
                GrpcErrors.toStatus(Status.DEADLINE_EXCEEDED.asRuntimeException()).getCode());
    }

    /**
     * A message quoting a huge caller-chosen name reaches the client as its own code with a
     * bounded description; unbounded, the trailer exceeded the client's header limit and the
     * client saw an INTERNAL transport error instead.
     */
    @Test
    void aHugeMessageReachesTheClientCutToItsBound(@TempDir Path dir) {
        String name = "n".repeat(1 << 20);
        CriRegistry registry = new CriRegistry().unary(RuntimeServiceGrpc.getVersionMethod(), (VersionRequest r) -> {
            throw BerthException.invalidArgument("name \"%s\" is not valid", name);
        });
        CriServer server = CriServer.start(dir.resolve("cri.sock"), registry, CriServer.Limits.of(1 << 20, 8));
        ManagedChannel channel = Grpc.newChannelBuilder("unix://" + server.socket(), InsecureChannelCredentials.create()).build();
        try {
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> RuntimeServiceGrpc.newBlockingStub(channel)
                    .withDeadlineAfter(30, TimeUnit.SECONDS).version(VersionRequest.getDefaultInstance()));
            assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.toString());
            String d = e.getStatus().getDescription();
            assertTrue(d.startsWith("name \"nnn") && d.length() <= GrpcErrors.MAX_DESCRIPTION, d.length() + " characters");
            assertTrue(d.endsWith("more characters)"), d.substring(d.length() - 40));
        } finally {
            channel.shutdownNow();
            server.close();
        }
    }

    @Test
    void shortMessagesAreKeptWhole() {
        assertEquals("sandbox x exists", GrpcErrors.bounded("sandbox x exists"));
        assertEquals(GrpcErrors.MAX_DESCRIPTION, GrpcErrors.bounded("x".repeat(10_000)).length());
    }
}
