package dev.berth.cli.client;

import picocli.CommandLine.Option;

/**
 * {@link ClientOptions} for the commands whose own short options are crictl's {@code -i}
 * (interactive) and {@code -t} (tty, timestamps): the same connection options, with
 * {@code --image-endpoint} and {@code --timeout} by their long names only.
 */
public final class StreamOptions extends ConnectionOptions {
    @Option(names = "--image-endpoint", paramLabel = "unix:///PATH", description = IMAGE_ENDPOINT)
    String imageEndpoint;

    @Option(names = "--timeout", paramLabel = "SECONDS", description = TIMEOUT)
    Long timeoutSeconds;

    @Override
    String imageEndpoint() {
        return imageEndpoint;
    }

    @Override
    Long timeoutSeconds() {
        return timeoutSeconds;
    }
}
