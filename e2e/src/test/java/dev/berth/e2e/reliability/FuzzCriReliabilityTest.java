package dev.berth.e2e.reliability;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.berth.cri.v1.Container;
import dev.berth.cri.v1.ContainerState;
import dev.berth.cri.v1.CreateContainerRequest;
import dev.berth.cri.v1.Image;
import dev.berth.cri.v1.ImageSpec;
import dev.berth.cri.v1.ImageStatusRequest;
import dev.berth.cri.v1.ListContainersRequest;
import dev.berth.cri.v1.ListImagesRequest;
import dev.berth.cri.v1.ListPodSandboxRequest;
import dev.berth.cri.v1.PodSandbox;
import dev.berth.cri.v1.PodSandboxState;
import dev.berth.cri.v1.PullImageRequest;
import dev.berth.cri.v1.RemovePodSandboxRequest;
import dev.berth.cri.v1.RunPodSandboxRequest;
import dev.berth.cri.v1.StartContainerRequest;
import dev.berth.e2e.BerthProcess;
import dev.berth.images.testing.RegistryFixture;
import dev.berth.images.testing.TestImage;
import dev.berth.images.testing.TestLayer;
import io.grpc.StatusRuntimeException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Part (d) of the reliability suite: random and malformed CRI requests against the real
 * daemon ({@link CriFuzzer}). Each must be answered with OK or a code that refuses the input
 * (INTERNAL, UNKNOWN or DATA_LOSS is an unexplained error, DEADLINE_EXCEEDED a hang), the
 * daemon must stay up, nothing may be written outside the test's directory (the run's marker
 * is searched for afterwards; the target of a symlink planted in the log directory must stay
 * empty), and the daemon's heap after a full GC must stay below 256 MB. The number of
 * requests is {@code -Dberth.fuzz.requests} (300 by default, for CI; 1000 for a full run),
 * the seed {@code -Dberth.fuzz.seed} (random by default, always printed).
 */
@Tag("root")
class FuzzCriReliabilityTest {
    @TempDir
    Path dir;

