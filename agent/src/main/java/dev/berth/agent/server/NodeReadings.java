package dev.berth.agent.server;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The node's own usage, read from the kernel under {@code root} ({@code /} on a machine, a
 * made-up tree in tests): CPU time and memory of the root cgroup (cgroup v1's root
 * {@code cpuacct} and {@code memory} controllers; on a unified hierarchy the root's
 * {@code cpu.stat} and the kernel's meminfo and vmstat, which say the same of the whole
 * machine), the interfaces of the host's network namespace, process counts and boot time.
 * A figure that cannot be read is -1.
 */
public final class NodeReadings {
    private static final int MAX_READ = 1 << 20;
    /** The kernel's USER_HZ: /proc/stat counts in hundredths of a second. */
    private static final long JIFFY_NANOS = 10_000_000L;

    private final Path root;

    public NodeReadings(Path root) {
        this.root = root;
    }

    /** The node's memory: usage, working set (usage less inactive file pages), RSS and page faults. */
    public record Memory(long usageBytes, long workingSetBytes, long rssBytes, long pageFaults, long majorPageFaults) {
    }

    /** One interface's counters. */
    public record Interface(String name, long rxBytes, long rxErrors, long txBytes, long txErrors) {
    }

    /** CPU time the whole node used since boot, in nanoseconds. */
    public long cpuCoreNanos() {
        for (String dir : List.of("sys/fs/cgroup/cpu,cpuacct", "sys/fs/cgroup/cpuacct", "sys/fs/cgroup/cpu")) {
            String usage = read(root.resolve(dir).resolve("cpuacct.usage"));
            if (!usage.isEmpty()) {
                try {
                    return Long.parseLong(usage.trim());
                } catch (NumberFormatException e) {
                    break;
                }
            }
        }
        long usec = field(read(root.resolve("sys/fs/cgroup/cpu.stat")), "usage_usec");
        if (usec >= 0) {
            return usec * 1000;
        }
        // the kernel's own count: every state but idle and iowait
        for (String line : read(root.resolve("proc/stat")).split("\n")) {
            if (line.startsWith("cpu ")) {
                String[] f = line.trim().split("\\s+");
                long busy = 0;
                for (int i = 1; i < f.length && i <= 8; i++) {
                    if (i != 4 && i != 5) {
                        busy += Long.parseLong(f[i]);
                    }
                }
                return busy * JIFFY_NANOS;
            }
        }
        return -1;
    }

    public Memory memory() {
        Path v1 = root.resolve("sys/fs/cgroup/memory");
        String usage = read(v1.resolve("memory.usage_in_bytes"));
        if (!usage.isEmpty()) {
            String stat = read(v1.resolve("memory.stat"));
            long u = Long.parseLong(usage.trim());
            long inactive = Math.max(0, field(stat, "total_inactive_file"));
            return new Memory(u, Math.max(0, u - inactive), field(stat, "total_rss"), field(stat, "total_pgfault"),
                    field(stat, "total_pgmajfault"));
        }
        String meminfo = read(root.resolve("proc/meminfo"));
        long total = field(meminfo, "MemTotal:");
        long free = field(meminfo, "MemFree:");
        if (total < 0 || free < 0) {
            return new Memory(-1, -1, -1, -1, -1);
        }
        long u = (total - free) * 1024;
        long inactive = Math.max(0, field(meminfo, "Inactive(file):")) * 1024;
        long anon = field(meminfo, "AnonPages:");
        String vmstat = read(root.resolve("proc/vmstat"));
        return new Memory(u, Math.max(0, u - inactive), anon < 0 ? -1 : anon * 1024, field(vmstat, "pgfault"), field(vmstat, "pgmajfault"));
    }

    /** The host's interfaces but loopback and the host ends of pods' veth pairs. */
    public List<Interface> interfaces() {
        List<Interface> out = new ArrayList<>();
        String[] lines = read(root.resolve("proc/net/dev")).split("\n");
        for (String line : lines) {
            int colon = line.indexOf(':');
            if (colon < 0 || line.contains("|")) {
                continue;
            }
            String name = line.substring(0, colon).trim();
            if (name.equals("lo") || name.startsWith("veth")) {
                continue;
            }
            String[] f = line.substring(colon + 1).trim().split("\\s+");
            if (f.length < 11) {
                continue;
            }
            try {
                out.add(new Interface(name, Long.parseLong(f[0]), Long.parseLong(f[2]), Long.parseLong(f[8]), Long.parseLong(f[10])));
            } catch (NumberFormatException e) {
                // a line that is not counters
            }
        }
        return out;
    }

    /** The interface of the default IPv4 route, or null. */
    public String defaultInterface() {
        for (String line : read(root.resolve("proc/net/route")).split("\n")) {
            String[] f = line.trim().split("\\s+");
            if (f.length > 2 && f[1].equals("00000000") && !f[0].equals("Iface")) {
                return f[0];
            }
        }
        return null;
    }

    /** The highest process id (pid_max) and the number of processes now (threads included, as the kernel counts them). */
    public long[] processes() {
        long max = -1;
        long current = -1;
        try {
            max = Long.parseLong(read(root.resolve("proc/sys/kernel/pid_max")).trim());
        } catch (NumberFormatException e) {
            // unknown
        }
        String[] load = read(root.resolve("proc/loadavg")).trim().split("\\s+");
        if (load.length > 3 && load[3].indexOf('/') > 0) {
            try {
                current = Long.parseLong(load[3].substring(load[3].indexOf('/') + 1));
            } catch (NumberFormatException e) {
                // unknown
            }
        }
        return new long[] {max, current};
    }

    /** When the machine booted, in seconds since the epoch, or -1. */
    public long bootTimeSeconds() {
        return field(read(root.resolve("proc/stat")), "btime");
    }

    /** The number after {@code name} (and blanks) at the start of one of the lines, or -1. */
    static long field(String text, String name) {
        for (String line : text.split("\n")) {
            if (line.startsWith(name) && line.length() > name.length() && (Character.isWhitespace(line.charAt(name.length()))
                    || name.endsWith(":"))) {
                String[] f = line.substring(name.length()).trim().split("\\s+");
                try {
                    return Long.parseLong(f[0]);
                } catch (NumberFormatException e) {
                    return -1;
                }
            }
        }
        return -1;
    }

    private static String read(Path file) {
        try (InputStream in = Files.newInputStream(file)) {
            return new String(in.readNBytes(MAX_READ), StandardCharsets.UTF_8);
        } catch (IOException | SecurityException e) {
            return "";
        }
    }
}
