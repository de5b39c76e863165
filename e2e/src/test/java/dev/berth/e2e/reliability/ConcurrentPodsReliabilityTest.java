package dev.berth.e2e.reliability;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.cri.v1.Container;
import dev.berth.cri.v1.ContainerState;
import dev.berth.cri.v1.ContainerStatusRequest;
import dev.berth.cri.v1.ListContainersRequest;
import dev.berth.cri.v1.ListPodSandboxRequest;
import dev.berth.cri.v1.PodSandbox;
import dev.berth.cri.v1.PodSandboxConfig;
import dev.berth.cri.v1.PodSandboxState;
import dev.berth.cri.v1.PodSandboxStatusRequest;
import dev.berth.cri.v1.RemoveContainerRequest;
import dev.berth.cri.v1.RemovePodSandboxRequest;
import dev.berth.cri.v1.RunPodSandboxRequest;
import dev.berth.cri.v1.StartContainerRequest;
import dev.berth.cri.v1.StopContainerRequest;
import dev.berth.cri.v1.StopPodSandboxRequest;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Reliability (a): many pods of two containers each, created, started, stopped and removed by
 * concurrent clients as a kubelet would; every call succeeds and nothing leaks. Counts:
 * {@code -Dberth.reliability.pods} (default 50) and {@code -Dberth.reliability.threads} (10).
 * Prints its figures on a line starting {@code RELIABILITY a:}.
 */
@Tag("root")
class ConcurrentPodsReliabilityTest {
    @TempDir
    Path dir;

    record Pod(String id, List<String> containers) {
    }

    @Test
    void podsOfTwoContainersCreatedConcurrentlyThenRemovedAllSucceedAndLeaveNothing() throws Exception {
        int pods = Integer.getInteger("berth.reliability.pods", 50);
        int threads = Integer.getInteger("berth.reliability.threads", 10);
        try (ReliabilityHarness h = ReliabilityHarness.start(dir, "a")) {
            h.importImage();
            h.warmUp();
            LeakCensus census = h.census(Set.of());
            LeakCensus.Snapshot before = census.take();
            ReliabilityHarness.Ledger ledger = new ReliabilityHarness.Ledger();
            ExecutorService clients = Executors.newFixedThreadPool(threads);
            try {
                long t0 = System.nanoTime();
                List<Future<Pod>> running = new ArrayList<>();
                for (int i = 0; i < pods; i++) {
                    String name = "a-" + i;
                    boolean sharedPid = i % 2 == 0;
                    running.add(clients.submit(() -> createPod(h, ledger, name, sharedPid)));
                }
                List<Pod> made = new ArrayList<>();
                List<String> createErrors = new ArrayList<>();
                for (Future<Pod> f : running) {
                    try {
                        made.add(f.get());
                    } catch (java.util.concurrent.ExecutionException e) {
                        createErrors.add(e.getCause().toString());
                    }
                }
                long t1 = System.nanoTime();

                // what the daemon lists is what the clients made, all ready and running
                Map<String, PodSandboxState> listedPods = h.rt().listPodSandbox(ListPodSandboxRequest.getDefaultInstance())
                        .getItemsList().stream().collect(Collectors.toMap(PodSandbox::getId, PodSandbox::getState));
                Map<String, ContainerState> listedContainers = h.rt().listContainers(ListContainersRequest.getDefaultInstance())
                        .getContainersList().stream().collect(Collectors.toMap(Container::getId, Container::getState));
                int notReady = 0;
                int notRunning = 0;
                for (Pod p : made) {
                    notReady += listedPods.get(p.id()) == PodSandboxState.SANDBOX_READY ? 0 : 1;
                    for (String c : p.containers()) {
                        notRunning += listedContainers.get(c) == ContainerState.CONTAINER_RUNNING ? 0 : 1;
                    }
                }
                LeakCensus.Snapshot loaded = census.take();

                List<Future<?>> removing = new ArrayList<>();
                for (Pod p : made) {
                    removing.add(clients.submit(() -> removePod(h, ledger, p)));
                }
                for (Future<?> f : removing) {
                    try {
                        f.get();
                    } catch (java.util.concurrent.ExecutionException e) {
                        createErrors.add(e.getCause().toString());
                    }
                }
                long t2 = System.nanoTime();
                Map<String, List<String>> leaks = census.take().leaksSince(before);
                int leftPods = h.rt().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsCount();
                int leftContainers = h.rt().listContainers(ListContainersRequest.getDefaultInstance()).getContainersCount();

                System.out.printf("RELIABILITY a: %d pods x 2 containers, %d client threads; calls tried %d, succeeded %d, failed %d"
                                + " (%s); create+start %.1f s, stop+remove %.1f s, total %.1f s; while loaded: %s;"
                                + " pods not ready %d, containers not running %d, listed after removal %d pods %d containers; leaks %d %s%n",
                        pods, threads, ledger.tried(), ledger.succeeded(), ledger.failures.size(), ledger.perMethod(),
                        (t1 - t0) / 1e9, (t2 - t1) / 1e9, (t2 - t0) / 1e9, loaded.summary(), notReady, notRunning, leftPods,
                        leftContainers, LeakCensus.total(leaks), leaks);

                assertEquals(List.of(), ledger.failures, "every call succeeds");
                assertEquals(List.of(), createErrors);
                assertEquals(pods, made.size());
                assertEquals(0, notReady, "every pod the clients made is listed READY: " + listedPods);
                assertEquals(0, notRunning, "every container the clients started is listed RUNNING: " + listedContainers);
                assertEquals(pods * 2, loaded.count("conmon processes") - before.count("conmon processes"),
                        "a conmon per container while loaded: " + loaded.summary());
                assertEquals(pods, loaded.count("veths") - before.count("veths"), "a veth per pod while loaded");
                assertEquals(pods, loaded.count("ip leases") - before.count("ip leases"), "an IP per pod while loaded");
                assertEquals(0, leftPods + leftContainers);
                assertEquals(Map.of(), leaks, "nothing leaks");
                assertTrue(h.berth.process().isAlive());
            } finally {
                clients.shutdownNow();
                clients.awaitTermination(1, TimeUnit.MINUTES);
            }
        }
    }

