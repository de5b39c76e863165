package dev.berth.cgroups.bench;

import dev.berth.cgroups.CgroupManager;
import dev.berth.cgroups.Resources;
import dev.berth.cgroups.TestCgroups;
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
        String pod = cgroups.createPod(parent + "/pod", Resources.none());
        Resources limits = new Resources(512L, 50_000L, 100_000L, null, null, 256L << 20, null, null, 64L, Map.of(), Map.of());
        for (int i = 0; i < containers; i++) {
            String ctr = cgroups.containerPath(pod, "c" + i);
            TestCgroups.mkdirContainer(cgroups.layout(), ctr);
            cgroups.update(ctr, limits);
            paths.add(ctr);
        }
        System.out.println("\ncgroup layout: " + cgroups.describe());
    }

    @TearDown(Level.Trial)
    public void remove() {
        TestCgroups.killAll(cgroups.layout(), parent);
        cgroups.remove(parent);
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
