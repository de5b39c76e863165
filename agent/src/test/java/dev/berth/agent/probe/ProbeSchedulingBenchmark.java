package dev.berth.agent.probe;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.agent.cri.CriClient;
import dev.berth.agent.pod.ContainerHooks;
import dev.berth.agent.testing.FakeCri;
import dev.berth.cri.v1.ExecSyncResponse;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * The probes' schedule under load: 100 pods with one exec readiness probe each, every second
 * (100 probes/s), one of them hanging 5 s in the runtime on each run. Prints how late the probes
 * started against their schedule (p50, p99, max) and the process's CPU over the run. Asserts
 * only that every fast probe kept running while the slow one hung; the figures are reported,
 * not asserted.
 */
class ProbeSchedulingBenchmark {
    static final int PODS = 100;
    static final Duration RUN = Duration.ofSeconds(10);

    @Test
    void hundredProbesPerSecondWithOneSlowProbe() throws Exception {
        try (FakeCri cri = new FakeCri()) {
            ConcurrentHashMap<String, AtomicInteger> runs = new ConcurrentHashMap<>();
            cri.execHandler = r -> {
                String id = r.getContainerId();
                runs.computeIfAbsent(id, k -> new AtomicInteger()).incrementAndGet();
                if (id.equals("c0")) {
                    try {
                        Thread.sleep(5000);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
                return ExecSyncResponse.getDefaultInstance();
            };
            CriClient client = new CriClient(cri.channel(), Duration.ofSeconds(10), Duration.ofSeconds(10));
            ConcurrentLinkedQueue<Long> lateness = new ConcurrentLinkedQueue<>();
            try (ProbeManager probes = new ProbeManager(new Actions(client), ContainerHooks.NONE, client, (o, t, r, m) -> {
            }, new SimpleMeterRegistry(), uid -> {
            }, List::of, ProbeManager.DEFAULT_THREADS)) {
                for (int i = 0; i < PODS; i++) {
                    Container c = new ContainerBuilder().withName("app").withReadinessProbe(ProbeManagerTest.exec("check", 3, 1)).build();
                    Pod pod = new PodBuilder().withNewMetadata().withName("p" + i).withNamespace("bench").withUid("u" + i).endMetadata()
                            .withNewSpec().addToContainers(c).endSpec().build();
                    probes.synced(pod, ProbeManagerTest.running("app", "c" + i, ProbeManagerTest.now()));
                }
                Thread.sleep(1500); // past the first period's random start
                probes.lateness = lateness::add;
                var os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
                long cpu0 = os.getProcessCpuTime();
                long wall0 = System.nanoTime();
                int before0 = runs.getOrDefault("c0", new AtomicInteger()).get();
                Thread.sleep(RUN.toMillis());
                long cpu = os.getProcessCpuTime() - cpu0;
                long wall = System.nanoTime() - wall0;
                probes.lateness = null;
                List<Long> late = new ArrayList<>(lateness);
                Collections.sort(late);
                System.out.printf("probe scheduling: %d probes in %.1f s (%.0f/s), lateness p50 %.2f ms, p99 %.2f ms, max %.2f ms;"
                        + " process CPU %.1f%% of one core (%.2f ms per probe); slow probe ran %d times%n",
                        late.size(), wall / 1e9, late.size() / (wall / 1e9), pct(late, 50) / 1e6, pct(late, 99) / 1e6,
                        late.get(late.size() - 1) / 1e6, 100.0 * cpu / wall, cpu / 1e6 / late.size(),
                        runs.get("c0").get() - before0);
                for (int i = 1; i < PODS; i++) {
                    assertTrue(runs.get("c" + i).get() >= 5, "fast probe c" + i + " kept running beside the slow one: " + runs.get("c" + i));
                }
            }
        }
    }

    private static long pct(List<Long> sorted, int p) {
        return sorted.get(Math.min(sorted.size() - 1, (int) Math.ceil(p / 100.0 * sorted.size()) - 1));
    }
}
