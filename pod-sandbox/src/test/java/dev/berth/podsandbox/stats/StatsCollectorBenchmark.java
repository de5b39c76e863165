package dev.berth.podsandbox.stats;

import dev.berth.podsandbox.oci.RuntimeHandlers;
import dev.berth.cgroups.Cgroups;
import dev.berth.cgroups.Resources;
import dev.berth.podsandbox.container.ContainerFilter;
import dev.berth.podsandbox.container.ContainerManager;
import dev.berth.podsandbox.container.ContainerRecord;
import dev.berth.podsandbox.container.CreateRequest;
import dev.berth.podsandbox.oci.ConmonRuntime;
import dev.berth.podsandbox.container.spec.ContainerConfig;
import dev.berth.podsandbox.container.spec.HostFacts;
import dev.berth.podsandbox.container.spec.ImageConfig;
import dev.berth.podsandbox.container.spec.SandboxContext;
import dev.berth.podsandbox.sandbox.SandboxConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * The cost of listing the stats of N running containers (runc under conmon, each `sleep`, in
 * one real pod cgroup, each with a writable-layer directory of 50 small files): the first
 * listing (layers walked), then p50/p95 of 20 more (layers cached), and one pod's stats.
 * Measured, not asserted; run with {@code -Dberth.benchmark=true} ({@code -Dberth.benchmark.n=N}).
 */
@EnabledIfSystemProperty(named = "berth.benchmark", matches = "true")
@Tag("root")
class StatsCollectorBenchmark {
    @Test
    void listContainerStats() throws Exception {
        int n = Integer.getInteger("berth.benchmark.n", 100);
        Path dir = Files.createTempDirectory("berth-stats-bench");
        String tag = dir.getFileName().toString().replaceAll("[^A-Za-z0-9]", "").toLowerCase();
        Path rootfs = dir.resolve("rootfs");
        Path bin = Files.createDirectories(rootfs.resolve("bin"));
        Files.copy(Path.of("/bin/busybox"), bin.resolve("busybox"));
        Files.createSymbolicLink(bin.resolve("sleep"), Path.of("busybox"));
        for (String d : List.of("proc", "sys", "dev", "tmp", "etc")) {
            Files.createDirectories(rootfs.resolve(d));
        }
        Cgroups cgroups = Cgroups.detect("cgroupfs");
        String pod = cgroups.createPod("/berth-bench-" + tag, Resources.none());
        ContainerManager manager = new ContainerManager(dir.resolve("state"), dir.resolve("run"),
                new RuntimeHandlers(Map.of("runc", "/usr/sbin/runc"), "runc", ConmonRuntime.factory(Path.of("/usr/bin/conmon"),
                        dir.resolve("run"), Duration.ofSeconds(120), Path::of)), HostFacts.current(), rec -> false, ContainerManager.Options.defaults());
        StringBuilder report = new StringBuilder();
        List<String> namespaces = new ArrayList<>();
        try {
            PodDirectory.Pod p = new PodDirectory.Pod("pod-" + tag, new SandboxConfig.Metadata("bench", "u", "default", 0),
                    Map.of(), Map.of(), pod, null);
            PodDirectory directory = new PodDirectory() {
                @Override
                public PodDirectory.Pod find(String id) {
                    return p;
                }

                @Override
                public List<PodDirectory.Pod> list(String idPrefix, Map<String, String> labels) {
                    return List.of(p);
                }
            };
            StatsCollector collector = new StatsCollector(manager, directory, cgroups,
                    r -> dir.resolve("layers").resolve(r.name()), dir.resolve("layers"), new NetDev(), Clock.systemUTC());
            long c0 = System.nanoTime();
            for (int i = 0; i < n; i++) {
                String name = "c" + i;
                Path layer = Files.createDirectories(dir.resolve("layers").resolve(name).resolve("var/cache"));
                for (int f = 0; f < 50; f++) {
                    Files.write(layer.resolve("f" + f), new byte[1024]);
                }
                String cg = cgroups.containerPath(pod, name);
                ContainerConfig config = ContainerConfig.builder(name)
                        .logPath(dir.resolve("logs").resolve(name + ".log").toString())
                        .command("sleep", "100000").build();
                ContainerRecord r = manager.create(newContainerId(), new CreateRequest(config, ImageConfig.empty(), "busybox:test",
                        SandboxContext.standalone(p.id(), cg), rootfs, "runc"));
                manager.start(r.id());
            }
            report.append(String.format("started %d containers in %.1f s%n", n, (System.nanoTime() - c0) / 1e9));
            long t0 = System.nanoTime();
            int listed = collector.containers(ContainerFilter.all()).size();
            report.append(String.format("first ListContainerStats of %d (layers walked): %.1f ms%n", listed, (System.nanoTime() - t0) / 1e6));
            List<Long> warm = new ArrayList<>();
            for (int i = 0; i < 20; i++) {
                long s = System.nanoTime();
                collector.containers(ContainerFilter.all());
                warm.add(System.nanoTime() - s);
            }
            Collections.sort(warm);
            report.append(String.format("ListContainerStats of %d, 20 more (layers cached): p50 %.1f ms, p95 %.1f ms%n",
                    n, warm.get(9) / 1e6, warm.get(18) / 1e6));
            long s = System.nanoTime();
            collector.pod(p.id());
            report.append(String.format("PodSandboxStats of the pod with %d containers: %.1f ms%n", n, (System.nanoTime() - s) / 1e6));
            // the network part of a pod's stats: reading one namespace's counters
            for (int i = 0; i < 20; i++) {
                String ns = "berth-bn-" + i + "-" + tag.substring(Math.max(0, tag.length() - 6));
                namespaces.add(ns);
                new ProcessBuilder("ip", "netns", "add", ns).inheritIO().start().waitFor();
            }
            NetDev net = new NetDev();
            List<Long> reads = new ArrayList<>();
            for (String ns : namespaces) {
                long r0 = System.nanoTime();
                net.read(Path.of("/run/netns", ns));
                reads.add(System.nanoTime() - r0);
            }
            Collections.sort(reads);
            report.append(String.format("reading one pod's /proc/net/dev through nsenter, 20 namespaces: p50 %.1f ms, max %.1f ms%n",
                    reads.get(9) / 1e6, reads.get(19) / 1e6));
        } finally {
            for (ContainerRecord r : manager.list()) {
                try {
                    manager.stop(r.id(), 0);
                    manager.remove(r.id());
                } catch (RuntimeException e) {
                    report.append("cannot remove ").append(r.id()).append(": ").append(e).append('\n');
                }
            }
            manager.close();
            for (String ns : namespaces) {
                new ProcessBuilder("ip", "netns", "delete", ns).inheritIO().start().waitFor();
            }
            cgroups.remove(pod);
            try (Stream<Path> walk = Files.walk(dir)) {
                walk.sorted(Comparator.reverseOrder()).forEach(x -> x.toFile().delete());
            }
            report.append(String.format("load average at the end: %s%n", Files.readString(Path.of("/proc/loadavg")).trim()));
            System.out.println("\n=== stats benchmark ===\n" + report);
        }
    }

    /** A fresh container id (64 hex digits), as the container service gives one. */
    private static String newContainerId() {
        byte[] b = new byte[32];
        new java.security.SecureRandom().nextBytes(b);
        return java.util.HexFormat.of().formatHex(b);
    }
}
