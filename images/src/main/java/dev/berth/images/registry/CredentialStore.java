package dev.berth.images.registry;

import com.fasterxml.jackson.databind.JsonNode;
import dev.berth.common.BerthException;
import dev.berth.common.Json;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;

/**
 * Registry credentials read from a file in the Docker {@code config.json} format
 * ({@code {"auths": {"host[:port]": {"auth": "base64(user:password)"}}}}). Keys may be plain
 * hosts or URLs ({@code https://index.docker.io/v1/} names Docker Hub). The file is read again
 * when it changes.
 */
public final class CredentialStore {
    private final Path file;
    private long loadedModified = Long.MIN_VALUE;
    private Map<String, Credentials> byHost = Map.of();

    public CredentialStore(Path file) {
        this.file = file;
    }

    public static CredentialStore none() {
        return new CredentialStore(null);
    }

    /** Credentials for a registry host (as written in a reference, e.g. {@code docker.io}, {@code host:5000}). */
    public synchronized Credentials lookup(String registry) {
        if (file == null) {
            return Credentials.NONE;
        }
        reloadIfChanged();
        Credentials c = byHost.get(registry);
        if (c == null && registry.equals("docker.io")) {
            c = byHost.get("index.docker.io");
            if (c == null) {
                c = byHost.get("registry-1.docker.io");
            }
        }
        return c == null ? Credentials.NONE : c;
    }

    private void reloadIfChanged() {
        long modified;
        try {
            if (!Files.exists(file)) {
                byHost = Map.of();
                loadedModified = Long.MIN_VALUE;
                return;
            }
            modified = Files.getLastModifiedTime(file).toMillis() ^ Files.size(file);
        } catch (IOException e) {
            throw BerthException.failedPrecondition("cannot read registry credentials file %s: %s", file, e.getMessage());
        }
        if (modified == loadedModified) {
            return;
        }
        Map<String, Credentials> parsed = new HashMap<>();
        try {
            JsonNode auths = Json.mapper().readTree(file.toFile()).path("auths");
            for (Iterator<Map.Entry<String, JsonNode>> it = auths.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                JsonNode v = e.getValue();
                parsed.put(hostOf(e.getKey()), Credentials.of(v.path("username").asText(""), v.path("password").asText(""),
                        v.path("auth").asText(""), v.path("identitytoken").asText(""), v.path("registrytoken").asText("")));
            }
        } catch (IOException | BerthException e) {
            throw BerthException.failedPrecondition("cannot read registry credentials file %s: %s", file, e.getMessage());
        }
        byHost = parsed;
        loadedModified = modified;
    }

    static String hostOf(String key) {
        String k = key;
        if (k.contains("://")) {
            URI u = URI.create(k);
            k = u.getPort() < 0 ? u.getHost() : u.getHost() + ":" + u.getPort();
        } else if (k.contains("/")) {
            k = k.substring(0, k.indexOf('/'));
        }
        return k;
    }
}
