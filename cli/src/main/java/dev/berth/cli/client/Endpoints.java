package dev.berth.cli.client;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

/**
 * Where the client's CRI calls go and how long each may take, as crictl decides it: a flag
 * first, then the environment ({@code CONTAINER_RUNTIME_ENDPOINT}, {@code IMAGE_SERVICE_ENDPOINT}),
 * then the client configuration file ({@code --config}, else {@code CRI_CONFIG_FILE}, else
 * {@code /etc/crictl.yaml}: {@code runtime-endpoint}, {@code image-endpoint}, {@code timeout}
 * in seconds, {@code debug}), then berth's own socket. The image endpoint defaults to the
 * runtime endpoint. An endpoint is {@code unix:///PATH} or a bare absolute path.
 */
public record Endpoints(String runtime, String image, Duration timeout, boolean debug) {
    public static final String DEFAULT_ENDPOINT = "unix:///run/berth/berth.sock";
    public static final Path DEFAULT_CONFIG = Path.of("/etc/crictl.yaml");
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(10);
    /** A client configuration larger than this is refused rather than read. */
    static final int MAX_CONFIG_BYTES = 64 * 1024;

    /** What the command line said; null where it said nothing. */
    public record Flags(String runtime, String image, Path config, Duration timeout, boolean debug) {
    }

    /** The endpoints for these flags, this environment and the configuration file it leads to. */
    public static Endpoints resolve(Flags flags, Map<String, String> env) {
        Path configPath = flags.config() != null ? flags.config()
                : env.getOrDefault("CRI_CONFIG_FILE", "").isEmpty() ? DEFAULT_CONFIG : Path.of(env.get("CRI_CONFIG_FILE"));
        JsonNode file = readConfig(configPath, flags.config() != null || !env.getOrDefault("CRI_CONFIG_FILE", "").isEmpty());
        String runtime = first(flags.runtime(), env.get("CONTAINER_RUNTIME_ENDPOINT"), text(file, "runtime-endpoint"), DEFAULT_ENDPOINT);
        String image = first(flags.image(), env.get("IMAGE_SERVICE_ENDPOINT"), text(file, "image-endpoint"), runtime);
        Duration timeout = flags.timeout();
        if (timeout == null) {
            JsonNode t = file.get("timeout");
            timeout = t != null && t.canConvertToLong() && t.asLong() > 0 ? Duration.ofSeconds(t.asLong()) : DEFAULT_TIMEOUT;
        }
        boolean debug = flags.debug() || (file.has("debug") && file.get("debug").asBoolean(false));
        return new Endpoints(normalize(runtime), normalize(image), timeout, debug);
    }

    /** {@code unix:///PATH} for a bare absolute path or a {@code unix://} endpoint; anything else is refused. */
    static String normalize(String endpoint) {
        String e = endpoint.trim();
        if (e.startsWith("/")) {
            return "unix://" + e;
        }
        if (e.startsWith("unix:///") && e.length() > "unix:///".length()) {
            return e;
        }
        throw ClientException.usage("endpoint \"" + endpoint + "\": only UNIX sockets are supported (unix:///PATH or /PATH)");
    }

    /** The socket path of a normalized endpoint. */
    public static Path socketPath(String endpoint) {
        return Path.of(endpoint.substring("unix://".length()));
    }

    private static JsonNode readConfig(Path path, boolean named) {
        ObjectMapper yaml = new ObjectMapper(new YAMLFactory());
        try {
            if (!Files.isRegularFile(path)) {
                if (named && Files.exists(path)) {
                    throw ClientException.usage(path + ": not a regular file");
                }
                return yaml.createObjectNode();
            }
            byte[] bytes;
            try (InputStream in = Files.newInputStream(path)) {
                bytes = in.readNBytes(MAX_CONFIG_BYTES + 1);
            }
            if (bytes.length > MAX_CONFIG_BYTES) {
                throw ClientException.usage(path + ": larger than " + MAX_CONFIG_BYTES + " bytes");
            }
            JsonNode n = bytes.length == 0 ? null : yaml.readTree(bytes);
            if (n == null || n.isMissingNode() || n.isNull()) {
                return yaml.createObjectNode();
            }
            if (!n.isObject()) {
                throw ClientException.usage(path + ": expected a mapping of runtime-endpoint, image-endpoint, timeout, debug");
            }
            return n;
        } catch (NoSuchFileException e) {
            return yaml.createObjectNode();
        } catch (IOException e) {
            throw ClientException.usage(path + ": " + e.getMessage());
        }
    }

    private static String text(JsonNode n, String key) {
        JsonNode v = n.get(key);
        return v == null || v.isNull() || v.asText().isBlank() ? null : v.asText();
    }

    private static String first(String... values) {
        for (String v : values) {
            if (v != null && !v.isBlank()) {
                return v;
            }
        }
        throw new IllegalStateException("no default");
    }
}
