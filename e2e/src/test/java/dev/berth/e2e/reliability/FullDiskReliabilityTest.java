package dev.berth.e2e.reliability;

import dev.berth.host.testing.SmallFilesystems;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.cri.v1.ContainerState;
import dev.berth.cri.v1.ContainerStatusRequest;
import dev.berth.cri.v1.ImageSpec;
import dev.berth.cri.v1.PodSandboxConfig;
import dev.berth.cri.v1.PodSandboxState;
import dev.berth.cri.v1.PullImageRequest;
import dev.berth.cri.v1.RemoveContainerRequest;
import dev.berth.cri.v1.RemovePodSandboxRequest;
import dev.berth.cri.v1.RunPodSandboxRequest;
import dev.berth.cri.v1.StartContainerRequest;
import dev.berth.cri.v1.StopContainerRequest;
import dev.berth.cri.v1.StopPodSandboxRequest;
import dev.berth.images.testing.RegistryFixture;
import dev.berth.images.testing.TestImage;
import dev.berth.images.testing.TestLayer;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Reliability (c): berth's root and run root on small filesystems (tmpfs of 64 and 16 MiB)
 * that a test file fills up. RunPodSandbox, CreateContainer and PullImage then fail at once
 * with a clear error (RESOURCE_EXHAUSTED or INTERNAL naming "No space left on device"), calls
 * on existing objects fail as clearly or succeed, no record is left half-written (the daemon
 * restarts on the full filesystems and lists only whole objects), and once the space is free
 * pods and containers run, stop and go again and nothing leaks. Figures on a line starting
 * {@code RELIABILITY c:}.
 */
@Tag("root")
class FullDiskReliabilityTest {

    @TempDir
    Path dir;

