package dev.berth.networking.cni;

import dev.berth.host.Command;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** {@code iptables-save} and {@code iptables-restore} (or the ip6tables pair), run by absolute path. */
final class IptablesCommands {
    private static final String[] DIRS = {"/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/sbin"};

    private IptablesCommands() {
    }

    /** {@code iptables} or {@code ip6tables} for a CIDR. */
    static String family(String cidr) {
        return cidr.contains(":") ? "ip6tables" : "iptables";
    }

    /** The nat table as {@code <family>-save} prints it; empty when the tool is missing or fails. */
    static Optional<String> saveNat(String family) {
        return run(family + "-save", List.of("-t", "nat"), null);
    }

    /** Applies {@code rules} (a whole {@code *nat ... COMMIT} block) without flushing the rest; false when that failed. */
    static boolean restoreNoflush(String family, String rules) {
        return run(family + "-restore", List.of("--noflush", "-w"), rules).isPresent();
    }

    static boolean available(String family) {
        return find(family + "-save").isPresent() && find(family + "-restore").isPresent();
    }

    private static Optional<Path> find(String name) {
        for (String d : DIRS) {
            Path p = Path.of(d, name);
            if (Files.isExecutable(p)) {
                return Optional.of(p);
            }
        }
        return Optional.empty();
    }

    /** Runs a tool with a fixed environment; its stdout, or empty when it is missing or fails. */
    private static Optional<String> run(String tool, List<String> args, String stdin) {
        Optional<Path> bin = find(tool);
        if (bin.isEmpty()) {
            return Optional.empty();
        }
        try {
            Command.Result r = Command.of(argv(bin.get(), args))
                    .environment(env -> {
                        env.clear();
                        env.put("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
                    })
                    .stdin((stdin == null ? "" : stdin).getBytes(StandardCharsets.UTF_8))
                    .discardStderr().timeout(Duration.ofSeconds(60)).onTimeout(Process::destroyForcibly).execute();
            return r.ok() ? Optional.of(r.stdout()) : Optional.empty();
        } catch (IOException e) {
            return Optional.empty();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Optional.empty();
        }
    }

    private static List<String> argv(Path bin, List<String> args) {
        List<String> argv = new ArrayList<>(args.size() + 1);
        argv.add(bin.toString());
        argv.addAll(args);
        return argv;
    }
}
