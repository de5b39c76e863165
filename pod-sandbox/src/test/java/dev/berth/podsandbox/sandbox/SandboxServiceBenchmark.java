package dev.berth.podsandbox.sandbox;

import dev.berth.podsandbox.oci.ConmonRuntime;
import dev.berth.host.LinuxMounts;
import dev.berth.podsandbox.oci.RuntimeHandlers;
import dev.berth.podsandbox.testing.FakeCgroups;
import dev.berth.podsandbox.testing.FakePodNetwork;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.junit.jupiter.api.io.TempDir;

/**
 * In-process RunPodSandbox cost for pods with their own namespaces (net, ipc, uts pinned, shm
 * mounted), the network being the test's veth stand-in: p50/p95 of 50 sequential and the wall
 * time of 20 in parallel. Measured, not asserted; run with {@code -Dberth.benchmark=true}.
 */
@EnabledIfSystemProperty(named = "berth.benchmark", matches = "true")
@Tag("root")
class SandboxServiceBenchmark {
    @TempDir
    Path tmp;

    @Test
    void ownNamespacesWithTheVethStandIn() throws Exception {
        SandboxService s = new SandboxService(tmp.resolve("state"), tmp.resolve("run"),
                new RuntimeHandlers(Map.of("runc", "runc"), "runc", ConmonRuntime.factory(Path.of("/usr/bin/conmon"), tmp.resolve("run/runtimes"), java.time.Duration.ofSeconds(60), Path::of)),
                new FakePodNetwork(), new FakeCgroups(), SandboxContainers.NONE);
        StringBuilder report = new StringBuilder();
        try {
            for (int i = 0; i < 10; i++) {
                s.remove(s.run(SandboxServiceTest.pod("warm" + i)));
            }
            List<Long> seq = new ArrayList<>();
            for (int i = 0; i < 50; i++) {
                long t0 = System.nanoTime();
                s.run(SandboxServiceTest.pod("seq" + i));
                seq.add(System.nanoTime() - t0);
            }
            Collections.sort(seq);
            report.append(String.format("own netns/ipc/uts + shm + veth stand-in, 50 sequential (in-process): p50 %.1f ms, p95 %.1f ms%n",
                    seq.get(24) / 1e6, seq.get(47) / 1e6));
            long t0 = System.nanoTime();
            for (SandboxStatus st : s.list(SandboxFilter.ALL)) {
                s.remove(st.id());
            }
            report.append(String.format("removing those 50: %.1f ms each%n", (System.nanoTime() - t0) / 50e6));

            ExecutorService pool = Executors.newFixedThreadPool(20);
            try {
                long p0 = System.nanoTime();
                List<CompletableFuture<String>> runs = new ArrayList<>();
                for (int i = 0; i < 20; i++) {
                    String name = "par" + i;
                    runs.add(CompletableFuture.supplyAsync(() -> s.run(SandboxServiceTest.pod(name)), pool));
                }
                runs.forEach(CompletableFuture::join);
                report.append(String.format("own namespaces + veth stand-in, 20 in parallel (in-process): %.0f ms in total%n",
                        (System.nanoTime() - p0) / 1e6));
            } finally {
                pool.shutdownNow();
            }
        } finally {
            for (SandboxStatus st : s.list(SandboxFilter.ALL)) {
                s.remove(st.id());
            }
            LinuxMounts.INSTANCE.unmountAllUnder(tmp);
        }
        System.out.print(report);
        Files.createDirectories(Path.of("target"));
        Files.writeString(Path.of("target/sandbox-service-benchmark.txt"), report.toString());
    }
}
