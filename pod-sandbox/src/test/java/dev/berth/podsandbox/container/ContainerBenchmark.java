package dev.berth.podsandbox.container;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * Create and start latency with runc (p50/p95 over 50 containers) and the PSS of a running
 * container's conmon. Not an assertion: figures for the report. Run with
 * {@code -Dberth.benchmark=true -Dtest=ContainerBenchmark}.
 */
@EnabledIfSystemProperty(named = "berth.benchmark", matches = "true")
@Tag("root")
class ContainerBenchmark {
    private static final int N = Integer.getInteger("berth.benchmark.n", 50);

    @Test
    void createAndStartLatencyAndConmonMemory() throws Exception {
        try (ContainerFixture fx = new ContainerFixture()) {
            ContainerManager m = fx.manager();
            // warm-up: class loading, JIT, page cache
            for (int i = 0; i < 3; i++) {
                ContainerRecord w = m.create(ContainerManager.newId(), fx.request(fx.config("warm" + i).command("sleep", "1000").build()));
                m.start(w.id());
                m.remove(w.id());
            }
            List<Long> create = new ArrayList<>();
            List<Long> start = new ArrayList<>();
            List<ContainerRecord> running = new ArrayList<>();
            for (int i = 0; i < N; i++) {
                long t0 = System.nanoTime();
                ContainerRecord c = m.create(ContainerManager.newId(), fx.request(fx.config("bench" + i).command("sleep", "1000").build()));
                long t1 = System.nanoTime();
                m.start(c.id());
                long t2 = System.nanoTime();
                create.add(t1 - t0);
                start.add(t2 - t1);
                running.add(c);
            }
            long pssTotal = 0;
            long rssTotal = 0;
            for (ContainerRecord c : running) {
                for (String line : Files.readAllLines(Path.of("/proc", Long.toString(c.conmonPid()), "smaps_rollup"))) {
                    if (line.startsWith("Pss:")) {
                        pssTotal += Long.parseLong(line.replaceAll("\\D", ""));
                    } else if (line.startsWith("Rss:")) {
                        rssTotal += Long.parseLong(line.replaceAll("\\D", ""));
                    }
                }
            }
            List<Long> stop = new ArrayList<>();
            for (ContainerRecord c : running) {
                long t0 = System.nanoTime();
                m.stop(c.id(), 0);
                stop.add(System.nanoTime() - t0);
                m.remove(c.id());
            }
            System.out.printf("BENCH runc create  p50 %.1f ms  p95 %.1f ms%n", pct(create, 50), pct(create, 95));
            System.out.printf("BENCH runc start   p50 %.1f ms  p95 %.1f ms%n", pct(start, 50), pct(start, 95));
            List<Long> both = new ArrayList<>();
            for (int i = 0; i < N; i++) {
                both.add(create.get(i) + start.get(i));
            }
            System.out.printf("BENCH runc create+start p50 %.1f ms  p95 %.1f ms%n", pct(both, 50), pct(both, 95));
            System.out.printf("BENCH runc stop with timeout 0 (SIGKILL) p50 %.1f ms  p95 %.1f ms%n",
                    pct(stop, 50), pct(stop, 95));
            System.out.printf("BENCH conmon per container: PSS %d kB, RSS %d kB (mean of %d)%n", pssTotal / N,
                    rssTotal / N, N);
        }
    }

    private static double pct(List<Long> values, int p) {
        List<Long> s = new ArrayList<>(values);
        Collections.sort(s);
        int idx = (int) Math.ceil(p / 100.0 * s.size()) - 1;
        return s.get(Math.max(0, idx)) / 1e6;
    }
}
