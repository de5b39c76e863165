package dev.berth.podsandbox.oci;

import dev.berth.common.BerthException;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;

/** The configured CRI runtime handlers, each an OCI runtime binary; "" selects the default one. */
public final class RuntimeHandlers {
    private final Map<String, String> binaries;
    private final String defaultHandler;
    private final Path stateRoot;

    /** @param stateRoot parent of each handler's runtime state directory */
    public RuntimeHandlers(Map<String, String> binaries, String defaultHandler, Path stateRoot) {
        this.binaries = new TreeMap<>(binaries);
        this.defaultHandler = defaultHandler;
        this.stateRoot = stateRoot;
        if (!this.binaries.containsKey(defaultHandler)) {
            throw new IllegalArgumentException("default runtime handler " + defaultHandler + " is not configured");
        }
    }

    /** @throws BerthException INVALID_ARGUMENT for a handler that is not configured */
    public OciRuntime resolve(String handler) {
        String name = handler == null || handler.isEmpty() ? defaultHandler : handler;
        String binary = binaries.get(name);
        if (binary == null) {
            throw BerthException.invalidArgument("unknown runtime handler \"%s\" (configured: %s)", handler, String.join(", ", binaries.keySet()));
        }
        return new OciRuntime(name, binary, stateRoot.resolve(name));
    }

    /** The runtime of a handler recorded earlier, even if the configuration no longer lists it. */
    public OciRuntime recorded(String handler, String binary) {
        return new OciRuntime(handler, binary, stateRoot.resolve(handler));
    }
}