    @Test
    void fullStateFilesystemsGiveClearErrorsLeaveNoBrokenRecordAndRecoverOnceSpaceIsFree() throws Exception {
        Path home = dir.resolve("berth");
        Path root = Files.createDirectories(home.resolve("root"));
        Path run = Files.createDirectories(home.resolve("run"));
        ReliabilityHarness h = null;
        RegistryFixture registry = null;
        try {
            mountTmpfs(root, "64m");
            mountTmpfs(run, "16m");
            registry = RegistryFixture.start(dir.resolve("registry"));
            TestImage.of(TestLayer.create().file("hello", "world").file("data", new byte[256 << 10], 0644)
                    .build(TestLayer.Compression.GZIP)).push(registry.pusher(), "e2e/small", "1");
            String pullRef = registry.host() + "/e2e/small:1";

            h = ReliabilityHarness.start(dir, "c");
            ReliabilityHarness rh = h;
            h.importImage();
            h.warmUp();
            Path rootFiller = root.resolve("filler");
            Path runFiller = run.resolve("filler");
            LeakCensus census = h.census(Set.of(rootFiller, runFiller));
            LeakCensus.Snapshot before = census.take();

            // made while there is space: a pod with a running container and a created one
            PodSandboxConfig podCfg = h.podConfig("c-before", false);
            String pod = h.rt().runPodSandbox(RunPodSandboxRequest.newBuilder().setConfig(podCfg).build()).getPodSandboxId();
            String running = h.rt().createContainer(ReliabilityHarness.container(pod, podCfg, "running")).getContainerId();
            h.rt().startContainer(StartContainerRequest.newBuilder().setContainerId(running).build());
            String created = h.rt().createContainer(ReliabilityHarness.container(pod, podCfg, "created")).getContainerId();

            long filledRoot = SmallFilesystems.fill(rootFiller, 0);
            long filledRun = SmallFilesystems.fill(runFiller, 0);

            List<String> outcomes = new ArrayList<>();
            List<String> problems = new ArrayList<>();
            PodSandboxConfig fullPod = h.podConfig("c-full", false);
            mustFailClearly("RunPodSandbox", outcomes, problems,
                    () -> rh.rt().runPodSandbox(RunPodSandboxRequest.newBuilder().setConfig(fullPod).build()));
            mustFailClearly("CreateContainer", outcomes, problems,
                    () -> rh.rt().createContainer(ReliabilityHarness.container(pod, podCfg, "full")));
            mustFailClearly("PullImage", outcomes, problems, () -> rh.images().pullImage(PullImageRequest.newBuilder()
                    .setImage(ImageSpec.newBuilder().setImage(pullRef)).build()));
            // on existing objects a call may still succeed; if not, it fails as clearly
            succeedsOrFailsClearly("StartContainer", outcomes, problems,
                    () -> rh.rt().startContainer(StartContainerRequest.newBuilder().setContainerId(created).build()));
            succeedsOrFailsClearly("StopContainer", outcomes, problems,
                    () -> rh.rt().stopContainer(StopContainerRequest.newBuilder().setContainerId(running).setTimeout(10).build()));
            ReliabilityHarness.View whileFull = h.view();
            problems.addAll(whileFull.problems().stream().map(p -> "while full: " + p).toList());
            if (whileFull.pods().values().stream().anyMatch(p -> p.getMetadata().getName().equals("c-full"))) {
                problems.add("the pod whose RunPodSandbox failed is listed");
            }
            if (whileFull.containers().values().stream().anyMatch(c -> c.getMetadata().getName().equals("full"))) {
                problems.add("the container whose CreateContainer failed is listed");
            }

            // a restart on the full filesystems: it starts, and what it lists is whole
            int stopped = h.berth.stop();
            boolean servedWhileFull = restart(h, problems);
            if (servedWhileFull) {
                checkRestarted(h, pod, List.of(running, created), "after a restart while full", problems);
            }

            // space again: everything works (after a restart if the daemon did not start while full)
            Files.delete(rootFiller);
            Files.delete(runFiller);
            if (!servedWhileFull) {
                h.berth.restart();
                checkRestarted(h, pod, List.of(running, created), "after a restart with space", problems);
            }
            ReliabilityHarness.Ledger after = new ReliabilityHarness.Ledger();
            after.call("PullImage", () -> rh.images().pullImage(PullImageRequest.newBuilder()
                    .setImage(ImageSpec.newBuilder().setImage(pullRef)).build()));
            String pod2 = after.call("RunPodSandbox", () -> rh.rt().runPodSandbox(RunPodSandboxRequest.newBuilder().setConfig(fullPod)
                    .build())).getPodSandboxId();
            String c2 = after.call("CreateContainer", () -> rh.rt().createContainer(ReliabilityHarness.container(pod2, fullPod, "full")))
                    .getContainerId();
            after.call("StartContainer", () -> rh.rt().startContainer(StartContainerRequest.newBuilder().setContainerId(c2).build()));
            ContainerState state = after.call("ContainerStatus", () -> rh.rt().containerStatus(ContainerStatusRequest.newBuilder()
                    .setContainerId(c2).build())).getStatus().getState();
            after.call("StopContainer", () -> rh.rt().stopContainer(StopContainerRequest.newBuilder().setContainerId(c2)
                    .setTimeout(10).build()));
            for (String c : List.of(c2, running, created)) {
                after.call("RemoveContainer", () -> rh.rt().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(c).build()));
            }
            for (String p : List.of(pod2, pod)) {
                after.call("StopPodSandbox", () -> rh.rt().stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(p).build()));
                after.call("RemovePodSandbox", () -> rh.rt().removePodSandbox(RemovePodSandboxRequest.newBuilder()
                        .setPodSandboxId(p).build()));
            }
            h.removeEverything();
            Map<String, List<String>> leaks = census.take().leaksSince(before);

            System.out.printf("RELIABILITY c: root tmpfs 64 MiB (filled with %d MiB), run root tmpfs 16 MiB (filled with %d MiB);"
                            + " while full: %s; problems %d; SIGTERM while full exited %d, restart on full filesystems served: %s;"
                            + " after freeing: calls %d/%d succeeded (%s), started container %s; leaks %d %s%n",
                    filledRoot >> 20, filledRun >> 20, String.join("; ", outcomes), problems.size(), stopped, servedWhileFull, after.tried(),
                    after.succeeded(), after.perMethod(), state, LeakCensus.total(leaks), leaks);
            problems.forEach(p -> System.out.println("RELIABILITY c: problem: " + p));

