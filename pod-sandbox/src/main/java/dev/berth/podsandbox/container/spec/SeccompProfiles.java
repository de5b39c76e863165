package dev.berth.podsandbox.container.spec;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import dev.berth.common.BerthException;
import dev.berth.common.Json;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

/**
 * Seccomp profiles: berth's built-in RuntimeDefault profile (resource
 * {@code seccomp-default.json}: a default action, architectures per machine and rules that may
 * depend on a capability or machine), Localhost profiles read from a file, and the CRI string
 * forms of the older {@code seccomp_profile_path} field.
 */
public final class SeccompProfiles {
    private static final String RESOURCE = "seccomp-default.json";

    /** What the caller chose, after reading both CRI fields. */
    public sealed interface Choice permits Unconfined, RuntimeDefault, Localhost {
    }

    public record Unconfined() implements Choice {
    }

    public record RuntimeDefault() implements Choice {
    }

    public record Localhost(String path) implements Choice {
    }

    private SeccompProfiles() {
    }

    /** The built-in profile, parsed once. */
    private static final class DefaultProfile {
        static final JsonNode JSON = load();

        private static JsonNode load() {
            try (InputStream in = SeccompProfiles.class.getResourceAsStream(RESOURCE)) {
                if (in == null) {
                    throw new IOException("resource " + RESOURCE + " missing");
                }
                return Json.mapper().readTree(in);
            } catch (IOException e) {
                throw BerthException.internal("cannot load berth's default seccomp profile", e);
            }
        }
    }

    /**
     * The profile a container gets: the structured field wins when set; else the older string
     * ({@code runtime/default}, {@code docker/default}, {@code unconfined},
     * {@code localhost/<absolute path>}, empty = unconfined). Anything else is refused.
     */
    public static Choice choose(ContainerConfig.SeccompProfile profile, String legacyPath) {
        if (profile != null) {
            return switch (profile.type()) {
                case RUNTIME_DEFAULT -> new RuntimeDefault();
                case UNCONFINED -> new Unconfined();
                case LOCALHOST -> {
                    String ref = profile.localhostRef() == null ? "" : profile.localhostRef();
                    if (!ref.startsWith("/")) {
                        throw BerthException.invalidArgument(
                                "seccomp Localhost profile needs an absolute localhost_ref, got \"%s\"", ref);
                    }
                    yield new Localhost(ref);
                }
            };
        }
        String s = legacyPath == null ? "" : legacyPath;
        if (s.isEmpty() || s.equals("unconfined")) {
            return new Unconfined();
        }
        if (s.equals("runtime/default") || s.equals("docker/default")) {
            return new RuntimeDefault();
        }
        if (s.startsWith("localhost/")) {
            String path = s.substring("localhost/".length());
            if (!path.startsWith("/")) {
                path = "/" + path;
            }
            return new Localhost(path);
        }
        throw BerthException.invalidArgument(
                "unsupported seccomp profile \"%s\" (want runtime/default, docker/default, unconfined or localhost/<path>)",
                s);
    }

    /** The OCI seccomp section for a choice, or null for unconfined. */
    public static OciSpec.Seccomp build(Choice choice, Collection<String> capabilities, String arch) {
        if (choice instanceof Unconfined) {
            return null;
        }
        if (choice instanceof Localhost l) {
            return readLocalhost(Path.of(l.path()), arch);
        }
        return runtimeDefault(capabilities, arch);
    }

