package dev.berth.cli.client;

import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The exit codes of berth's CRI client commands, the same for every command so scripts can
 * rely on them. {@code exec} (and {@code run --attach}, {@code attach}) exit with the
 * container's own code when the command ran.
 */
public final class ExitCodes {
    /** The command did what it was asked. */
    public static final int OK = 0;
    /** The runtime refused or failed the call (any gRPC status not listed below), or the client failed. */
    public static final int FAILED = 1;
    /** Bad command line: unknown option, missing or malformed argument, unreadable input file. */
    public static final int USAGE = 2;
    /** The object named (pod, container, image) does not exist, or a prefix matched more than one. */
    public static final int NOT_FOUND = 3;
    /** The runtime could not be reached: no socket, connection refused, or no answer within --timeout. */
    public static final int UNREACHABLE = 4;
    /** The runtime does not implement the call (gRPC UNIMPLEMENTED). */
    public static final int UNIMPLEMENTED = 5;

    private ExitCodes() {
    }

    /** The exit code for a failed CRI call. */
    public static int of(StatusRuntimeException e) {
        return of(e.getStatus().getCode());
    }

    static int of(Status.Code code) {
        return switch (code) {
            case OK -> OK;
            case NOT_FOUND -> NOT_FOUND;
            case UNAVAILABLE, DEADLINE_EXCEEDED -> UNREACHABLE;
            case UNIMPLEMENTED -> UNIMPLEMENTED;
            case INVALID_ARGUMENT -> USAGE;
            default -> FAILED;
        };
    }

    /** The table shown under "Exit codes" in every client command's --help. */
    public static Map<String, String> help() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put(String.valueOf(OK), "success");
        m.put(String.valueOf(FAILED), "the runtime refused or failed the call");
        m.put(String.valueOf(USAGE), "bad command line or input (also the runtime's INVALID_ARGUMENT)");
        m.put(String.valueOf(NOT_FOUND), "no such pod, container or image, or an ambiguous ID prefix");
        m.put(String.valueOf(UNREACHABLE), "the runtime could not be reached or did not answer in time");
        m.put(String.valueOf(UNIMPLEMENTED), "the runtime does not implement the call");
        return m;
    }
}