            assertEquals(List.of(), problems, "clear errors and whole records on a full filesystem");
            assertEquals(List.of(), after.failures, "every call succeeds once there is space");
            assertEquals(ContainerState.CONTAINER_RUNNING, state);
            assertEquals(Map.of(), leaks, "nothing leaks");
        } finally {
            try {
                if (h != null) {
                    h.close();
                }
            } finally {
                if (registry != null) {
                    registry.close();
                }
                ReliabilityHarness.sweepHost(dir, run, List.of());
                for (Path m : List.of(run, root)) {
                    new ProcessBuilder("umount", "--lazy", m.toString()).inheritIO().start().waitFor();
                }
            }
        }
        assertTrue(LeakCensus.run("cat", "/proc/self/mountinfo").lines().noneMatch(l -> l.contains(dir.toString())),
                "the tmpfs mounts are gone");
    }

    /** Restarts berth; false (and a problem) when it does not come up. */
    private static boolean restart(ReliabilityHarness h, List<String> problems) throws Exception {
        try {
            h.berth.restart();
            return true;
        } catch (IllegalStateException e) {
            String log = h.berth.logText();
            String last = log.lines().filter(l -> !l.isBlank()).reduce((a, b) -> b).orElse("");
            problems.add("berth does not start on a full filesystem: " + last);
            return false;
        }
    }

    /** The pod and containers made before the filesystems filled up are listed, and all that is listed is whole. */
    private static void checkRestarted(ReliabilityHarness h, String pod, List<String> containers, String when, List<String> problems)
            throws Exception {
        ReliabilityHarness.View v = h.view();
        problems.addAll(v.problems().stream().map(p -> when + ": " + p).toList());
        if (!v.pods().containsKey(pod) || v.pods().get(pod).getState() != PodSandboxState.SANDBOX_READY) {
            problems.add(when + ": the pod made before is not listed READY: " + v.pods().keySet());
        }
        for (String c : containers) {
            if (!v.containers().containsKey(c)) {
                problems.add(when + ": container " + c + " made before is not listed");
            }
        }
    }

    private static void mountTmpfs(Path at, String size) throws Exception {
        Process p = new ProcessBuilder("mount", "-t", "tmpfs", "-o", "size=" + size + ",mode=0711", "tmpfs", at.toString())
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertEquals(0, p.waitFor(), out);
    }

    /** The call must fail with RESOURCE_EXHAUSTED or INTERNAL naming the full filesystem, not hang or succeed. */
    private static void mustFailClearly(String what, List<String> outcomes, List<String> problems, Supplier<?> call) {
        try {
            call.get();
            outcomes.add(what + " succeeded");
            problems.add(what + " succeeded on a full filesystem");
        } catch (StatusRuntimeException e) {
            outcomes.add(what + " " + e.getStatus().getCode());
            if (!clear(e)) {
                problems.add(what + " failed without a clear error: " + e.getStatus());
            }
        }
    }

    private static void succeedsOrFailsClearly(String what, List<String> outcomes, List<String> problems, Supplier<?> call) {
        try {
            call.get();
            outcomes.add(what + " succeeded");
        } catch (StatusRuntimeException e) {
            outcomes.add(what + " " + e.getStatus().getCode());
            if (!clear(e)) {
                problems.add(what + " failed without a clear error: " + e.getStatus());
            }
        }
    }

    private static boolean clear(StatusRuntimeException e) {
        Status.Code code = e.getStatus().getCode();
        String message = String.valueOf(e.getStatus().getDescription());
        return (code == Status.Code.RESOURCE_EXHAUSTED || code == Status.Code.INTERNAL) && message.contains(SmallFilesystems.NO_SPACE);
    }
}