    /** berth's built-in default profile for a container holding {@code capabilities}. */
    public static OciSpec.Seccomp runtimeDefault(Collection<String> capabilities, String arch) {
        JsonNode profile = DefaultProfile.JSON;
        String machine = normalizeArch(arch);
        OciSpec.Seccomp out = new OciSpec.Seccomp();
        out.defaultAction = profile.path("defaultAction").asText();
        out.defaultErrnoRet = profile.has("defaultErrnoRet") ? profile.get("defaultErrnoRet").asInt() : null;
        for (JsonNode a : profile.path("architectures").path(machine)) {
            out.architectures.add(a.asText());
        }
        for (JsonNode rule : profile.path("rules")) {
            if (rule.has("arches") && !contains(rule.get("arches"), machine)) {
                continue;
            }
            if (rule.has("requiresCapability") && !capabilities.contains(rule.get("requiresCapability").asText())) {
                continue;
            }
            if (rule.has("unlessCapability") && capabilities.contains(rule.get("unlessCapability").asText())) {
                continue;
            }
            List<String> names = Json.mapper().convertValue(rule.get("names"), new TypeReference<List<String>>() { });
            List<OciSpec.SyscallArg> args = null;
            if (rule.has("args")) {
                args = new ArrayList<>();
                for (JsonNode a : rule.get("args")) {
                    args.add(new OciSpec.SyscallArg(a.get("index").asInt(), a.get("value").asLong(),
                            a.has("valueTwo") ? a.get("valueTwo").asLong() : null, a.get("op").asText()));
                }
            }
            Integer errno = rule.has("errnoRet") ? rule.get("errnoRet").asInt() : null;
            out.syscalls.add(new OciSpec.Syscall(names, rule.get("action").asText(), errno, args));
        }
        return out;
    }

    /**
     * A Localhost profile: OCI {@code linux.seccomp} JSON; an {@code archMap} (the format
     * Kubernetes users commonly write) supplies architectures when none are listed.
     */
    public static OciSpec.Seccomp readLocalhost(Path path, String arch) {
        JsonNode node;
        try {
            node = Json.mapper().readTree(Files.readString(path));
        } catch (NoSuchFileException e) {
            throw BerthException.invalidArgument("seccomp profile %s does not exist", path);
        } catch (IOException e) {
            throw BerthException.invalidArgument("cannot read seccomp profile %s: %s", path, e.getMessage());
        }
        if (node == null || !node.isObject() || !node.hasNonNull("defaultAction")) {
            throw BerthException.invalidArgument("seccomp profile %s is not a JSON object with a defaultAction", path);
        }
        OciSpec.Seccomp out = new OciSpec.Seccomp();
        out.defaultAction = node.get("defaultAction").asText();
        if (node.has("defaultErrnoRet")) {
            out.defaultErrnoRet = node.get("defaultErrnoRet").asInt();
        }
        for (JsonNode a : node.path("architectures")) {
            out.architectures.add(a.asText());
        }
        if (out.architectures.isEmpty()) {
            for (JsonNode m : node.path("archMap")) {
                out.architectures.add(m.path("architecture").asText());
                for (JsonNode s : m.path("subArchitectures")) {
                    out.architectures.add(s.asText());
                }
            }
        }
        for (JsonNode s : node.path("syscalls")) {
            List<String> names = new ArrayList<>();
            if (s.has("names")) {
                s.get("names").forEach(n -> names.add(n.asText()));
            } else if (s.has("name")) {
                names.add(s.get("name").asText());
            }
            if (names.isEmpty() || !s.hasNonNull("action")) {
                throw BerthException.invalidArgument("seccomp profile %s has a syscall rule without names or action", path);
            }
            List<OciSpec.SyscallArg> args = null;
            if (s.has("args") && s.get("args").size() > 0) {
                args = new ArrayList<>();
                for (JsonNode a : s.get("args")) {
                    args.add(new OciSpec.SyscallArg(a.path("index").asInt(), a.path("value").asLong(),
                            a.has("valueTwo") ? a.get("valueTwo").asLong() : null, a.path("op").asText()));
                }
            }
            Integer errno = s.has("errnoRet") ? s.get("errnoRet").asInt() : null;
            out.syscalls.add(new OciSpec.Syscall(names, s.get("action").asText(), errno, args));
        }
        return out;
    }

    private static boolean contains(JsonNode array, String value) {
        for (JsonNode n : array) {
            if (n.asText().equals(value)) {
                return true;
            }
        }
        return false;
    }

    static String normalizeArch(String arch) {
        return switch (arch) {
            case "amd64", "x86_64" -> "amd64";
            case "aarch64", "arm64" -> "aarch64";
            default -> arch;
        };
    }
}
