package dev.berth.cli.client;

/** A client command's failure with the exit code it ends with (see {@link ExitCodes}); the message is shown as is. */
public final class ClientException extends RuntimeException {
    private final int exitCode;

    public ClientException(int exitCode, String message) {
        super(message);
        this.exitCode = exitCode;
    }

    public ClientException(int exitCode, String message, Throwable cause) {
        super(message, cause);
        this.exitCode = exitCode;
    }

    public int exitCode() {
        return exitCode;
    }

    public static ClientException notFound(String message) {
        return new ClientException(ExitCodes.NOT_FOUND, message);
    }

    public static ClientException usage(String message) {
        return new ClientException(ExitCodes.USAGE, message);
    }
}
