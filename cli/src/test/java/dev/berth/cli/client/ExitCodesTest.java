package dev.berth.cli.client;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.grpc.Status;
import org.junit.jupiter.api.Test;

class ExitCodesTest {
    @Test
    void grpcStatusesMapToTheDocumentedCodes() {
        assertEquals(ExitCodes.OK, ExitCodes.of(Status.Code.OK));
        assertEquals(ExitCodes.NOT_FOUND, ExitCodes.of(Status.NOT_FOUND.asRuntimeException()));
        assertEquals(ExitCodes.UNREACHABLE, ExitCodes.of(Status.Code.UNAVAILABLE));
        assertEquals(ExitCodes.UNREACHABLE, ExitCodes.of(Status.Code.DEADLINE_EXCEEDED));
        assertEquals(ExitCodes.UNIMPLEMENTED, ExitCodes.of(Status.Code.UNIMPLEMENTED));
        assertEquals(ExitCodes.USAGE, ExitCodes.of(Status.Code.INVALID_ARGUMENT));
        assertEquals(ExitCodes.FAILED, ExitCodes.of(Status.Code.INTERNAL));
        assertEquals(ExitCodes.FAILED, ExitCodes.of(Status.Code.FAILED_PRECONDITION));
        assertEquals(6, ExitCodes.help().size(), "every code is in --help");
    }

    @Test
    void aConnectionRefusedForPermissionsSaysWhyAndWhatToDo() {
        String denied = ClientCommands.describe(Status.UNAVAILABLE.withDescription("io exception")
                .withCause(new java.io.IOException("connect(..) failed: Permission denied")).asRuntimeException());
        assertEquals("cannot reach the runtime: connect(..) failed: Permission denied"
                + " (the runtime's socket is open to root only: run berth as root)", denied);
        assertEquals("NOT_FOUND: container \"x\" not found",
                ClientCommands.describe(Status.NOT_FOUND.withDescription("container \"x\" not found").asRuntimeException()));
        assertEquals("UNAVAILABLE: draining", ClientCommands.describe(Status.UNAVAILABLE.withDescription("draining").asRuntimeException()));
    }
}
