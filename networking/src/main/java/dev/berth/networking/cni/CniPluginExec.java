package dev.berth.networking.cni;

import com.fasterxml.jackson.databind.JsonNode;
import dev.berth.common.BerthException;
import dev.berth.common.Json;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Runs CNI plugin binaries: looks them up in the plugin directories, passes the {@code CNI_*}
 * environment and the configuration on stdin, bounds each call by a timeout (the plugin is
 * killed when it runs over), and turns a failure (the plugin's error JSON, or its stderr) into
 * a {@link BerthException} that names the plugin, the network and the command.
 */
final class CniPluginExec {
    private static final ExecutorService PIPES = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "cni-plugin-io");
        t.setDaemon(true);
        return t;
    });
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
        ProcessBuilder pb = new ProcessBuilder(binary.toString());
        Map<String, String> env = pb.environment();
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
        pb.directory(binary.getParent().toFile());

        Process proc;
        try {
            proc = pb.start();
        } catch (IOException e) {
            throw BerthException.failedPrecondition("cannot run CNI plugin %s (%s of network \"%s\"): %s",
                    binary, call.command(), call.network(), e.getMessage());
        }
        CompletableFuture<byte[]> out = CompletableFuture.supplyAsync(() -> drain(proc.getInputStream()), PIPES);
        CompletableFuture<byte[]> err = CompletableFuture.supplyAsync(() -> drain(proc.getErrorStream()), PIPES);
        try (OutputStream in = proc.getOutputStream()) {
            in.write(stdin);
        } catch (IOException e) {
            // the plugin exited without reading its config; its exit status says what happened
        }
        int exit;
        byte[] stdout;
        byte[] stderr;
        try {
            if (!proc.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                proc.descendants().forEach(ProcessHandle::destroyForcibly);
                proc.destroyForcibly();
                proc.waitFor();
                throw new BerthException(BerthException.Kind.DEADLINE_EXCEEDED, String.format(
                        "CNI plugin \"%s\" (%s, network \"%s\"%s) did not finish within %s and was killed",
                        type, call.command(), call.network(), container(call), timeout));
            }
            exit = proc.exitValue();
            stdout = out.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            stderr = err.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            proc.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new BerthException(BerthException.Kind.CANCELLED, "interrupted while CNI plugin \"" + type + "\" ran");
        } catch (ExecutionException | TimeoutException e) {
            throw BerthException.internal("cannot read the output of CNI plugin \"" + type + "\"", e);
        }
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

    private static byte[] drain(InputStream in) {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        byte[] chunk = new byte[8192];
        try (in) {
            int n;
            while ((n = in.read(chunk)) >= 0) {
                if (buf.size() < MAX_OUTPUT) {
                    buf.write(chunk, 0, Math.min(n, MAX_OUTPUT - buf.size()));
                }
            }
        } catch (IOException e) {
            // the process was killed; what was read so far is all there is
        }
        return buf.toByteArray();
    }
}
