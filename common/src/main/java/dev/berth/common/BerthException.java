package dev.berth.common;

import java.io.IOException;
import java.nio.file.FileSystemException;
import java.nio.file.Path;
import java.util.IdentityHashMap;
import java.util.Map;

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

    /**
     * The failure for an I/O error while doing {@code what} in the store at {@code where}:
     * RESOURCE_EXHAUSTED naming that filesystem when it is full or the disk quota is exceeded
     * (the caller can free space and retry; it is neither berth's bug nor the network's),
     * INTERNAL otherwise.
     */
    public static BerthException fromIo(String what, Path where, IOException e) {
        String reason = noSpaceReason(e);
        if (reason == null) {
            return internal(what, e);
        }
        return new BerthException(Kind.RESOURCE_EXHAUSTED,
                what + ": " + reason + (where == null ? "" : " (the filesystem of " + where + " is full)"), e);
    }

    /** {@link #fromIo(String, Path, IOException)} naming the file the error names, if any. */
    public static BerthException fromIo(String what, IOException e) {
        String file = e instanceof FileSystemException fse ? fse.getFile() : null;
        return fromIo(what, file == null ? null : Path.of(file), e);
    }

    /** True when {@code t} or one of its causes says a filesystem is full or a disk quota exceeded (ENOSPC, EDQUOT). */
    public static boolean isNoSpace(Throwable t) {
        return noSpaceReason(t) != null;
    }

    /** The kernel's words for ENOSPC or EDQUOT found in {@code t} or its causes, or null. */
    private static String noSpaceReason(Throwable t) {
        Map<Throwable, Boolean> seen = new IdentityHashMap<>();
        for (Throwable c = t; c != null && seen.put(c, Boolean.TRUE) == null; c = c.getCause()) {
            String m = c instanceof FileSystemException fse ? fse.getReason() : c.getMessage();
            if (c instanceof IOException && m != null) {
                for (String reason : NO_SPACE) {
                    if (m.contains(reason)) {
                        return reason;
                    }
                }
            }
        }
        return null;
    }

    /** strerror(ENOSPC) and strerror(EDQUOT), as the JDK reports them. */
    private static final String[] NO_SPACE = {"No space left on device", "Disk quota exceeded"};
}
