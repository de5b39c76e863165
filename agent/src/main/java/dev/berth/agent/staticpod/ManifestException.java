package dev.berth.agent.staticpod;

/** A static pod manifest that is not a valid pod; the message names the file. */
public final class ManifestException extends RuntimeException {
    public ManifestException(String message) {
        super(message);
    }
}
