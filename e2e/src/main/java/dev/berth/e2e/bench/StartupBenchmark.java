package dev.berth.e2e.bench;

import dev.berth.e2e.BerthProcess;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * Daemon start time (process start to the first answered Version call over the socket) and
 * resident memory right after start, over N runs; prints each run and the medians.
 * Run: {@code java -cp "$(cat e2e/target/classpath.txt):e2e/target/classes" dev.berth.e2e.bench.StartupBenchmark 5}
 */
public final class StartupBenchmark {
    public static void main(String[] args) throws Exception {
        int runs = args.length > 0 ? Integer.parseInt(args[0]) : 5;
        List<Double> startMs = new ArrayList<>();
        List<Long> rssKb = new ArrayList<>();
        for (int i = 0; i < runs; i++) {
            Path dir = Files.createTempDirectory("berth-bench-");
            long t0 = System.nanoTime();
            try (BerthProcess berth = BerthProcess.start(dir)) {
                double ms = (System.nanoTime() - t0) / 1e6;
                Thread.sleep(1000);
                long rss = rss(berth.pid());
                startMs.add(ms);
                rssKb.add(rss);
                System.out.printf("run %d: first answer after %.0f ms, RSS %d MiB%n", i + 1, ms, rss / 1024);
            }
            delete(dir);
        }
        System.out.printf("median over %d runs: start %.0f ms, RSS %d MiB%n", runs, median(startMs), (long) median(
                rssKb.stream().map(Long::doubleValue).toList()) / 1024);
    }

    static long rss(long pid) throws Exception {
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        return -1;
    }

    static double median(List<Double> values) {
        List<Double> sorted = new ArrayList<>(values);
        Collections.sort(sorted);
        int n = sorted.size();
        return n % 2 == 1 ? sorted.get(n / 2) : (sorted.get(n / 2 - 1) + sorted.get(n / 2)) / 2;
    }

    private static void delete(Path dir) throws Exception {
        try (var walk = Files.walk(dir)) {
            walk.sorted(Collections.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }
}