    @Test
    void randomAndMalformedRequestsAreAnsweredProperlyWriteNothingOutsideAndKeepTheHeapBounded() throws Exception {
        int requests = Integer.getInteger("berth.fuzz.requests", 300);
        long seed = Long.getLong("berth.fuzz.seed", new java.security.SecureRandom().nextLong());
        String marker = MarkerSearch.newMarker("bzfz");
        System.out.printf("RELIABILITY d: seed %d, %d requests, marker %s (rerun with -Dberth.fuzz.seed=%d -Dberth.fuzz.requests=%d)%n",
                seed, requests, marker, seed, requests);
        Path outside = Path.of("/tmp", marker + "-symlink-target");
        BerthProcess berth = null;
        try (RegistryFixture registry = RegistryFixture.start(dir.resolve("registry"))) {
            TestImage.of(busybox().build(TestLayer.Compression.GZIP)).push(registry.pusher(), "fuzz/busybox", "1");
            String imageRef = registry.host() + "/fuzz/busybox:1";
            Path owned = Files.createDirectories(dir.resolve("owned"));
            Path logs = Files.createDirectories(dir.resolve("logs"));
            Files.createDirectories(outside);
            Files.createSymbolicLink(logs.resolve("lnk"), outside);
            Path fifo = owned.resolve("fifo");
            assertEquals(0, new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor());

            berth = OwnNetworkDaemon.start(dir);
            BerthProcess daemon = berth;
            daemon.images().pullImage(PullImageRequest.newBuilder().setImage(ImageSpec.newBuilder().setImage(imageRef)).build());
            CriFuzzer fuzzer = new CriFuzzer(new CriFuzzer.Setup(berth.runtime().getChannel(), seed, marker, owned, logs, registry.host(),
                    OwnNetworkDaemon.freePort(), imageRef, fifo));
            long heapBefore = DaemonMemory.heapAfterFullGc(berth.pid());
            long pssBefore = DaemonMemory.pssBytes(berth.pid());
            CriFuzzer.Tally tally = new CriFuzzer.Tally();
            CriFuzzer.Pools pools = null;
            long t0 = System.nanoTime();
            try (DaemonMemory memory = DaemonMemory.startSampling(berth.pid(), 5000)) {
                for (int i = 0; i < requests; i++) {
                    if (i % 25 == 0) {
                        replenish(daemon, fuzzer, imageRef, i);
                    }
                    if (pools == null || i % 5 == 0) {
                        pools = pools(daemon);
                    }
                    CriFuzzer.Outcome o = fuzzer.run(i, pools);
                    tally.add(o);
                    if (!o.proper()) {
                        System.out.println("RELIABILITY d: FAILED " + o.line());
                    }
                    if (!berth.process().isAlive()) {
                        fail("berth died at request " + o.line() + "\n" + tail(berth.logText()));
                    }
                    if (i % 100 == 99) {
                        memory.sample();
                        System.out.printf("RELIABILITY d: after %d requests: %s%n", i + 1, memory.summary());
                    }
                }
                long seconds = (System.nanoTime() - t0) / 1_000_000_000L;
                removeAll(daemon);
                memory.sample();
                long heapAfter = DaemonMemory.heapAfterFullGc(berth.pid());
                System.out.println("RELIABILITY d: per method (ok = answered OK, rejected = refused with a proper code):\n" + tally.table());
                System.out.printf("RELIABILITY d: %d requests in %d s: %d OK, %d refused with a proper code, %d failed; "
                                + "heap after full GC %d MB before, %d MB after; %s; PSS %d MB before, %d MB after%n",
                        tally.total(), seconds, tally.ok(), tally.total() - tally.ok() - tally.failures().size(), tally.failures().size(),
                        heapBefore >> 20, heapAfter >> 20, memory.summary(), pssBefore >> 20, DaemonMemory.pssBytes(berth.pid()) >> 20);
                assertTrue(memory.peakHeapBytes() < DaemonMemory.HEAP_BOUND_BYTES,
                        "the daemon's heap after a full GC reached " + (memory.peakHeapBytes() >> 20) + " MB");
            }

            List<String> written = MarkerSearch.find(marker, List.of(dir, outside));
            List<String> throughSymlink;
            try (var s = Files.walk(outside)) {
                throughSymlink = s.filter(p -> !p.equals(outside)).map(Path::toString).toList();
            }
            List<String> mounts = OwnNetworkDaemon.mountsUnder(berth.runRoot().resolve("rootfs"));
            System.out.printf("RELIABILITY d: leaks: %d paths with the marker outside the test's directory %s, %d through the log "
                            + "directory's symlink %s, %d root filesystems still mounted%n",
                    written.size(), written, throughSymlink.size(), throughSymlink, mounts.size());
            List<String> failures = tally.failures().stream().map(CriFuzzer.Outcome::line).toList();
            assertEquals(List.of(), failures, "requests answered with INTERNAL/UNKNOWN or not within their deadline (seed " + seed + ")");
            assertEquals(List.of(), written, "files written outside berth's directories (seed " + seed + ")");
            assertEquals(List.of(), throughSymlink, "files written through a symlink in the log directory (seed " + seed + ")");
            assertEquals(List.of(), mounts, "root filesystems left mounted after every container was removed");
            assertTrue(berth.process().isAlive(), "berth is still running");
        } finally {
            OwnNetworkDaemon.cleanUp(berth, dir);
            new ProcessBuilder("rm", "-rf", "--one-file-system", outside.toString()).start().waitFor();
        }
    }

