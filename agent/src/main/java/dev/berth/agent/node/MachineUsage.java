package dev.berth.agent.node;

import dev.berth.host.Libc;
import java.nio.file.Path;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;

/**
 * One sample of what the pressure conditions compare with their thresholds: memory available
 * (capacity minus the working set, as the kubelet computes memory.available), the node's and
 * the image filesystem's free bytes and inodes, and free process ids. A value of -1 means not
 * measured (that signal then never reports pressure).
 */
public record MachineUsage(long memoryAvailable, long memoryCapacity, Fs nodefs, Fs imagefs, long pidAvailable, long pidMax) {
    /** A filesystem's capacity and what is left of it (for unprivileged users, as statvfs's f_bavail says). */
    public record Fs(long capacityBytes, long availableBytes, long inodes, long inodesFree) {
        public static final Fs UNKNOWN = new Fs(-1, -1, -1, -1);
    }

    /** Measures this machine: {@code nodefs} is the agent's root directory, {@code imagefs} the runtime's image filesystem. */
    public static MachineUsage sample(Path nodefs, Path imagefs, long memoryCapacity) {
        Fs node = statvfs(nodefs);
        Fs image = imagefs == null ? node : statvfs(imagefs);
        long[] pids = pids(Path.of("/"));
        return new MachineUsage(memoryAvailable(Path.of("/"), memoryCapacity), memoryCapacity, node,
                image == Fs.UNKNOWN ? node : image, pids[0], pids[1]);
    }

    /**
     * Capacity minus the working set: the root memory cgroup's usage less its inactive file
     * pages on cgroup v1; on a unified hierarchy (no root usage file) meminfo's MemFree plus
     * Inactive(file), the same quantity seen from the kernel's counters.
     */
    static long memoryAvailable(Path root, long capacity) {
        try {
            String usage = MachineFacts.small(root.resolve("sys/fs/cgroup/memory/memory.usage_in_bytes"));
            if (!usage.isEmpty()) {
                long inactive = field(MachineFacts.small(root.resolve("sys/fs/cgroup/memory/memory.stat")), "total_inactive_file ");
                long workingSet = Math.max(0, Long.parseLong(usage) - Math.max(0, inactive));
                return Math.max(0, capacity - workingSet);
            }
            String meminfo = MachineFacts.small(root.resolve("proc/meminfo"));
            long free = field(meminfo, "MemFree:");
            long inactive = field(meminfo, "Inactive(file):");
            return free < 0 ? -1 : (free + Math.max(0, inactive)) * 1024;
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    /** The number after {@code name} on its line, or -1. */
    static long field(String text, String name) {
        for (String line : text.split("\n")) {
            if (line.startsWith(name)) {
                String digits = line.substring(name.length()).replaceAll("[^0-9]", "");
                return digits.isEmpty() ? -1 : Long.parseLong(digits);
            }
        }
        return -1;
    }

    /**
     * Free process ids and their maximum: the lower of pid_max and threads-max, less the tasks
     * that exist (the total of /proc/loadavg's fourth field), as the kubelet counts them.
     */
    static long[] pids(Path root) {
        try {
            long max = Long.parseLong(MachineFacts.small(root.resolve("proc/sys/kernel/pid_max")));
            String threadsMax = MachineFacts.small(root.resolve("proc/sys/kernel/threads-max"));
            if (!threadsMax.isEmpty()) {
                max = Math.min(max, Long.parseLong(threadsMax));
            }
            String[] load = MachineFacts.small(root.resolve("proc/loadavg")).split("\\s+");
            long tasks = Long.parseLong(load[3].substring(load[3].indexOf('/') + 1));
            return new long[] {Math.max(0, max - tasks), max};
        } catch (RuntimeException e) {
            return new long[] {-1, -1};
        }
    }

    /** statvfs(3) of {@code path}, or {@link Fs#UNKNOWN} when it fails. */
    public static Fs statvfs(Path path) {
        try {
            Pointer buf = Memory.allocateDirect(Libc.runtime(), 112);
            if (Libc.c().statvfs(path.toString(), buf) != 0) {
                return Fs.UNKNOWN;
            }
            // struct statvfs on 64-bit Linux: f_bsize, f_frsize, f_blocks, f_bfree, f_bavail, f_files, f_ffree, f_favail
            long frsize = buf.getLong(8);
            return new Fs(buf.getLong(16) * frsize, buf.getLong(32) * frsize, buf.getLong(40), buf.getLong(48));
        } catch (RuntimeException | LinkageError e) {
            return Fs.UNKNOWN;
        }
    }
}
