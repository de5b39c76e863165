package dev.berth.cli.config;

/** A configuration problem, reported at start-up as one line naming the key and the file. */
public final class ConfigException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public ConfigException(String message) {
        super(message);
    }
}
