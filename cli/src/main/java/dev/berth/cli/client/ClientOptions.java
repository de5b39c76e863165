package dev.berth.cli.client;

import picocli.CommandLine.Option;

/** The connection options every CRI client command takes, spelled as crictl spells them (see {@link ConnectionOptions}). */
public final class ClientOptions extends ConnectionOptions {
    @Option(names = {"-i", "--image-endpoint"}, paramLabel = "unix:///PATH", description = IMAGE_ENDPOINT)
    String imageEndpoint;

    @Option(names = {"-t", "--timeout"}, paramLabel = "SECONDS", description = TIMEOUT)
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