    private static Pod createPod(ReliabilityHarness h, ReliabilityHarness.Ledger ledger, String name, boolean sharedPid) {
        PodSandboxConfig cfg = h.podConfig(name, sharedPid);
        String pod = ledger.call("RunPodSandbox", () -> h.rt().runPodSandbox(RunPodSandboxRequest.newBuilder().setConfig(cfg).build()))
                .getPodSandboxId();
        List<String> containers = new ArrayList<>();
        for (String c : List.of("c0", "c1")) {
            containers.add(ledger.call("CreateContainer", () -> h.rt().createContainer(ReliabilityHarness.container(pod, cfg, c)))
                    .getContainerId());
        }
        for (String c : containers) {
            ledger.call("StartContainer", () -> h.rt().startContainer(StartContainerRequest.newBuilder().setContainerId(c).build()));
            ledger.call("ContainerStatus", () -> h.rt().containerStatus(ContainerStatusRequest.newBuilder().setContainerId(c)
                    .setVerbose(true).build()));
        }
        ledger.call("PodSandboxStatus", () -> h.rt().podSandboxStatus(PodSandboxStatusRequest.newBuilder().setPodSandboxId(pod)
                .setVerbose(true).build()));
        return new Pod(pod, containers);
    }

    private static Void removePod(ReliabilityHarness h, ReliabilityHarness.Ledger ledger, Pod p) {
        for (String c : p.containers()) {
            ledger.call("StopContainer", () -> h.rt().stopContainer(StopContainerRequest.newBuilder().setContainerId(c)
                    .setTimeout(10).build()));
        }
        for (String c : p.containers()) {
            ledger.call("RemoveContainer", () -> h.rt().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(c).build()));
        }
        ledger.call("StopPodSandbox", () -> h.rt().stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(p.id()).build()));
        ledger.call("RemovePodSandbox", () -> h.rt().removePodSandbox(RemovePodSandboxRequest.newBuilder()
                .setPodSandboxId(p.id()).build()));
        return null;
    }
}