    /** A READY pod with a running container of the run's image, and the image itself, so that mutated requests reach past the lookups. */
    private static void replenish(BerthProcess berth, CriFuzzer fuzzer, String imageRef, int i) {
        try {
            var images = berth.images().withDeadlineAfter(60, TimeUnit.SECONDS);
            if (!images.imageStatus(ImageStatusRequest.newBuilder().setImage(ImageSpec.newBuilder().setImage(imageRef)).build()).hasImage()) {
                images.pullImage(PullImageRequest.newBuilder().setImage(ImageSpec.newBuilder().setImage(imageRef)).build());
            }
            var runtime = berth.runtime().withDeadlineAfter(60, TimeUnit.SECONDS);
            List<PodSandbox> pods = runtime.listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsList();
            // the fuzzer's successful RunPodSandbox calls accumulate: keep a dozen
            for (PodSandbox p : pods.subList(0, Math.max(0, pods.size() - 12))) {
                runtime.removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(p.getId()).build());
            }
            boolean running = runtime.listContainers(ListContainersRequest.getDefaultInstance()).getContainersList().stream()
                    .anyMatch(c -> c.getState() == ContainerState.CONTAINER_RUNNING);
            if (!running) {
                String name = "base" + i;
                String pod = runtime.runPodSandbox(RunPodSandboxRequest.newBuilder().setConfig(fuzzer.podConfig(name)).build()).getPodSandboxId();
                String c = runtime.createContainer(CreateContainerRequest.newBuilder().setPodSandboxId(pod)
                        .setConfig(fuzzer.containerConfig(name)).setSandboxConfig(fuzzer.podConfig(name)).build()).getContainerId();
                runtime.startContainer(StartContainerRequest.newBuilder().setContainerId(c).build());
            }
        } catch (StatusRuntimeException e) {
            System.out.println("RELIABILITY d: replenishing before request " + i + " failed: " + e.getStatus());
        }
    }

    private static CriFuzzer.Pools pools(BerthProcess berth) {
        var runtime = berth.runtime().withDeadlineAfter(60, TimeUnit.SECONDS);
        List<String> pods = new ArrayList<>();
        for (PodSandbox p : runtime.listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsList()) {
            // READY pods first: requests naming them get furthest
            if (p.getState() == PodSandboxState.SANDBOX_READY) {
                pods.add(0, p.getId());
            } else {
                pods.add(p.getId());
            }
        }
        List<String> containers = runtime.listContainers(ListContainersRequest.getDefaultInstance()).getContainersList().stream()
                .map(Container::getId).toList();
        List<String> images = new ArrayList<>();
        for (Image img : berth.images().withDeadlineAfter(60, TimeUnit.SECONDS).listImages(ListImagesRequest.getDefaultInstance()).getImagesList()) {
            images.add(img.getId());
            images.addAll(img.getRepoTagsList());
        }
        return new CriFuzzer.Pools(pods, containers, images);
    }

    private static void removeAll(BerthProcess berth) {
        var runtime = berth.runtime().withDeadlineAfter(120, TimeUnit.SECONDS);
        for (PodSandbox p : runtime.listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsList()) {
            runtime.removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(p.getId()).build());
        }
        for (Container c : runtime.listContainers(ListContainersRequest.getDefaultInstance()).getContainersList()) {
            runtime.removeContainer(dev.berth.cri.v1.RemoveContainerRequest.newBuilder().setContainerId(c.getId()).build());
        }
    }

    static String tail(String log) {
        return log.length() < 8000 ? log : log.substring(log.length() - 8000);
    }

    /** The static busybox with the applets the suites' containers call. */
    static TestLayer busybox() throws java.io.IOException {
        TestLayer layer = TestLayer.busybox();
        for (String applet : List.of("echo", "sleep", "cat", "ps", "mount", "insmod", "modprobe", "id", "ls", "test", "find",
                "hostname", "stat", "grep", "touch", "head", "wc", "dd", "mknod", "rm", "umount", "unshare", "sysctl", "true", "false")) {
            layer.symlink("bin/" + applet, "busybox");
        }
        return layer.dir("tmp", 01777);
    }
}
