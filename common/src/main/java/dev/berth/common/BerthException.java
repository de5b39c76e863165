package dev.berth.common;

/**
 * The closed family of failures berth's modules report. Each kind maps to exactly one gRPC
 * status code, in one place (the agent's error translation); domain code never builds gRPC
 * statuses itself.
 */
public class BerthException extends RuntimeException {
    /** What went wrong, in the terms a CRI caller can act on. */
    public enum Kind {
        INVALID_ARGUMENT,
        NOT_FOUND,
        ALREADY_EXISTS,
        FAILED_PRECONDITION,
        PERMISSION_DENIED,
        UNAUTHENTICATED,
        RESOURCE_EXHAUSTED,
        DEADLINE_EXCEEDED,
        UNAVAILABLE,
        CANCELLED,
        INTERNAL
    }

    private static final long serialVersionUID = 1L;
    private final Kind kind;

    public BerthException(Kind kind, String message) {
        super(message);
        this.kind = kind;
    }

    public BerthException(Kind kind, String message, Throwable cause) {
        super(message, cause);
        this.kind = kind;
    }

    public Kind kind() {
        return kind;
    }

    public static BerthException invalidArgument(String format, Object... args) {
        return new BerthException(Kind.INVALID_ARGUMENT, String.format(format, args));
    }

    public static BerthException notFound(String format, Object... args) {
        return new BerthException(Kind.NOT_FOUND, String.format(format, args));
    }

    public static BerthException alreadyExists(String format, Object... args) {
        return new BerthException(Kind.ALREADY_EXISTS, String.format(format, args));
    }

    public static BerthException failedPrecondition(String format, Object... args) {
        return new BerthException(Kind.FAILED_PRECONDITION, String.format(format, args));
    }

    public static BerthException permissionDenied(String format, Object... args) {
        return new BerthException(Kind.PERMISSION_DENIED, String.format(format, args));
    }

    public static BerthException unauthenticated(String format, Object... args) {
        return new BerthException(Kind.UNAUTHENTICATED, String.format(format, args));
    }

    public static BerthException resourceExhausted(String format, Object... args) {
        return new BerthException(Kind.RESOURCE_EXHAUSTED, String.format(format, args));
    }

    public static BerthException deadlineExceeded(String format, Object... args) {
        return new BerthException(Kind.DEADLINE_EXCEEDED, String.format(format, args));
    }

    public static BerthException unavailable(String format, Object... args) {
        return new BerthException(Kind.UNAVAILABLE, String.format(format, args));
    }

    public static BerthException internal(String message, Throwable cause) {
        return new BerthException(Kind.INTERNAL, message, cause);
    }
}
