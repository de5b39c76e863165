package dev.berth.cli.client;

import java.nio.file.Path;
import java.time.Duration;
import picocli.CommandLine.Option;

/** The connection options every CRI client command takes, spelled as crictl spells them (see {@link Endpoints}). */
public final class ClientOptions {
    @Option(names = {"-r", "--runtime-endpoint"}, paramLabel = "unix:///PATH",
            description = "the runtime's CRI socket (default: $CONTAINER_RUNTIME_ENDPOINT, else runtime-endpoint of the client config, else "
                    + Endpoints.DEFAULT_ENDPOINT + ")")
    String runtimeEndpoint;

    @Option(names = {"-i", "--image-endpoint"}, paramLabel = "unix:///PATH",
            description = "the image service's socket (default: $IMAGE_SERVICE_ENDPOINT, else image-endpoint of the client config, else the runtime endpoint)")
    String imageEndpoint;

    @Option(names = {"-c", "--config"}, paramLabel = "FILE",
            description = "client config in crictl's format (default: $CRI_CONFIG_FILE, else /etc/crictl.yaml when it exists)")
    Path config;

    @Option(names = {"-t", "--timeout"}, paramLabel = "SECONDS",
            description = "how long a call may take, connecting included (default: timeout of the client config, else 10)")
    Long timeoutSeconds;

    @Option(names = {"-D", "--debug"}, description = "print each call's request and response on stderr")
    boolean debug;

    /** The endpoints these options, the environment and the configuration file name. */
    public Endpoints endpoints() {
        if (timeoutSeconds != null && timeoutSeconds <= 0) {
            throw ClientException.usage("--timeout must be at least 1 second");
        }
        return Endpoints.resolve(new Endpoints.Flags(runtimeEndpoint, imageEndpoint, config,
                timeoutSeconds == null ? null : Duration.ofSeconds(timeoutSeconds), debug), System.getenv());
    }

    /** A session with the runtime; close it when done. */
    public CriSession connect() {
        return CriSession.open(endpoints());
    }
}
