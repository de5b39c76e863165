package dev.berth.cli.client;

import java.nio.file.Path;
import picocli.CommandLine.Option;

/**
 * {@link ClientOptions} for the commands whose own short options are crictl's {@code -i}
 * (interactive) and {@code -t} (tty, timestamps): the same connection options, with
 * {@code --image-endpoint} and {@code --timeout} by their long names only.
 */
public final class StreamOptions {
    @Option(names = {"-r", "--runtime-endpoint"}, paramLabel = "unix:///PATH",
            description = "the runtime's CRI socket (default: $CONTAINER_RUNTIME_ENDPOINT, else runtime-endpoint of the client config, else "
                    + Endpoints.DEFAULT_ENDPOINT + ")")
    String runtimeEndpoint;

    @Option(names = "--image-endpoint", paramLabel = "unix:///PATH",
            description = "the image service's socket (default: $IMAGE_SERVICE_ENDPOINT, else image-endpoint of the client config, else the runtime endpoint)")
    String imageEndpoint;

    @Option(names = {"-c", "--config"}, paramLabel = "FILE",
            description = "client config in crictl's format (default: $CRI_CONFIG_FILE, else /etc/crictl.yaml when it exists)")
    Path config;

    @Option(names = "--timeout", paramLabel = "SECONDS",
            description = "how long a call may take, connecting included (default: timeout of the client config, else 10)")
    Long timeoutSeconds;

    @Option(names = {"-D", "--debug"}, description = "print each call's request and response on stderr")
    boolean debug;

    /** The same as {@link ClientOptions}, resolved the same way. */
    ClientOptions clientOptions() {
        ClientOptions o = new ClientOptions();
        o.runtimeEndpoint = runtimeEndpoint;
        o.imageEndpoint = imageEndpoint;
        o.config = config;
        o.timeoutSeconds = timeoutSeconds;
        o.debug = debug;
        return o;
    }

    /** A session with the runtime; close it when done. */
    CriSession connect() {
        return clientOptions().connect();
    }
}
