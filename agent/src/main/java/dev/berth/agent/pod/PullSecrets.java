package dev.berth.agent.pod;

import com.fasterxml.jackson.databind.JsonNode;
import dev.berth.common.Json;
import dev.berth.cri.v1.AuthConfig;
import io.fabric8.kubernetes.api.model.Secret;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A pod's imagePullSecrets as CRI {@code AuthConfig}s for one image, the way the kubelet's
 * keyring matches them: each secret of type {@code kubernetes.io/dockerconfigjson} (key
 * {@code .dockerconfigjson}, an {@code auths} object) or {@code kubernetes.io/dockercfg} (key
 * {@code .dockercfg}, the same object bare) names registries, optionally with a path and a
 * {@code *.} wildcard in the host; an entry matches when its host matches the image's registry
 * (Docker Hub's names are one) and its path is a prefix of the image's repository. Matches come
 * in the secrets' order; the caller tries each until a pull succeeds. Credentials go only with
 * an image of the registry they name.
 */
public final class PullSecrets {
    static final String DOCKER_HUB = "docker.io";

    private PullSecrets() {
    }

    /** The credentials of {@code secrets} that apply to {@code image}; entries that do not parse are skipped. */
    public static List<AuthConfig> credentials(String image, List<Secret> secrets) {
        String[] target = registryAndRepository(image);
        List<AuthConfig> out = new ArrayList<>();
        for (Secret secret : secrets) {
            JsonNode auths = auths(secret);
            if (auths == null) {
                continue;
            }
            for (Iterator<Map.Entry<String, JsonNode>> it = auths.fields(); it.hasNext();) {
                Map.Entry<String, JsonNode> e = it.next();
                if (matches(e.getKey(), target[0], target[1]) && e.getValue().isObject()) {
                    AuthConfig auth = authConfig(e.getValue(), target[0]);
                    if (auth != null && !out.contains(auth)) {
                        out.add(auth);
                    }
                }
            }
        }
        return out;
    }

    /** The {@code auths} object of a pull secret, or null when it is not one or does not parse. */
    private static JsonNode auths(Secret secret) {
        Map<String, String> data = secret.getData() == null ? Map.of() : secret.getData();
        String type = secret.getType() == null ? "" : secret.getType();
        try {
            if (type.equals("kubernetes.io/dockerconfigjson") && data.containsKey(".dockerconfigjson")) {
                JsonNode root = Json.mapper().readTree(decode(data.get(".dockerconfigjson")));
                return root != null && root.path("auths").isObject() ? root.get("auths") : null;
            }
            if (type.equals("kubernetes.io/dockercfg") && data.containsKey(".dockercfg")) {
                JsonNode root = Json.mapper().readTree(decode(data.get(".dockercfg")));
                return root != null && root.isObject() ? root : null;
            }
        } catch (java.io.IOException | IllegalArgumentException e) {
            return null;
        }
        return null;
    }

    private static String decode(String base64) {
        return new String(Base64.getDecoder().decode(base64.trim()), StandardCharsets.UTF_8);
    }

    private static AuthConfig authConfig(JsonNode entry, String registry) {
        AuthConfig.Builder b = AuthConfig.newBuilder().setServerAddress(registry);
        String user = entry.path("username").asText("");
        String password = entry.path("password").asText("");
        String auth = entry.path("auth").asText("");
        if (user.isEmpty() && !auth.isEmpty()) {
            try {
                String pair = decode(auth);
                int colon = pair.indexOf(':');
                if (colon > 0) {
                    user = pair.substring(0, colon);
                    password = pair.substring(colon + 1);
                }
            } catch (IllegalArgumentException e) {
                return null;
            }
        }
        b.setUsername(user).setPassword(password)
                .setIdentityToken(entry.path("identitytoken").asText(""))
                .setRegistryToken(entry.path("registrytoken").asText(""));
        AuthConfig a = b.build();
        return a.getUsername().isEmpty() && a.getIdentityToken().isEmpty() && a.getRegistryToken().isEmpty() ? null : a;
    }

    /** The image's registry host (Docker Hub as {@code docker.io}) and its repository path, lower-cased. */
    static String[] registryAndRepository(String image) {
        String name = image;
        int at = name.indexOf('@');
        if (at >= 0) {
            name = name.substring(0, at);
        }
        int slash = name.indexOf('/');
        String first = slash < 0 ? "" : name.substring(0, slash);
        String host;
        String repo;
        if (slash >= 0 && (first.contains(".") || first.contains(":") || first.equals("localhost"))) {
            host = first;
            repo = name.substring(slash + 1);
        } else {
            host = DOCKER_HUB;
            repo = slash < 0 ? "library/" + name : name;
        }
        int colon = repo.lastIndexOf(':');
        if (colon >= 0) {
            repo = repo.substring(0, colon);
        }
        return new String[] {hub(host.toLowerCase(Locale.ROOT)), repo.toLowerCase(Locale.ROOT)};
    }

    private static String hub(String host) {
        return host.equals("index.docker.io") || host.equals("registry-1.docker.io") ? DOCKER_HUB : host;
    }

    /** Whether a config key ({@code https://host[:port]/path/}, {@code host/path}, {@code *.host}) covers registry and repository. */
    static boolean matches(String key, String registry, String repository) {
        String k = key.toLowerCase(Locale.ROOT).trim();
        int scheme = k.indexOf("://");
        if (scheme >= 0) {
            k = k.substring(scheme + 3);
        }
        while (k.endsWith("/")) {
            k = k.substring(0, k.length() - 1);
        }
        int slash = k.indexOf('/');
        String host = hub(slash < 0 ? k : k.substring(0, slash));
        String path = slash < 0 ? "" : k.substring(slash + 1);
        if (path.equals("v1") || path.equals("v2")) {
            path = ""; // the API version docker's config writes after a registry ("https://index.docker.io/v1/")
        }
        if (!hostMatches(host, registry)) {
            return false;
        }
        return path.isEmpty() || repository.equals(path) || repository.startsWith(path + "/");
    }

    private static boolean hostMatches(String pattern, String registry) {
        if (pattern.startsWith("*.")) {
            String suffix = pattern.substring(1);
            if (!registry.endsWith(suffix)) {
                return false;
            }
            String label = registry.substring(0, registry.length() - suffix.length());
            return !label.isEmpty() && label.indexOf('.') < 0; // one label, as a glob per dot-separated part
        }
        return pattern.equals(registry);
    }
}
