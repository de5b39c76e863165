package dev.berth.podsandbox.container;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfEnvironmentVariable;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * Create and start latency with crun against runc, measured in the same cgroup v2 guest (crun
 * refuses a hybrid host), and each handler's conmon PSS. Not an assertion: figures for the
 * report. The two handlers alternate container by container, so load on the host weighs on both
 * alike. Runs in the guest of {@link CrunGuestTest} only when that test is run with
 * {@code -Dberth.benchmark=true} ({@code -Dberth.benchmark.n} sets the count, default 50).
 */
@EnabledIfEnvironmentVariable(named = "CGROUP2_VM", matches = "1")
@EnabledIfSystemProperty(named = "berth.benchmark", matches = "true")
@Tag("root")
class HandlerBenchmarkInGuest {
    private static final int N = Integer.getInteger("berth.benchmark.n", 50);
    private static final List<String> HANDLERS = List.of("crun", "runc");
    private static final List<String> REVERSED = List.of("runc", "crun");

    @Test
    void createAndStartLatencyCrunAgainstRunc() throws Exception {
        try (ContainerFixture fx = new ContainerFixture(CrunLifecycleInGuest.STATE_BASE)) {
            ContainerManager m = fx.manager();
            System.out.println("BENCH guest load average before: " + Files.readString(Path.of("/proc/loadavg")).strip());
            // warm-up: class loading and JIT of both paths, page cache of both runtimes
            for (int i = 0; i < 3; i++) {
                for (String h : HANDLERS) {
                    ContainerRecord w = m.create(ContainerManager.newId(), fx.request(fx.config("warm-" + h + i).command("sleep", "1000").build(),
                            dev.berth.podsandbox.container.spec.ImageConfig.empty(), h));
                    m.start(w.id());
                    m.remove(w.id());
                }
            }
            Map<String, List<Long>> create = new LinkedHashMap<>();
            Map<String, List<Long>> start = new LinkedHashMap<>();
            Map<String, List<ContainerRecord>> running = new LinkedHashMap<>();
            for (String h : HANDLERS) {
                create.put(h, new ArrayList<>());
                start.put(h, new ArrayList<>());
                running.put(h, new ArrayList<>());
            }
            for (int i = 0; i < N; i++) {
                for (String h : (i % 2 == 0 ? HANDLERS : REVERSED)) {
                    long t0 = System.nanoTime();
                    ContainerRecord c = m.create(ContainerManager.newId(), fx.request(fx.config(h + i).command("sleep", "1000").build(),
                            dev.berth.podsandbox.container.spec.ImageConfig.empty(), h));
                    long t1 = System.nanoTime();
                    m.start(c.id());
                    long t2 = System.nanoTime();
                    create.get(h).add(t1 - t0);
                    start.get(h).add(t2 - t1);
                    running.get(h).add(c);
                }
            }
            System.out.println("BENCH guest load average after: " + Files.readString(Path.of("/proc/loadavg")).strip());
            Map<String, Double> bothP50 = new LinkedHashMap<>();
            for (String h : HANDLERS) {
                List<Long> both = new ArrayList<>();
                for (int i = 0; i < N; i++) {
                    both.add(create.get(h).get(i) + start.get(h).get(i));
                }
                bothP50.put(h, pct(both, 50));
                long pss = 0;
                for (ContainerRecord c : running.get(h)) {
                    assertEquals(ContainerState.RUNNING, m.status(c.id()).state());
                    pss += kb(c.conmonPid(), "Pss:");
                }
                System.out.printf("BENCH guest %s (%d): create p50 %.1f ms p95 %.1f ms; start p50 %.1f ms p95 %.1f ms;"
                                + " create+start p50 %.1f ms p95 %.1f ms; conmon PSS %d kB%n", h, N,
                        pct(create.get(h), 50), pct(create.get(h), 95), pct(start.get(h), 50), pct(start.get(h), 95),
                        pct(both, 50), pct(both, 95), pss / N);
            }
            System.out.printf("BENCH guest create+start p50 crun/runc = %.2f%n", bothP50.get("crun") / bothP50.get("runc"));
            for (List<ContainerRecord> cs : running.values()) {
                for (ContainerRecord c : cs) {
                    m.remove(c.id());
                }
            }
            bareRuntimes(fx);
        }
    }

    /**
     * The OCI runtimes alone, without berth or conmon: {@code create} and {@code start} of the
     * runtime's own default spec (a {@code sleep} on the busybox root), then {@code delete}.
     */
    private static void bareRuntimes(ContainerFixture fx) throws Exception {
        Path bundle = Files.createDirectories(fx.dir.resolve("bare"));
        Path stderr = fx.dir.resolve("bare.err");
        run(stderr, ContainerFixture.RUNC.toString(), "spec", "--bundle", bundle.toString());
        com.fasterxml.jackson.databind.node.ObjectNode spec = (com.fasterxml.jackson.databind.node.ObjectNode)
                dev.berth.common.Json.mapper().readTree(bundle.resolve("config.json").toFile());
        ((com.fasterxml.jackson.databind.node.ObjectNode) spec.get("root")).put("path", fx.rootfs.toString());
        com.fasterxml.jackson.databind.node.ObjectNode process = (com.fasterxml.jackson.databind.node.ObjectNode) spec.get("process");
        process.put("terminal", false);
        process.set("args", dev.berth.common.Json.mapper().valueToTree(List.of("sleep", "1000")));
        Files.writeString(bundle.resolve("config.json"), spec.toString());
        Map<String, List<Long>> both = new LinkedHashMap<>();
        HANDLERS.forEach(h -> both.put(h, new ArrayList<>()));
        for (int i = -3; i < N; i++) { // three rounds of warm-up
            for (String h : (i % 2 == 0 ? HANDLERS : REVERSED)) {
                String bin = (h.equals("crun") ? ContainerFixture.CRUN : ContainerFixture.RUNC).toString();
                String root = Files.createDirectories(fx.runDir.resolve(h)).toString();
                String id = "bare-" + h + "-" + (i + 3);
                long t0 = System.nanoTime();
                run(stderr, bin, "--root", root, "create", "--bundle", bundle.toString(), id);
                run(stderr, bin, "--root", root, "start", id);
                long t1 = System.nanoTime();
                run(stderr, bin, "--root", root, "delete", "--force", id);
                if (i >= 0) {
                    both.get(h).add(t1 - t0);
                }
            }
        }
        for (String h : HANDLERS) {
            System.out.printf("BENCH guest bare %s (%d): create+start p50 %.1f ms p95 %.1f ms%n", h, N,
                    pct(both.get(h), 50), pct(both.get(h), 95));
        }
        System.out.printf("BENCH guest bare create+start p50 crun/runc = %.2f%n",
                pct(both.get("crun"), 50) / pct(both.get("runc"), 50));
    }

    private static void run(Path stderr, String... argv) throws Exception {
        Process p = new ProcessBuilder(argv).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(stderr.toFile()).start();
        int code = p.waitFor();
        if (code != 0) {
            throw new AssertionError(String.join(" ", argv) + " exited " + code + ": " + Files.readString(stderr));
        }
    }

    private static long kb(long pid, String key) throws java.io.IOException {
        for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "smaps_rollup"))) {
            if (line.startsWith(key)) {
                return Long.parseLong(line.replaceAll("\\D", ""));
            }
        }
        return 0;
    }

    private static double pct(List<Long> values, int p) {
        List<Long> s = new ArrayList<>(values);
        Collections.sort(s);
        return s.get(Math.max(0, (int) Math.ceil(p / 100.0 * s.size()) - 1)) / 1e6;
    }
}
