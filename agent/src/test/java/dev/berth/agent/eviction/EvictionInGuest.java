package dev.berth.agent.eviction;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.berth.agent.node.MachineFacts;
import dev.berth.agent.status.EventRecorder;
import dev.berth.agent.status.PodStatusBuilder;
import dev.berth.agent.status.StatusManager;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Eviction on a real cgroup v2 machine (run in the guest by {@link EvictionGuestMain}, never by
 * surefire): two pods are two memory cgroups whose processes fill tmpfs files (charged to their
 * cgroup, counted in its working set); memory.available is this machine's own, read as the
 * agent reads it; the hard threshold is set 60 MiB under what is available, then the small pod
 * writes 120 MiB more. A sampler notes when the signal crosses the threshold, for the figure. The manager must evict it first, though the big pod uses more, because
 * only it is above its request; freeing its memory ends the eviction.
 */
class EvictionInGuest {
    private static final long MI = 1L << 20;
    private static final Path CGROUP = Path.of("/sys/fs/cgroup");
    private static final Path SHM = Path.of("/dev/shm");

    private static void sh(String script) throws IOException, InterruptedException {
        Process p = new ProcessBuilder("sh", "-c", script).inheritIO().start();
        if (!p.waitFor(120, TimeUnit.SECONDS) || p.exitValue() != 0) {
            p.destroyForcibly();
            fail("failed: " + script);
        }
    }

    /** Writes {@code mib} MiB to a tmpfs file from a process in {@code cgroup}: the pages are charged to it. */
    private static void fill(String cgroup, String file, int mib) throws IOException, InterruptedException {
        sh("echo $$ > " + CGROUP.resolve(cgroup).resolve("cgroup.procs") + " && exec dd if=/dev/zero of=" + SHM.resolve(file)
                + " bs=1M count=" + mib + " status=none");
    }

    /** A cgroup's working set as cAdvisor and the kubelet count it: memory.current less inactive_file. */
    private static long workingSet(String cgroup) {
        try {
            long current = Long.parseLong(Files.readString(CGROUP.resolve(cgroup).resolve("memory.current")).trim());
            long inactive = 0;
            for (String line : Files.readAllLines(CGROUP.resolve(cgroup).resolve("memory.stat"))) {
                if (line.startsWith("inactive_file ")) {
                    inactive = Long.parseLong(line.substring("inactive_file ".length()).trim());
                }
            }
            return Math.max(0, current - inactive);
        } catch (IOException e) {
            return 0;
        }
    }

    private static Pod pod(String name, String request) {
        return new PodBuilder().withNewMetadata().withName(name).withNamespace("default").withUid("uid-" + name).endMetadata()
                .withNewSpec().addNewContainer().withName("c").withImage("busybox").withNewResources()
                .withRequests(Map.of("memory", new Quantity(request))).endResources().endContainer().endSpec().build();
    }

