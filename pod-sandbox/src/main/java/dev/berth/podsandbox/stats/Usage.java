package dev.berth.podsandbox.stats;

import dev.berth.cgroups.Cgroups.CgroupStats;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * What berth measures of containers and pods, as plain values. Every figure is taken at
 * {@code timestampNanos} (epoch). Boxed fields are null when berth cannot tell.
 */
public final class Usage {
    private Usage() {
    }

    /**
     * CPU time used so far and, once two samples exist, the rate between the previous sample
     * and this one in nanoseconds of CPU per second (1e9 = one core busy).
     */
    public record Cpu(long timestampNanos, long usageCoreNanos, Long usageNanoCores) {
    }

    /**
     * Memory: {@code availableBytes} is the limit minus the working set (never below 0), null
     * when the cgroup has no limit.
     */
    public record Memory(long timestampNanos, long workingSetBytes, Long availableBytes, long usageBytes,
                         long rssBytes, long pageFaults, long majorPageFaults) {
        public static Memory of(CgroupStats s) {
            Long available = s.memoryLimitBytes() <= 0 || s.memoryLimitBytes() == Long.MAX_VALUE
                    ? null : Math.max(0, s.memoryLimitBytes() - s.memoryWorkingSetBytes());
            return new Memory(s.timestampNanos(), s.memoryWorkingSetBytes(), available, s.memoryUsageBytes(),
                    s.memoryRssBytes(), s.pageFaults(), s.majorPageFaults());
        }
    }

    /** What a directory tree (a writable layer) uses, and the mountpoint of the filesystem it is on. */
    public record Filesystem(long timestampNanos, Path mountpoint, long usedBytes, long inodesUsed) {
    }

    /** Pressure stall information of one resource: the "some" and "full" lines (full may be absent for cpu). */
    public record Pressure(Line some, Line full) {
        public record Line(double avg10, double avg60, double avg300, long totalMicros) {
        }

        /** From the cgroup's array form ([some avg10, avg60, avg300, total, full avg10, avg60, avg300, total]). */
        static Pressure of(double[] v) {
            if (v == null || v.length < 4) {
                return null;
            }
            Line some = new Line(v[0], v[1], v[2], (long) v[3]);
            Line full = v.length >= 8 ? new Line(v[4], v[5], v[6], (long) v[7]) : null;
            return new Pressure(some, full);
        }
    }

    /** Counters of one network interface as the pod's network namespace reports them. */
    public record Interface(String name, long rxBytes, long rxPackets, long rxErrors, long rxDropped,
                            long txBytes, long txPackets, long txErrors, long txDropped) {
    }

    /** The cgroup figures a container and a pod share. {@code pressure} maps "cpu", "memory", "io". */
    public record Cgroup(long timestampNanos, Cpu cpu, Memory memory, long swapUsageBytes, long processes,
                         long oomKills, Map<String, Pressure> pressure) {
        public Cgroup {
            pressure = pressure == null ? Map.of() : Map.copyOf(pressure);
        }
    }

    /**
     * One container's usage. {@code cgroup} is null unless it is running;
     * {@code writableLayer} is null when berth does not know where it is.
     */
    public record Container(String id, String sandboxId, String name, int attempt, String imageRef,
                            Map<String, String> labels, Map<String, String> annotations,
                            long timestampNanos, Cgroup cgroup, Filesystem writableLayer) {
    }

    /**
     * One pod's usage: its cgroup (null without one), its network interfaces (empty for host
     * network or when the namespace is gone) and its containers.
     */
    public record Pod(String id, String name, String uid, String namespace, int attempt,
                      Map<String, String> labels, Map<String, String> annotations, long timestampNanos,
                      Cgroup cgroup, long networkTimestampNanos, List<Interface> interfaces,
                      List<Container> containers) {
        /** The interface the pod's traffic goes through: eth0 if present, else the first one that is not loopback. */
        public Interface defaultInterface() {
            return interfaces.stream().filter(i -> i.name().equals("eth0")).findFirst()
                    .orElse(interfaces.stream().filter(i -> !i.name().equals("lo")).findFirst().orElse(null));
        }
    }
}
