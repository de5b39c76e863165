package dev.berth.podsandbox.oci;

import dev.berth.common.BerthException;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * The configured CRI runtime handlers, each an OCI runtime; "" selects the default one. The
 * sandbox and the container lifecycles take their runtimes from the same registry.
 */
public final class RuntimeHandlers {
    /** Builds the runtime of a handler from its name and its binary as configured. */
    @FunctionalInterface
    public interface Factory {
        OciRuntime runtime(String handler, String binary);
    }

    private final Map<String, OciRuntime> runtimes = new TreeMap<>();
    private final String defaultHandler;
    private final Factory factory;

    /** @param binaries the binary of each handler, as configured */
    public RuntimeHandlers(Map<String, String> binaries, String defaultHandler, Factory factory) {
        this.defaultHandler = defaultHandler;
        this.factory = factory;
        binaries.forEach((name, binary) -> runtimes.put(name, factory.runtime(name, binary)));
        if (!runtimes.containsKey(defaultHandler)) {
            throw new IllegalArgumentException("default runtime handler " + defaultHandler + " is not configured");
        }
    }

    /** The configured handlers' names, sorted. */
    public java.util.SortedSet<String> names() {
        return new java.util.TreeSet<>(runtimes.keySet());
    }

    /** The handler "" stands for. */
    public String defaultHandler() {
        return defaultHandler;
    }

    /** @throws BerthException INVALID_ARGUMENT for a handler that is not configured */
    public OciRuntime resolve(String handler) {
        String name = handler == null || handler.isEmpty() ? defaultHandler : handler;
        OciRuntime runtime = runtimes.get(name);
        if (runtime == null) {
            throw BerthException.invalidArgument("unknown runtime handler \"%s\" (configured: %s)", handler, String.join(", ", runtimes.keySet()));
        }
        return runtime;
    }

    /** The runtime of a configured handler by its exact name ("" is none). */
    public Optional<OciRuntime> find(String handler) {
        return Optional.ofNullable(runtimes.get(handler));
    }

    /**
     * The runtime of a handler recorded earlier with its binary, even if the configuration no
     * longer lists it (or names another binary for it).
     */
    public OciRuntime recorded(String handler, String binary) {
        OciRuntime configured = runtimes.get(handler);
        if (configured != null && configured.binary().equals(binary)) {
            return configured;
        }
        return factory.runtime(handler, binary);
    }
}
