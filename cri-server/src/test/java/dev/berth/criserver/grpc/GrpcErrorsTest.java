package dev.berth.criserver.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.berth.common.BerthException;
import io.grpc.Status;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.Test;

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
}
