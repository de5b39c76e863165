package dev.berth.cgroups.bench;

import dev.berth.cgroups.CgroupManager;
import dev.berth.cgroups.Cgroups;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.infra.Blackhole;

/**
 * Time and allocation of reading full stats (cpu, memory, pids, io, PSI where present) of N
 * container cgroups on this host's real cgroup layout. Creates the cgroups under a random
 * {@code berth-bench-*} parent (needs root) and removes them afterwards.
 * Run: {@code cgroups/bench/stats-benchmark.sh} (adds {@code -prof gc}).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class StatsBenchmark {
    @Param("100")
    public int containers;

    private CgroupManager cgroups;
    private String parent;
    private final List<String> paths = new ArrayList<>();

    @Setup(Level.Trial)
    public void create() {
        cgroups = CgroupManager.detect("cgroupfs");
        parent = "/berth-bench-" + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt());
        String pod = cgroups.createPod(parent + "/pod", Cgroups.Resources.none());
        Cgroups.Resources limits = new Cgroups.Resources(512L, 50_000L, 100_000L, null, null, 256L << 20, null, 64L, Map.of(), Map.of());
        for (int i = 0; i < containers; i++) {
            paths.add(cgroups.createContainer(pod, "c" + i, limits));
        }
        System.out.println("\ncgroup layout: " + cgroups.describe());
    }

    @TearDown(Level.Trial)
    public void remove() {
        cgroups.killAll(parent);
        cgroups.remove(parent);
        cgroups.close();
    }

    /** One scrape: full stats of every container. */
    @Benchmark
    public void fullStatsOfAllContainers(Blackhole bh) {
        for (String p : paths) {
            bh.consume(cgroups.stats(p).orElseThrow());
        }
    }

    public static void main(String[] args) throws Exception {
        org.openjdk.jmh.Main.main(args);
    }
}
