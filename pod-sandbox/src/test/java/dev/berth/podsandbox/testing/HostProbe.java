package dev.berth.podsandbox.testing;

import dev.berth.host.Command;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/** Looks at the system itself (mountinfo, /proc), never at berth's bookkeeping. */
public final class HostProbe {
    private HostProbe() {
    }

    /** Mount points at or below {@code dir}, read straight from /proc/self/mountinfo. */
    public static List<String> mountsUnder(Path dir) throws IOException {
        String base = dir.toAbsolutePath().normalize().toString();
        List<String> out = new ArrayList<>();
        for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
            String point = line.split(" ")[4].replace("\\040", " ");
            if (point.equals(base) || point.startsWith(base + "/")) {
                out.add(point);
            }
        }
        return out;
    }

    /** The namespace a pin file or /proc/PID/ns/KIND refers to, as "KIND:[inode]" (the form /proc shows). */
    public static String nsId(String kind, Path nsFile) throws IOException {
        return kind + ":[" + Files.getAttribute(nsFile, "unix:ino") + "]";
    }

    /** Every pid whose network (or other kind) namespace is {@code id}. */
    public static List<Long> processesIn(String kind, String id) throws IOException {
        List<Long> pids = new ArrayList<>();
        try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
            for (Path p : procs.toList()) {
                String name = p.getFileName().toString();
                if (!name.chars().allMatch(Character::isDigit)) {
                    continue;
                }
                try {
                    if (Files.readSymbolicLink(p.resolve("ns").resolve(kind)).toString().equals(id)) {
                        pids.add(Long.parseLong(name));
                    }
                } catch (IOException gone) {
                    // the process exited meanwhile
                }
            }
        }
        return pids;
    }

    /** Runs a command joined to the given namespace files (nsenter flags like "--net=PATH") and returns stdout. */
    public static String inside(List<String> nsenterFlags, String script) {
        List<String> argv = new ArrayList<>(List.of("nsenter"));
        argv.addAll(nsenterFlags);
        argv.addAll(List.of("--", "/bin/sh", "-c", script));
        return Command.check(argv);
    }

    /** Every cgroup directory named {@code name} directly under a hierarchy root (v2 or any v1 controller). */
    public static List<Path> cgroupsNamed(String name) throws IOException {
        List<Path> found = new ArrayList<>();
        Path root = Path.of("/sys/fs/cgroup");
        if (Files.isDirectory(root.resolve(name))) {
            found.add(root.resolve(name));
        }
        try (Stream<Path> hierarchies = Files.list(root)) {
            for (Path h : hierarchies.toList()) {
                if (Files.isDirectory(h.resolve(name))) {
                    found.add(h.resolve(name));
                }
            }
        }
        return found;
    }

    /** True while the process exists and has not exited (a zombie waiting for its parent to reap it has). */
    public static boolean alive(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            char state = stat.charAt(stat.lastIndexOf(')') + 2);
            return state != 'Z' && state != 'X';
        } catch (IOException e) {
            return false;
        }
    }
}
