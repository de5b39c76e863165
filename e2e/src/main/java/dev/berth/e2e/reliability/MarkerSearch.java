package dev.berth.e2e.reliability;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * Finds what a run wrote outside the places it may write. Every path-like and name-like value
 * a suite sends carries a marker unique to the run; afterwards the file names of the root
 * filesystem ({@code find / -xdev}) and of {@code /tmp}, {@code /var/log}, {@code /etc},
 * {@code /run} and {@code /dev/shm} are searched for it, except below the excluded
 * directories (the test's own directory, which holds berth's root and run root), and the
 * small text files of {@code /etc}, {@code /run}, {@code /var/log} and {@code /dev/shm} for it
 * in their content.
 */
public final class MarkerSearch {
    private static final List<String> ROOTS = List.of("/", "/tmp", "/var/log", "/etc", "/run", "/dev/shm");
    private static final List<String> CONTENT_ROOTS = List.of("/etc", "/run", "/var/log", "/dev/shm");

    private MarkerSearch() {
    }

    /** A marker no other run uses: a short prefix and 12 random hex digits. */
    public static String newMarker(String prefix) {
        byte[] b = new byte[6];
        new SecureRandom().nextBytes(b);
        return prefix + HexFormat.of().formatHex(b);
    }

    /** Paths whose name contains {@code marker} or small files whose content does, outside {@code excluded}. */
    public static List<String> find(String marker, List<Path> excluded) throws IOException, InterruptedException {
        Set<String> hits = new LinkedHashSet<>();
        for (String root : ROOTS) {
            if (!Files.isDirectory(Path.of(root))) {
                continue;
            }
            List<String> cmd = new ArrayList<>(List.of("find", root, "-xdev"));
            cmd.addAll(prunes(excluded));
            cmd.addAll(List.of("-name", "*" + marker + "*", "-print"));
            hits.addAll(run(cmd));
        }
        for (String root : CONTENT_ROOTS) {
            if (!Files.isDirectory(Path.of(root))) {
                continue;
            }
            List<String> cmd = new ArrayList<>(List.of("find", root, "-xdev"));
            cmd.addAll(prunes(excluded));
            cmd.addAll(List.of("-type", "f", "-size", "-4M", "-exec", "grep", "-l", "-F", "-a", "-s", "--", marker, "{}", "+"));
            hits.addAll(run(cmd));
        }
        List<String> out = new ArrayList<>();
        for (String h : hits) {
            Path p = Path.of(h);
            if (excluded.stream().noneMatch(p::startsWith)) {
                out.add(h);
            }
        }
        return out;
    }

    /** {@code ( -path X -o -path Y ... ) -prune -o} for find, also pruning /proc and /sys. */
    private static List<String> prunes(List<Path> excluded) {
        List<String> out = new ArrayList<>(List.of("(", "-path", "/proc", "-o", "-path", "/sys"));
        for (Path e : excluded) {
            out.addAll(List.of("-o", "-path", e.toAbsolutePath().normalize().toString()));
        }
        out.addAll(List.of(")", "-prune", "-o"));
        return out;
    }

    private static List<String> run(List<String> cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        // find exits 1 when a directory vanished under it (another test's) or was unreadable: its output still counts
        if (!p.waitFor(10, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            throw new IOException("timed out: " + String.join(" ", cmd));
        }
        return out.lines().filter(l -> !l.isBlank()).toList();
    }
}
