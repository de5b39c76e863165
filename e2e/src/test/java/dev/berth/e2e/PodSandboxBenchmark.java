package dev.berth.e2e;

import dev.berth.cri.v1.ListPodSandboxRequest;
import dev.berth.cri.v1.NamespaceMode;
import dev.berth.cri.v1.PodSandbox;
import dev.berth.cri.v1.RemovePodSandboxRequest;
import dev.berth.cri.v1.RunPodSandboxRequest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.junit.jupiter.api.io.TempDir;

/**
 * RunPodSandbox through the real daemon, measured (not asserted): p50/p95 of 50 sequential
 * host-network sandboxes, the wall time of 20 in parallel, the daemon's RSS with 50 ready
 * sandboxes, and sandboxes with an infra process (shared PID namespace, started through runc).
 * Run with {@code -Dberth.benchmark=true}; the figures go to stdout and
 * {@code target/pod-sandbox-benchmark.txt}.
 */
@EnabledIfSystemProperty(named = "berth.benchmark", matches = "true")
@Tag("root")
class PodSandboxBenchmark {
    @TempDir
    Path dir;

    @Test
    void runPodSandboxLatencyParallelTimeAndRss() throws Exception {
        StringBuilder report = new StringBuilder();
        try (BerthProcess berth = BerthProcess.start(dir)) {
            // warm-up: JIT, class loading
            for (int i = 0; i < 10; i++) {
                String id = berth.runtime().runPodSandbox(PodSandboxE2eTest.hostNetworkPod("warm" + i, NamespaceMode.CONTAINER)).getPodSandboxId();
                berth.runtime().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(id).build());
            }
            long rssIdle = rssKb(berth.pid());

            List<Long> seq = new ArrayList<>();
            for (int i = 0; i < 50; i++) {
                RunPodSandboxRequest r = PodSandboxE2eTest.hostNetworkPod("seq" + i, NamespaceMode.CONTAINER);
                long t0 = System.nanoTime();
                berth.runtime().runPodSandbox(r);
                seq.add(System.nanoTime() - t0);
            }
            long rss50 = rssKb(berth.pid());
            report.append(String.format("host-network, pid=CONTAINER, 50 sequential RunPodSandbox: p50 %.1f ms, p95 %.1f ms%n",
                    pct(seq, 50), pct(seq, 95)));
            report.append(String.format("daemon RSS: %d MiB idle after warm-up, %d MiB with 50 ready sandboxes%n", rssIdle / 1024, rss50 / 1024));
            removeAll(berth);

            ExecutorService pool = Executors.newFixedThreadPool(20);
            try {
                long t0 = System.nanoTime();
                List<CompletableFuture<String>> runs = new ArrayList<>();
                for (int i = 0; i < 20; i++) {
                    RunPodSandboxRequest r = PodSandboxE2eTest.hostNetworkPod("par" + i, NamespaceMode.CONTAINER);
                    runs.add(CompletableFuture.supplyAsync(() -> berth.runtime().runPodSandbox(r).getPodSandboxId(), pool));
                }
                runs.forEach(CompletableFuture::join);
                report.append(String.format("host-network, pid=CONTAINER, 20 RunPodSandbox in parallel: %.0f ms in total%n",
                        (System.nanoTime() - t0) / 1e6));
            } finally {
                pool.shutdownNow();
            }
            removeAll(berth);

            // the default bridge network through CNI (bridge + host-local + portmap, loopback)
            List<Long> net = new ArrayList<>();
            for (int i = 0; i < 50; i++) {
                RunPodSandboxRequest r = podNetworkPod("net" + i);
                long t0 = System.nanoTime();
                berth.runtime().runPodSandbox(r);
                net.add(System.nanoTime() - t0);
            }
            long rssNet = rssKb(berth.pid());
            report.append(String.format("default bridge network (CNI), pid=CONTAINER, 50 sequential RunPodSandbox: p50 %.1f ms, p95 %.1f ms; "
                    + "daemon RSS %d MiB with 50 ready%n", pct(net, 50), pct(net, 95), rssNet / 1024));
            removeAll(berth);
            ExecutorService netPool = Executors.newFixedThreadPool(20);
            try {
                long t0 = System.nanoTime();
                List<CompletableFuture<String>> runs = new ArrayList<>();
                for (int i = 0; i < 20; i++) {
                    RunPodSandboxRequest r = podNetworkPod("npar" + i);
                    runs.add(CompletableFuture.supplyAsync(() -> berth.runtime().runPodSandbox(r).getPodSandboxId(), netPool));
                }
                runs.forEach(CompletableFuture::join);
                report.append(String.format("default bridge network (CNI), 20 RunPodSandbox in parallel: %.0f ms in total%n",
                        (System.nanoTime() - t0) / 1e6));
            } finally {
                netPool.shutdownNow();
            }
            removeAll(berth);

            List<Long> infra = new ArrayList<>();
            for (int i = 0; i < 20; i++) {
                RunPodSandboxRequest r = PodSandboxE2eTest.hostNetworkPod("infra" + i, NamespaceMode.POD);
                long t0 = System.nanoTime();
                berth.runtime().runPodSandbox(r);
                infra.add(System.nanoTime() - t0);
            }
            report.append(String.format("host-network, pid=POD (catatonit through runc), 20 sequential: p50 %.1f ms, p95 %.1f ms%n",
                    pct(infra, 50), pct(infra, 95)));
            long t0 = System.nanoTime();
            removeAll(berth);
            report.append(String.format("removing those 20 (runc delete each): %.0f ms in total%n", (System.nanoTime() - t0) / 1e6));
        }
        if (Files.exists(Path.of("/sys/class/net/berthe2e0"))) {
            new ProcessBuilder("ip", "link", "delete", "berthe2e0").start().waitFor();
        }
        System.out.print(report);
        Path out = Path.of("target/pod-sandbox-benchmark.txt");
        Files.createDirectories(out.getParent());
        Files.writeString(out, report.toString());
    }

    private static RunPodSandboxRequest podNetworkPod(String name) {
        RunPodSandboxRequest host = PodSandboxE2eTest.hostNetworkPod(name, NamespaceMode.CONTAINER);
        return host.toBuilder().setConfig(host.getConfig().toBuilder().setLinux(host.getConfig().getLinux().toBuilder()
                .setSecurityContext(host.getConfig().getLinux().getSecurityContext().toBuilder()
                        .setNamespaceOptions(host.getConfig().getLinux().getSecurityContext().getNamespaceOptions().toBuilder()
                                .setNetwork(NamespaceMode.POD))))).build();
    }

    private static void removeAll(BerthProcess berth) {
        for (PodSandbox p : berth.runtime().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsList()) {
            berth.runtime().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(p.getId()).build());
        }
    }

    private static double pct(List<Long> nanos, int p) {
        List<Long> sorted = new ArrayList<>(nanos);
        Collections.sort(sorted);
        int i = (int) Math.ceil(p / 100.0 * sorted.size()) - 1;
        return sorted.get(Math.max(0, i)) / 1e6;
    }

    private static long rssKb(long pid) throws Exception {
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        return -1;
    }
}
