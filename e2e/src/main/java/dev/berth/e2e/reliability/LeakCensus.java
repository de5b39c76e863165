package dev.berth.e2e.reliability;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * What one berth daemon holds on the host, counted so that two counts can be compared: mounts
 * under its root and run root, namespace pins under its run root, veths on its bridge, IP
 * leases in its IPAM directory, iptables rules naming its subnet (and the chains they jump to),
 * cgroups below its tests' cgroup parents (every mounted hierarchy), conmon processes and other
 * processes (but the daemon) whose command line names its run root, image holds, and every other path under its state roots but
 * the image store. Everything is scoped to that one daemon, so a count stays exact while other
 * daemons run on the same host.
 *
 * <p>{@link #take} makes a {@link Snapshot}; {@link Snapshot#leaksSince} lists what a later
 * snapshot holds that an earlier one did not (a mount stacked twice counts twice).
 */
public final class LeakCensus {
    /** Every kind of resource counted, in the order reports list them. */
    public static final List<String> KINDS = List.of("mounts", "namespace pins", "veths", "ip leases", "iptables rules",
            "cgroups", "conmon processes", "other processes", "image holds", "state files");

    private static final Path CGROUP_ROOT = Path.of("/sys/fs/cgroup");
    private static final Pattern IPV4 = Pattern.compile("(?<![0-9.])(\\d{1,3})\\.(\\d{1,3})\\.(\\d{1,3})\\.(\\d{1,3})(?![0-9])");
    private static final Pattern JUMP = Pattern.compile("\\s-[jg]\\s+(\\S+)");

    private final Path root;
    private final Path runRoot;
    private final String bridge;
    private final String subnet;
    private final List<String> cgroupParents;
    private final Set<String> ignoredStateFiles;

    /**
     * @param root the daemon's state root; its {@code images/} directory (the image store) is not counted, its holds are
     * @param runRoot the daemon's run root (its socket is not counted)
     * @param bridge the bridge of the daemon's default network
     * @param subnet the IPv4 subnet of that network, e.g. {@code 10.199.160.0/20}
     * @param cgroupParents cgroups (cgroupfs notation, e.g. {@code /berthrel-a-1234}) below which the test's pods live;
     *     what is below them is counted, not the parents themselves
     * @param ignoredStateFiles paths under the root the test itself puts there (e.g. a filler file), not counted
     */
    public LeakCensus(Path root, Path runRoot, String bridge, String subnet, List<String> cgroupParents,
            Set<Path> ignoredStateFiles) {
        this.root = root.toAbsolutePath().normalize();
        this.runRoot = runRoot.toAbsolutePath().normalize();
        this.bridge = bridge;
        this.subnet = subnet;
        this.cgroupParents = List.copyOf(cgroupParents);
        this.ignoredStateFiles = new java.util.HashSet<>();
        ignoredStateFiles.forEach(p -> this.ignoredStateFiles.add(p.toAbsolutePath().normalize().toString()));
    }

    /** One count: per kind, each item (a path, an interface, a rule, a pid) with how often it occurs. */
    public record Snapshot(SortedMap<String, SortedMap<String, Integer>> items) {
        /** Per kind, the items this snapshot holds more often than {@code before}; empty kinds are left out. */
        public SortedMap<String, List<String>> leaksSince(Snapshot before) {
            SortedMap<String, List<String>> out = new TreeMap<>();
            items.forEach((kind, now) -> {
                Map<String, Integer> then = before.items().getOrDefault(kind, new TreeMap<>());
                List<String> extra = new ArrayList<>();
                now.forEach((item, n) -> {
                    int surplus = n - then.getOrDefault(item, 0);
                    for (int i = 0; i < surplus; i++) {
                        extra.add(item);
                    }
                });
                if (!extra.isEmpty()) {
                    out.put(kind, extra);
                }
            });
            return out;
        }

        /** How many items of a kind. */
        public int count(String kind) {
            return items.getOrDefault(kind, new TreeMap<>()).values().stream().mapToInt(Integer::intValue).sum();
        }

        /** {@code kind=count} for every kind, for a report line. */
        public String summary() {
            StringBuilder b = new StringBuilder();
            for (String kind : KINDS) {
                b.append(b.length() == 0 ? "" : ", ").append(kind).append('=').append(count(kind));
            }
            return b.toString();
        }
    }

    /** Total number of leaked items in a {@link Snapshot#leaksSince} result. */
    public static int total(Map<String, List<String>> leaks) {
        return leaks.values().stream().mapToInt(List::size).sum();
    }

    /** Counts everything now. */
    public Snapshot take() {
        SortedMap<String, SortedMap<String, Integer>> items = new TreeMap<>();
        items.put("mounts", bag(mounts()));
        items.put("namespace pins", bag(namespacePins()));
        items.put("veths", bag(veths()));
        items.put("ip leases", bag(ipLeases()));
        items.put("iptables rules", bag(iptablesRules()));
        items.put("cgroups", bag(cgroups()));
        items.put("conmon processes", bag(conmons()));
        items.put("other processes", bag(otherProcesses()));
        items.put("image holds", bag(filesUnder(root.resolve("images/holds"), List.of())));
        items.put("state files", bag(stateFiles()));
        return new Snapshot(items);
    }

    private static SortedMap<String, Integer> bag(List<String> list) {
        SortedMap<String, Integer> m = new TreeMap<>();
        list.forEach(s -> m.merge(s, 1, Integer::sum));
        return m;
    }

    /** Mount points under the root or run root, the roots themselves included. */
    List<String> mounts() {
        List<String> out = new ArrayList<>();
        for (String line : readLines(Path.of("/proc/self/mountinfo"))) {
            String point = unescapeMountinfo(line.split(" ")[4]);
            if (under(point, root) || under(point, runRoot)) {
                out.add(point);
            }
        }
        return out;
    }

    private static boolean under(String path, Path dir) {
        String base = dir.toString();
        return path.equals(base) || path.startsWith(base + "/");
    }

    private static String unescapeMountinfo(String s) {
        Matcher m = Pattern.compile("\\\\([0-7]{3})").matcher(s);
        StringBuilder b = new StringBuilder();
        while (m.find()) {
            m.appendReplacement(b, Matcher.quoteReplacement(Character.toString((char) Integer.parseInt(m.group(1), 8))));
        }
        m.appendTail(b);
        return b.toString();
    }

    /** Files in an {@code ns} directory under the run root (berth pins a pod's namespaces there). */
    List<String> namespacePins() {
        List<String> out = new ArrayList<>();
        walk(runRoot, (path, attrs) -> {
            Path parent = path.getParent();
            if (!attrs.isDirectory() && parent != null && parent.getFileName() != null
                    && parent.getFileName().toString().equals("ns")) {
                out.add(path.toString());
            }
        }, List.of());
        return out;
    }

    /** Interfaces whose master is the bridge (a pod's host-side veth). */
    List<String> veths() {
        if (!Files.exists(Path.of("/sys/class/net", bridge))) {
            return List.of();
        }
        List<String> out = new ArrayList<>();
        for (String line : run("ip", "-o", "link", "show", "master", bridge).lines().toList()) {
            String[] f = line.split(":\\s+", 3);
            if (f.length >= 2) {
                out.add(f[1].replaceAll("@.*", ""));
            }
        }
        return out;
    }

    /** host-local's lease files (named by IP) in any network directory of the IPAM data directory. */
    List<String> ipLeases() {
        Path ipam = root.resolve("cni/ipam");
        List<String> out = new ArrayList<>();
        walk(ipam, (path, attrs) -> {
            String n = path.getFileName().toString();
            if (!attrs.isDirectory() && (IPV4.matcher(n).matches() || n.contains(":"))) {
                out.add(ipam.relativize(path).toString());
            }
        }, List.of());
        return out;
    }

    /**
     * Lines of {@code iptables-save} (every table) that name an address of the subnet, and the
     * lines of the chains those jump to (again and again, so a chain of chains is followed),
     * chain declarations with their counters left out.
     */
    List<String> iptablesRules() {
        String save = run("iptables-save");
        List<String> lines = new ArrayList<>();
        String table = "";
        for (String line : save.lines().toList()) {
            if (line.startsWith("*")) {
                table = line.substring(1);
            } else if (!line.startsWith("#") && !line.equals("COMMIT") && !line.isBlank()) {
                lines.add(table + " " + (line.startsWith(":") ? line.replaceAll("\\s+\\[\\d+:\\d+\\]$", "") : line));
            }
        }
        Set<String> chains = new LinkedHashSet<>();
        Set<String> picked = new LinkedHashSet<>();
        boolean grew = true;
        while (grew) {
            grew = false;
            for (String line : lines) {
                if (picked.contains(line)) {
                    continue;
                }
                if (namesSubnet(line) || namesChain(line, chains)) {
                    picked.add(line);
                    Matcher j = JUMP.matcher(line);
                    while (j.find()) {
                        if (!isBuiltinTarget(j.group(1))) {
                            chains.add(j.group(1));
                        }
                    }
                    grew = true;
                }
            }
        }
        return new ArrayList<>(picked);
    }

    private static boolean isBuiltinTarget(String target) {
        return List.of("ACCEPT", "DROP", "RETURN", "REJECT", "MASQUERADE", "SNAT", "DNAT", "MARK", "LOG", "CONNMARK",
                "REDIRECT", "QUEUE", "NFQUEUE").contains(target);
    }

    private static boolean namesChain(String line, Set<String> chains) {
        for (String c : chains) {
            if (Pattern.compile("(^|\\s|:)" + Pattern.quote(c) + "(\\s|$)").matcher(line).find()) {
                return true;
            }
        }
        return false;
    }

    private boolean namesSubnet(String line) {
        String[] cidr = subnet.split("/");
        long net = ipv4(cidr[0]);
        int bits = Integer.parseInt(cidr[1]);
        long mask = bits == 0 ? 0 : (0xffffffffL << (32 - bits)) & 0xffffffffL;
        Matcher m = IPV4.matcher(line);
        while (m.find()) {
            long a = ipv4(m.group());
            if (a >= 0 && (a & mask) == (net & mask)) {
                return true;
            }
        }
        return false;
    }

    private static long ipv4(String s) {
        long v = 0;
        for (String part : s.split("\\.")) {
            int p = Integer.parseInt(part);
            if (p > 255) {
                return -1;
            }
            v = (v << 8) | p;
        }
        return v;
    }

    /** Cgroups below each parent in every mounted hierarchy (v1 controllers and the unified one), once per hierarchy. */
    List<String> cgroups() {
        List<String> out = new ArrayList<>();
        Set<Path> seen = new java.util.HashSet<>();
        for (Path hierarchy : list(CGROUP_ROOT)) {
            Path real;
            try {
                real = hierarchy.toRealPath();
            } catch (IOException e) {
                continue;
            }
            if (!Files.isDirectory(real) || !seen.add(real)) {
                continue;
            }
            for (String parent : cgroupParents) {
                Path top = real.resolve(parent.replaceAll("^/+", ""));
                walk(top, (path, attrs) -> {
                    if (attrs.isDirectory() && !path.equals(top)) {
                        out.add(hierarchy.getFileName() + ":/" + real.relativize(path));
                    }
                }, List.of());
            }
        }
        return out;
    }

    /** conmon processes whose command line names the run root. */
    List<String> conmons() {
        return processesNamingRunRoot(true);
    }

    /**
     * Processes other than conmon and the daemon ({@code berth.jar}) whose command line names the
     * run root, such as a shell that starts conmon and waits on a FIFO under it.
     */
    List<String> otherProcesses() {
        return processesNamingRunRoot(false);
    }

    private List<String> processesNamingRunRoot(boolean conmon) {
        List<String> out = new ArrayList<>();
        for (Path p : list(Path.of("/proc"))) {
            String name = p.getFileName().toString();
            if (!name.matches("\\d+") || Long.parseLong(name) == ProcessHandle.current().pid()) {
                continue;
            }
            try {
                String cmd = new String(Files.readAllBytes(p.resolve("cmdline")), StandardCharsets.UTF_8);
                String argv0 = cmd.contains("\0") ? cmd.substring(0, cmd.indexOf('\0')) : cmd;
                if (!cmd.contains(runRoot.toString()) || cmd.contains("berth.jar")) {
                    continue;
                }
                if (argv0.endsWith("conmon") == conmon) {
                    out.add(name + " " + cmd.replace('\0', ' ').strip());
                }
            } catch (IOException e) {
                // gone meanwhile
            }
        }
        return out;
    }

    /** Every path under the root but the image store, and under the run root but the socket. */
    List<String> stateFiles() {
        List<String> out = new ArrayList<>();
        walk(root, (path, attrs) -> {
            if (!path.equals(root) && !ignoredStateFiles.contains(path.toString())) {
                out.add(path.toString());
            }
        }, List.of(root.resolve("images")));
        walk(runRoot, (path, attrs) -> {
            if (!path.equals(runRoot) && !path.getFileName().toString().endsWith(".sock")) {
                out.add(path.toString());
            }
        }, List.of());
        return out;
    }

    private static List<String> filesUnder(Path dir, List<Path> skip) {
        List<String> out = new ArrayList<>();
        walk(dir, (path, attrs) -> {
            if (!attrs.isDirectory()) {
                out.add(dir.relativize(path).toString());
            }
        }, skip);
        return out;
    }

    private interface Visitor {
        void visit(Path path, BasicFileAttributes attrs);
    }

    /**
     * Visits every path under {@code dir} (not following symlinks, not crossing into a mounted
     * container root filesystem: only berth's own entries count), skipping {@code skip}.
     */
    private static void walk(Path dir, Visitor visitor, List<Path> skip) {
        if (!Files.isDirectory(dir)) {
            return;
        }
        Map<Path, Boolean> mountPoints = new HashMap<>();
        for (String line : readLines(Path.of("/proc/self/mountinfo"))) {
            mountPoints.put(Path.of(unescapeMountinfo(line.split(" ")[4])), true);
        }
        try {
            Files.walkFileTree(dir, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult preVisitDirectory(Path d, BasicFileAttributes attrs) {
                    if (skip.contains(d)) {
                        return FileVisitResult.SKIP_SUBTREE;
                    }
                    visitor.visit(d, attrs);
                    // a mount below the walked directory (a container's rootfs, a pod's shm) is counted as a mount
                    return !d.equals(dir) && mountPoints.containsKey(d) ? FileVisitResult.SKIP_SUBTREE : FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult visitFile(Path f, BasicFileAttributes attrs) {
                    visitor.visit(f, attrs);
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult visitFileFailed(Path f, IOException e) {
                    // removed while walking (the daemon may be working), or unreadable: not counted
                    return FileVisitResult.CONTINUE;
                }
            });
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static List<Path> list(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.sorted().toList();
        } catch (NoSuchFileException e) {
            return List.of();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static List<String> readLines(Path file) {
        try {
            return Files.readAllLines(file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Runs a command to its end; its output, or an exception when it fails. */
    static String run(String... command) {
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
                throw new IllegalStateException(String.join(" ", command) + " failed: " + out);
            }
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
