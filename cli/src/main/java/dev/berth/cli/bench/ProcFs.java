package dev.berth.cli.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * What the bench reads from {@code /proc} (or another root, for tests): proportional set sizes,
 * the process table, which process serves a UNIX socket, the load average and CPU times. Every
 * read tolerates a process that exits meanwhile.
 */
final class ProcFs {
    /** {@code __SO_ACCEPTCON} in {@code /proc/net/unix}'s flags: a listening socket. */
    private static final int ACCEPTCON = 0x10000;

    private final Path root;

    ProcFs(Path root) {
        this.root = root;
    }

    static ProcFs host() {
        return new ProcFs(Path.of("/proc"));
    }

    /** One process: its pid, parent, name ({@code comm}, at most 15 bytes), command line (NUL-separated arguments as a list) and start time in clock ticks after boot. */
    record Proc(long pid, long ppid, String comm, List<String> cmdline, long startTicks) {
    }

    /**
     * The {@code Pss:} line of an {@code smaps_rollup} in bytes (the kernel writes kB), or -1
     * when there is none (a kernel thread, an unreadable file).
     */
    static long pssBytes(String smapsRollup) {
        for (String line : smapsRollup.split("\n")) {
            if (line.startsWith("Pss:")) {
                String[] f = line.substring(4).trim().split("\\s+");
                return Long.parseLong(f[0]) * 1024;
            }
        }
        return -1;
    }

    /** The PSS of {@code pid} in bytes, or -1 when it cannot be read (gone, or no permission). */
    long pssBytes(long pid) {
        try {
            return pssBytes(Files.readString(root.resolve(pid + "/smaps_rollup"), StandardCharsets.UTF_8));
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    /**
     * The inodes of listening UNIX sockets that {@code procNetUnix} (the text of
     * {@code /proc/net/unix}) lists under {@code path}; when none is bound under that exact path,
     * those bound under the same file name one directory below the socket's directory. A runtime
     * may bind in a private directory and then move the socket into place (berth does, so that
     * the socket is never reachable with the umask's mode); the kernel keeps the path it was
     * bound under.
     */
    static List<Long> listeningInodes(String procNetUnix, Path path) {
        List<Long> exact = new ArrayList<>();
        List<Long> moved = new ArrayList<>();
        String name = path.getFileName().toString();
        Path dir = path.toAbsolutePath().getParent();
        for (String line : procNetUnix.split("\n")) {
            String[] f = line.trim().split("\\s+");
            // Num RefCount Protocol Flags Type St Inode [Path]
            if (f.length < 8 || f[0].equals("Num")) {
                continue;
            }
            int flags;
            long inode;
            try {
                flags = Integer.parseInt(f[3], 16);
                inode = Long.parseLong(f[6]);
            } catch (NumberFormatException e) {
                continue;
            }
            if ((flags & ACCEPTCON) == 0) {
                continue;
            }
            Path bound = Path.of(f[7]);
            if (bound.equals(path.toAbsolutePath())) {
                exact.add(inode);
            } else if (bound.getFileName() != null && bound.getFileName().toString().equals(name)
                    && bound.getParent() != null && dir.equals(bound.getParent().getParent())) {
                moved.add(inode);
            }
        }
        return exact.isEmpty() ? moved : exact;
    }

    /**
     * The process that holds the listening socket bound at {@code socket}: the socket's inode
     * from {@code net/unix}, then the process whose open descriptors include
     * {@code socket:[inode]} (the lowest pid when several share it, e.g. after a fork).
     */
    Optional<Long> socketOwner(Path socket) throws IOException {
        List<Long> inodes = listeningInodes(Files.readString(root.resolve("net/unix"), StandardCharsets.UTF_8), socket);
        if (inodes.isEmpty()) {
            return Optional.empty();
        }
        List<String> targets = inodes.stream().map(i -> "socket:[" + i + "]").toList();
        long best = -1;
        for (long pid : pids()) {
            if (best != -1 && pid > best) {
                continue;
            }
            try (DirectoryStream<Path> fds = Files.newDirectoryStream(root.resolve(pid + "/fd"))) {
                for (Path fd : fds) {
                    try {
                        if (targets.contains(Files.readSymbolicLink(fd).toString())) {
                            best = pid;
                            break;
                        }
                    } catch (IOException e) {
                        // closed meanwhile
                    }
                }
            } catch (IOException e) {
                // gone, or not ours to read
            }
        }
        return best == -1 ? Optional.empty() : Optional.of(best);
    }

    /** The numeric entries of the root. */
    List<Long> pids() throws IOException {
        List<Long> pids = new ArrayList<>();
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(root)) {
            for (Path e : entries) {
                String n = e.getFileName().toString();
                if (!n.isEmpty() && n.chars().allMatch(Character::isDigit)) {
                    pids.add(Long.parseLong(n));
                }
            }
        }
        pids.sort(null);
        return pids;
    }

    /** Every process that can be read now, by pid. */
    Map<Long, Proc> processes() throws IOException {
        Map<Long, Proc> all = new HashMap<>();
        for (long pid : pids()) {
            try {
                Proc p = parseStat(pid, Files.readString(root.resolve(pid + "/stat"), StandardCharsets.UTF_8),
                        Files.readAllBytes(root.resolve(pid + "/cmdline")));
                all.put(pid, p);
            } catch (IOException | RuntimeException e) {
                // exited meanwhile
            }
        }
        return all;
    }

    /** A {@code /proc/PID/stat} line: the name is within the outermost parentheses and may hold spaces and parentheses. */
    static Proc parseStat(long pid, String stat, byte[] cmdline) {
        int open = stat.indexOf('(');
        int close = stat.lastIndexOf(')');
        String comm = stat.substring(open + 1, close);
        String[] f = stat.substring(close + 2).trim().split("\\s+");
        // f[0] is field 3 (state): ppid is field 4, starttime field 22
        long ppid = Long.parseLong(f[1]);
        long start = Long.parseLong(f[19]);
        List<String> args = new ArrayList<>();
        int from = 0;
        for (int i = 0; i < cmdline.length; i++) {
            if (cmdline[i] == 0) {
                args.add(new String(cmdline, from, i - from, StandardCharsets.UTF_8));
                from = i + 1;
            }
        }
        if (from < cmdline.length) {
            args.add(new String(cmdline, from, cmdline.length - from, StandardCharsets.UTF_8));
        }
        return new Proc(pid, ppid, comm, List.copyOf(args), start);
    }

    /** User plus system CPU time of {@code pid} in clock ticks (fields 14 and 15 of its stat), or -1. */
    long cpuTicks(long pid) {
        try {
            String stat = Files.readString(root.resolve(pid + "/stat"), StandardCharsets.UTF_8);
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).trim().split("\\s+");
            return Long.parseLong(f[11]) + Long.parseLong(f[12]);
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    /** The three load averages of {@code loadavg}, or an empty string when unreadable. */
    String loadAverage() {
        try {
            String[] f = Files.readString(root.resolve("loadavg"), StandardCharsets.UTF_8).trim().split("\\s+");
            return f[0] + " " + f[1] + " " + f[2];
        } catch (IOException | RuntimeException e) {
            return "";
        }
    }
}