    @Test
    void thePodAboveItsRequestIsEvictedFirstUnderARealMemoryThreshold() throws Exception {
        assertTrue(Files.exists(CGROUP.resolve("cgroup.controllers")), "a unified cgroup hierarchy at /sys/fs/cgroup");
        Files.writeString(CGROUP.resolve("cgroup.subtree_control"), "+memory");
        List<String> cgroups = List.of("evict-big", "evict-greedy");
        try {
            for (String c : cgroups) {
                Files.createDirectories(CGROUP.resolve(c));
            }
            fill("evict-big", "big", 200);
            fill("evict-greedy", "greedy", 10);
            Map<String, String> cgroupOf = Map.of("uid-big", "evict-big", "uid-greedy", "evict-greedy");
            PodUsage usage = () -> {
                Map<String, PodStats> out = new HashMap<>();
                cgroupOf.forEach((uid, cg) -> {
                    long ws = workingSet(cg);
                    out.put(uid, new PodStats(uid, ws, Map.of("c", ws), 1, 0, Map.of(), 0));
                });
                return out;
            };
            MachineSignals signals = new MachineSignals(Path.of("/tmp"), null, MachineFacts.current().memoryBytes());
            long available = signals.observe().get(Signals.MEMORY_AVAILABLE).available();
            long threshold = available - 60 * MI;
            System.out.printf("guest: memory.available %d MiB of %d MiB; hard threshold %d MiB; big uses %d MiB, greedy %d MiB%n",
                    available / MI, MachineFacts.current().memoryBytes() / MI, threshold / MI, workingSet("evict-big") / MI,
                    workingSet("evict-greedy") / MI);

            Pod big = pod("big", "512Mi");
            Pod greedy = pod("greedy", "10Mi");
            List<Pod> active = new CopyOnWriteArrayList<>(List.of(big, greedy));
            StatusManager status = new StatusManager(null, new PodStatusBuilder(() -> "berth", List::of, Clock.systemUTC()),
                    PodStatusBuilder.Messages.NONE);
            List<String> evicted = new CopyOnWriteArrayList<>();
            long[] evictedAt = new long[1];
            Evictor evictor = (pod, grace, message, onTerminated) -> {
                evictedAt[0] = System.nanoTime();
                String name = pod.getMetadata().getName();
                status.evicted(pod, EvictionManager.REASON, message);
                evicted.add(name); // after its status: the test reads it once this shows
                System.out.println("guest: evicted " + name + " (grace " + grace + " s): " + message);
                active.remove(pod);
                try {
                    sh("rm -f " + SHM + "/" + name + "*"); // its memory goes with it
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
                onTerminated.run();
            };
            EvictionSettings settings = new EvictionSettings(Map.of(), Map.of(), 0, Duration.ofMinutes(5), Map.of(), Duration.ofMillis(100));
            EvictionManager manager = new EvictionManager(settings.thresholds(Map.of(Signals.MEMORY_AVAILABLE, Long.toString(threshold))),
                    settings, signals, usage, () -> List.copyOf(active), evictor, EventRecorder.NONE, "guest", Clock.systemUTC());
            assertTrue(manager.synchronize().isEmpty(), "nothing to evict above the threshold");
            assertEquals(java.util.Set.of(), manager.conditions());
            manager.start();
            try {
                long[] crossed = new long[1];
                Thread sampler = new Thread(() -> {
                    while (evicted.isEmpty() && crossed[0] == 0) {
                        if (signals.observe().get(Signals.MEMORY_AVAILABLE).available() < threshold) {
                            crossed[0] = System.nanoTime();
                        }
                        try {
                            Thread.sleep(20); // a busy sampler would slow the emulated guest's manager
                        } catch (InterruptedException e) {
                            return;
                        }
                    }
                }, "signal-sampler");
                sampler.start();
                fill("evict-greedy", "greedy-more", 120);
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                while (evicted.isEmpty() && System.nanoTime() < deadline) {
                    Thread.sleep(10);
                }
                sampler.join(5000);
                assertEquals(List.of("greedy"), evicted, "the pod above its request goes first, though big uses more");
                System.out.printf("guest: eviction time from threshold crossing to pod Failed: %.0f ms (housekeeping every 100 ms)%n",
                        (evictedAt[0] - crossed[0]) / 1e6);
                assertTrue(crossed[0] != 0, "the sampler saw the signal cross the threshold");
                assertEquals("Failed", status.status("uid-greedy").orElseThrow().getPhase());
                assertEquals("Evicted", status.status("uid-greedy").orElseThrow().getReason());
                assertTrue(status.status("uid-greedy").orElseThrow().getMessage().contains("Container c was using"),
                        status.status("uid-greedy").orElseThrow().getMessage());
                assertTrue(manager.conditions().contains("MemoryPressure"));
                Thread.sleep(1500);
                assertEquals(List.of("greedy"), evicted, "its memory freed, big stays");
                System.out.printf("guest: memory.available after the eviction %d MiB%n",
                        signals.observe().get(Signals.MEMORY_AVAILABLE).available() / MI);
            } finally {
                manager.close();
                status.close();
            }
        } finally {
            sh("rm -f " + SHM + "/big " + SHM + "/greedy*");
            for (String c : cgroups) {
                Files.deleteIfExists(CGROUP.resolve(c));
            }
        }
    }
}
