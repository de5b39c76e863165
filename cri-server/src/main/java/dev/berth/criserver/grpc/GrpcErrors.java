package dev.berth.criserver.grpc;

import dev.berth.common.BerthException;
import io.grpc.Status;
import io.grpc.StatusException;
import io.grpc.StatusRuntimeException;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The one place where failures become gRPC status codes. */
public final class GrpcErrors {
    private static final Logger LOG = LoggerFactory.getLogger(GrpcErrors.class);
    /**
     * Most characters of a status description. Messages quote what the caller or an image sent
     * (names, paths, ids); a description travels in an HTTP/2 trailer that a client refuses
     * beyond its header limit (8 KiB by default), which turned a clear error into a transport one.
     */
    static final int MAX_DESCRIPTION = 4096;

    private GrpcErrors() {
    }

    public static Status toStatus(Throwable t) {
        while ((t instanceof CompletionException || t instanceof ExecutionException) && t.getCause() != null) {
            t = t.getCause();
        }
        if (t instanceof StatusRuntimeException sre) {
            return sre.getStatus();
        }
        if (t instanceof StatusException se) {
            return se.getStatus();
        }
        if (t instanceof BerthException be) {
            Status.Code code = switch (be.kind()) {
                case INVALID_ARGUMENT -> Status.Code.INVALID_ARGUMENT;
                case NOT_FOUND -> Status.Code.NOT_FOUND;
                case ALREADY_EXISTS -> Status.Code.ALREADY_EXISTS;
                case FAILED_PRECONDITION -> Status.Code.FAILED_PRECONDITION;
                case PERMISSION_DENIED -> Status.Code.PERMISSION_DENIED;
                case UNAUTHENTICATED -> Status.Code.UNAUTHENTICATED;
                case RESOURCE_EXHAUSTED -> Status.Code.RESOURCE_EXHAUSTED;
                case DEADLINE_EXCEEDED -> Status.Code.DEADLINE_EXCEEDED;
                case UNAVAILABLE -> Status.Code.UNAVAILABLE;
                case CANCELLED -> Status.Code.CANCELLED;
                case INTERNAL -> Status.Code.INTERNAL;
            };
            String message = be.getMessage();
            if (be.kind() == BerthException.Kind.INTERNAL && be.getCause() != null) {
                message = message + ": " + be.getCause();
            }
            return Status.fromCode(code).withDescription(bounded(message)).withCause(be);
        }
        if (t instanceof CancellationException || t instanceof InterruptedException) {
            return Status.CANCELLED.withDescription("the operation was cancelled").withCause(t);
        }
        LOG.error("internal error", t);
        return Status.INTERNAL.withDescription(bounded("internal error: " + t)).withCause(t);
    }

    /** {@code message}, cut to {@link #MAX_DESCRIPTION} characters with a note of how much was left out. */
    static String bounded(String message) {
        if (message == null || message.length() <= MAX_DESCRIPTION) {
            return message;
        }
        String tail = "… (" + (message.length() - MAX_DESCRIPTION) + " more characters)";
        return message.substring(0, MAX_DESCRIPTION - tail.length()) + tail;
    }

    public static StatusRuntimeException toStatusException(Throwable t) {
        return toStatus(t).asRuntimeException();
    }
}
