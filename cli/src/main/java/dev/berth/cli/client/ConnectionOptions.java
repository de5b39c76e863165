package dev.berth.cli.client;

import java.nio.file.Path;
import java.time.Duration;
import picocli.CommandLine.Option;

/**
 * The connection options of the CRI client's commands and how they resolve (see {@link Endpoints}):
 * {@code -r}, {@code -c} and {@code -D} here; the image endpoint and the timeout are declared by
 * {@link ClientOptions} (with crictl's {@code -i} and {@code -t}) or by {@link StreamOptions}
 * (long names only, where a command's own {@code -i} and {@code -t} mean something else).
 */
abstract class ConnectionOptions {
    static final String RUNTIME_ENDPOINT = "the runtime's CRI socket (default: $CONTAINER_RUNTIME_ENDPOINT, else runtime-endpoint of the client"
            + " config, else " + Endpoints.DEFAULT_ENDPOINT + ")";
    static final String IMAGE_ENDPOINT = "the image service's socket (default: $IMAGE_SERVICE_ENDPOINT, else image-endpoint of the client"
            + " config, else the runtime endpoint)";
    static final String TIMEOUT = "how long a call may take, connecting included (default: timeout of the client config, else 10)";

    @Option(names = {"-r", "--runtime-endpoint"}, paramLabel = "unix:///PATH", description = RUNTIME_ENDPOINT)
    String runtimeEndpoint;

    @Option(names = {"-c", "--config"}, paramLabel = "FILE",
            description = "client config in crictl's format (default: $CRI_CONFIG_FILE, else /etc/crictl.yaml when it exists)")
    Path config;

    @Option(names = {"-D", "--debug"}, description = "print each call's request and response on stderr")
    boolean debug;

    abstract String imageEndpoint();

    abstract Long timeoutSeconds();

    /** The endpoints these options, the environment and the configuration file name. */
    public Endpoints endpoints() {
        Long timeout = timeoutSeconds();
        if (timeout != null && timeout <= 0) {
            throw ClientException.usage("--timeout must be at least 1 second");
        }
        return Endpoints.resolve(new Endpoints.Flags(runtimeEndpoint, imageEndpoint(), config,
                timeout == null ? null : Duration.ofSeconds(timeout), debug), System.getenv());
    }

    /** A session with the runtime; close it when done. */
    public CriSession connect() {
        return CriSession.open(endpoints());
    }
}
