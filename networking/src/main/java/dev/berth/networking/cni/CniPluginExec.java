package dev.berth.networking.cni;

import com.fasterxml.jackson.databind.JsonNode;
import dev.berth.common.BerthException;
import dev.berth.common.Json;
import dev.berth.host.Command;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

/**
 * Runs CNI plugin binaries: looks them up in the plugin directories, passes the {@code CNI_*}
 * environment and the configuration on stdin, bounds each call by a timeout (the plugin is
 * killed when it runs over), and turns a failure (the plugin's error JSON, or its stderr) into
 * a {@link BerthException} that names the plugin, the network and the command.
 */
final class CniPluginExec {
    private static final int MAX_OUTPUT = 4 * 1024 * 1024;

    private final List<Path> binDirs;
    private final Duration timeout;

    CniPluginExec(List<Path> binDirs, Duration timeout) {
        this.binDirs = List.copyOf(binDirs);
        this.timeout = timeout;
    }

    List<Path> binDirs() {
        return binDirs;
    }

    /** The plugin's executable in the first plugin directory that has it. */
    Optional<Path> find(String type) {
        for (Path d : binDirs) {
            Path p = d.resolve(type);
            if (Files.isRegularFile(p) && Files.isExecutable(p)) {
                return Optional.of(p);
            }
        }
        return Optional.empty();
    }

    /** What one call is about, for the CNI_* variables and for error messages. */
    record Call(String command, String containerId, String netns, String ifName, String cniArgs, String network) {
        static Call simple(String command, String network) {
            return new Call(command, null, null, null, null, network);
        }
    }

    /** Runs {@code type} with {@code stdin}; returns its parsed stdout (null when it printed nothing). */
    JsonNode run(String type, Call call, byte[] stdin) {
        Path binary = find(type).orElseThrow(() -> BerthException.failedPrecondition(
                "CNI plugin \"%s\" of network \"%s\" not found in %s", type, call.network(), binDirs));
        // the plugin itself is started (no shell or wrapper): one process launch per plugin call
        Command command = Command.of(binary.toString()).stdin(stdin).directory(binary.getParent())
                .environment(env -> {
                    env.keySet().removeIf(k -> k.startsWith("CNI_"));
                    env.put("CNI_COMMAND", call.command());
                    env.put("CNI_PATH", String.join(":", binDirs.stream().map(Path::toString).toList()));
                    if (call.containerId() != null) {
                        env.put("CNI_CONTAINERID", call.containerId());
                        env.put("CNI_NETNS", call.netns() == null ? "" : call.netns());
                        env.put("CNI_IFNAME", call.ifName());
                        env.put("CNI_ARGS", call.cniArgs());
                    }
                    String path = env.getOrDefault("PATH", "");
                    env.put("PATH", path + (path.isEmpty() ? "" : ":") + "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
                })
                .timeout(timeout).outputCap(MAX_OUTPUT).killDescendantsOnTimeout();
        Command.Result result;
        try {
            result = command.execute();
        } catch (IOException e) {
            throw BerthException.failedPrecondition("cannot run CNI plugin %s (%s of network \"%s\"): %s",
                    binary, call.command(), call.network(), e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new BerthException(BerthException.Kind.CANCELLED, "interrupted while CNI plugin \"" + type + "\" ran");
        }
        if (result.timedOut()) {
            throw new BerthException(BerthException.Kind.DEADLINE_EXCEEDED, String.format(
                    "CNI plugin \"%s\" (%s, network \"%s\"%s) did not finish within %s and was killed",
                    type, call.command(), call.network(), container(call), timeout));
        }
        int exit = result.exitCode();
        byte[] stdout = result.out();
        byte[] stderr = result.err();
        if (exit != 0) {
            throw failure(type, call, exit, stdout, stderr);
        }
        String text = new String(stdout, StandardCharsets.UTF_8).trim();
        if (text.isEmpty()) {
            return null;
        }
        try {
            return Json.mapper().readTree(text);
        } catch (IOException e) {
            throw BerthException.failedPrecondition("CNI plugin \"%s\" (%s, network \"%s\"%s) printed output that is not JSON: %s",
                    type, call.command(), call.network(), container(call), abbreviate(text));
        }
    }

    private static BerthException failure(String type, CniPluginExec.Call call, int exit, byte[] stdout, byte[] stderr) {
        String prefix = String.format("CNI plugin \"%s\" failed %s for network \"%s\"%s", type, call.command(), call.network(), container(call));
        String out = new String(stdout, StandardCharsets.UTF_8).trim();
        String errText = new String(stderr, StandardCharsets.UTF_8).trim();
        JsonNode error = null;
        try {
            error = out.isEmpty() ? null : Json.mapper().readTree(out);
        } catch (IOException e) {
            // not an error object; stderr and stdout are reported as they are
        }
        if (error != null && error.isObject() && (error.has("msg") || error.has("code"))) {
            int code = error.path("code").asInt(0);
            StringBuilder msg = new StringBuilder(prefix).append(": ").append(error.path("msg").asText("(no message)"));
            String details = error.path("details").asText("");
            if (!details.isEmpty()) {
                msg.append(": ").append(details);
            }
            msg.append(" (CNI error code ").append(code).append(' ').append(codeName(code)).append(')');
            if (!errText.isEmpty()) {
                msg.append("; stderr: ").append(abbreviate(errText));
            }
            BerthException.Kind kind = code == 11 ? BerthException.Kind.UNAVAILABLE : BerthException.Kind.FAILED_PRECONDITION;
            return new BerthException(kind, msg.toString());
        }
        StringBuilder msg = new StringBuilder(prefix).append(": exit status ").append(exit);
        if (!errText.isEmpty()) {
            msg.append(", stderr: ").append(abbreviate(errText));
        }
        if (!out.isEmpty()) {
            msg.append(", stdout: ").append(abbreviate(out));
        }
        return new BerthException(BerthException.Kind.FAILED_PRECONDITION, msg.toString());
    }

    private static String container(Call call) {
        return call.containerId() == null ? "" : ", container " + call.containerId();
    }

    /** The well-known error codes of the CNI specification. */
    static String codeName(int code) {
        return switch (code) {
            case 1 -> "incompatible CNI version";
            case 2 -> "unsupported field in network configuration";
            case 3 -> "container unknown or does not exist";
            case 4 -> "invalid necessary environment variables";
            case 5 -> "I/O failure";
            case 6 -> "failed to decode content";
            case 7 -> "invalid network config";
            case 11 -> "try again later";
            case 50 -> "plugin not available";
            case 51 -> "plugin not available (limited connectivity)";
            default -> code >= 100 ? "plugin-specific" : "unknown";
        };
    }

    private static String abbreviate(String s) {
        String oneLine = s.replace('\n', ' ');
        return oneLine.length() > 2000 ? oneLine.substring(0, 2000) + "..." : oneLine;
    }
}
