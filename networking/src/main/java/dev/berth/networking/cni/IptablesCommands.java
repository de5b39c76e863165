package dev.berth.networking.cni;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

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
            ProcessBuilder pb = new ProcessBuilder(bin.get().toString());
            pb.command().addAll(args);
            pb.environment().clear();
            pb.environment().put("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
            Process p = pb.redirectError(ProcessBuilder.Redirect.DISCARD).start();
            try (OutputStream os = p.getOutputStream()) {
                if (stdin != null) {
                    os.write(stdin.getBytes(StandardCharsets.UTF_8));
                }
            }
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            try (InputStream is = p.getInputStream()) {
                is.transferTo(out);
            }
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return Optional.empty();
            }
            return p.exitValue() == 0 ? Optional.of(out.toString(StandardCharsets.UTF_8)) : Optional.empty();
        } catch (IOException e) {
            return Optional.empty();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Optional.empty();
        }
    }
}
