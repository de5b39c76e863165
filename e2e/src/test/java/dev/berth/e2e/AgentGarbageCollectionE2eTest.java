package dev.berth.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.cri.v1.Container;
import dev.berth.cri.v1.ContainerConfig;
import dev.berth.cri.v1.ContainerFilter;
import dev.berth.cri.v1.ContainerMetadata;
import dev.berth.cri.v1.ContainerState;
import dev.berth.cri.v1.ContainerStatusRequest;
import dev.berth.cri.v1.CreateContainerRequest;
import dev.berth.cri.v1.ImageFsInfoRequest;
import dev.berth.cri.v1.ImageSpec;
import dev.berth.cri.v1.ImageStatusRequest;
import dev.berth.cri.v1.ListContainersRequest;
import dev.berth.cri.v1.ListImagesRequest;
import dev.berth.cri.v1.ListPodSandboxRequest;
import dev.berth.cri.v1.PodSandbox;
import dev.berth.cri.v1.PodSandboxConfig;
import dev.berth.cri.v1.PodSandboxFilter;
import dev.berth.cri.v1.PodSandboxMetadata;
import dev.berth.cri.v1.PodSandboxState;
import dev.berth.cri.v1.PullImageRequest;
import dev.berth.cri.v1.StartContainerRequest;
import dev.berth.host.testing.SmallFilesystems;
import dev.berth.images.testing.RegistryFixture;
import dev.berth.images.testing.TestImage;
import dev.berth.images.testing.TestLayer;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.Callable;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The agent's garbage collection against berth's runtime: berth's root (its image store) is a
 * 96 MiB tmpfs, filled by a busybox image and five images of 6 MiB of random data from a
 * registry on loopback; the agent's image thresholds are set from the usage measured with
 * statfs so that it is above the high one and unused images must go. Image GC frees the
 * filesystem down to the low threshold without removing every unused image, and keeps the image
 * a running static pod uses. Dead runs of a container of that pod beyond one are removed, its
 * newest dead run and its running container stay.
 */
@Tag("root")
class AgentGarbageCollectionE2eTest {
    private static final String NODE = "gc-node";
    private static final String POD = "gc-" + NODE;
    private static final String BRIDGE = "berthgc0";
    private static final String SUBNET = "10.199.96.0/20";
    private static final int FILLERS = 5;
    private static final int FILLER_BYTES = 6 << 20;

    @TempDir
    Path dir;

    @Test
    void imageGcFreesTheImageFilesystemToTheLowThresholdKeepingImagesInUseAndDeadContainersBeyondTheLimitGo() throws Exception {
        Path berthDir = dir.resolve("berth");
        Path root = Files.createDirectories(berthDir.resolve("root"));
        Path manifests = Files.createDirectories(dir.resolve("manifests"));
        Path logs = dir.resolve("logs");
        String network = "[network]\ncni_config_dir = \"" + dir.resolve("net.d") + "\"\ndefault_bridge = \"" + BRIDGE + "\"\n"
                + "default_subnet = \"" + SUBNET + "\"\n";
        Path daemonConfig = Files.writeString(dir.resolve("daemon.toml"), network);
        Path agentConfig = dir.resolve("agent.toml");
        Files.writeString(agentConfig, network);
        RegistryFixture registry = null;
        boolean mounted = false;
        try {
            SmallFilesystems.mount(root, "96m");
            mounted = true;
            registry = RegistryFixture.start(dir.resolve("registry"));
            TestImage.of(TestLayer.busybox().symlink("bin/sleep", "busybox").symlink("bin/true", "busybox")
                    .build(TestLayer.Compression.GZIP)).push(registry.pusher(), "gc/busybox", "1");
            String busybox = registry.host() + "/gc/busybox:1";
            List<String> fillers = new ArrayList<>();
            Random random = new Random(16);
            for (int i = 0; i < FILLERS; i++) {
                byte[] data = new byte[FILLER_BYTES];
                random.nextBytes(data);
                TestImage.of(TestLayer.create().file("data", data, 0644).build(TestLayer.Compression.GZIP))
                        .push(registry.pusher(), "gc/filler" + i, "1");
                fillers.add(registry.host() + "/gc/filler" + i + ":1");
            }

            // the images arrive before the agent runs, so its first passes see them all at once
            try (BerthProcess daemon = BerthProcess.start(berthDir, "--config", daemonConfig.toString(), "--metrics-address", "")) {
                for (String ref : fillers) {
                    daemon.images().pullImage(PullImageRequest.newBuilder().setImage(ImageSpec.newBuilder().setImage(ref)).build());
                }
                daemon.images().pullImage(PullImageRequest.newBuilder().setImage(ImageSpec.newBuilder().setImage(busybox)).build());
            }
            FileStore fs = Files.getFileStore(root);
            long capacity = fs.getTotalSpace();
            long used = capacity - fs.getUsableSpace();
            // low: freeing 2.5 fillers' worth (by their reported sizes) reaches it; high: below today's usage
            int low = (int) ((used - FILLER_BYTES * 5L / 2) * 100 / capacity);
            int high = low + 5;
            int usedPercent = (int) (used * 100 / capacity);
            assertTrue(usedPercent >= high + 1 && low > 0, "the filesystem is above the high threshold: " + usedPercent + "% of "
                    + capacity + " bytes, high " + high + "%");
            Files.writeString(agentConfig, network + "[agent]\ncgroups_per_qos = false\npod_logs_dir = \"" + logs + "\"\n"
                    + "manifest_rescan_interval = \"2s\"\nimage_gc_high_threshold = " + high + "\nimage_gc_low_threshold = " + low + "\n"
                    + "image_minimum_gc_age = \"10s\"\nimage_gc_period = \"1s\"\ncontainer_gc_period = \"1s\"\n"
                    + "maximum_dead_containers_per_container = 1\n");
            Files.writeString(manifests.resolve("gc.yaml"), """
                    apiVersion: v1
                    kind: Pod
                    metadata:
                      name: gc
                    spec:
                      terminationGracePeriodSeconds: 1
                      containers:
                      - name: app
                        image: %s
                        imagePullPolicy: IfNotPresent
                        command: ["/bin/busybox", "sleep", "3600"]
                    """.formatted(busybox));

            try (BerthProcess agent = BerthProcess.startAgent(berthDir, "", "--config", agentConfig.toString(),
                    "--metrics-address", "127.0.0.1:" + AgentTests.freeLoopbackPort(), "--node-name", NODE,
                    "--pod-manifest-path", manifests.toString())) {
                PodSandbox sandbox = await("the static pod runs", () -> runningSandbox(agent));
                String appId = container(agent, sandbox.getId(), "app").get(0).getId();

                // three dead runs of one container of the pod, as restarts leave them
                String image = agent.images().imageStatus(ImageStatusRequest.newBuilder().setImage(ImageSpec.newBuilder()
                        .setImage(busybox)).build()).getImage().getId();
                List<String> runs = new ArrayList<>();
                for (int attempt = 0; attempt < 3; attempt++) {
                    String id = deadRun(agent, sandbox, image, logs, attempt);
                    runs.add(id);
                }
                List<Container> extra = await("the dead runs beyond one are removed", () -> {
                    List<Container> left = container(agent, sandbox.getId(), "extra");
                    return left.size() == 1 ? left : null;
                });
                assertEquals(runs.get(2), extra.get(0).getId(), "the newest dead run stays (the pod status's lastState)");
                assertEquals(ContainerState.CONTAINER_EXITED, extra.get(0).getState());

                // image GC: down to the low threshold, by statfs, with unused images left and the pod's image kept
                long after = await("image GC frees the filesystem to the low threshold", () -> {
                    long u = capacity - Files.getFileStore(root).getUsableSpace();
                    return u * 100 / capacity <= low ? u : null;
                });
                List<String> tags = new ArrayList<>();
                agent.images().listImages(ListImagesRequest.getDefaultInstance()).getImagesList().forEach(i -> tags.addAll(i.getRepoTagsList()));
                long fillersLeft = fillers.stream().filter(tags::contains).count();
                System.out.printf("GC e2e: image filesystem %d bytes, %d used before (%d%%), thresholds high %d%% low %d%%; after image GC"
                                + " %d used (%d%%), %d of %d unused images left; ImageFsInfo says %d bytes%n", capacity, used, usedPercent, high,
                        low, after, after * 100 / capacity, fillersLeft, FILLERS, agent.images().imageFsInfo(ImageFsInfoRequest
                                .getDefaultInstance()).getImageFilesystems(0).getUsedBytes().getValue());
                assertTrue(tags.contains(busybox), "the image of the running pod stays: " + tags);
                assertTrue(fillersLeft >= 1 && fillersLeft < FILLERS, "GC stops once the low threshold is reached: " + fillersLeft
                        + " unused images left of " + FILLERS);
                assertEquals(ContainerState.CONTAINER_RUNNING, agent.runtime().containerStatus(ContainerStatusRequest.newBuilder()
                        .setContainerId(appId).build()).getStatus().getState(), "the pod's container runs on");

                AgentTests.emptyDirectory(manifests);
                await("the pod is gone", () -> agent.runtime().listPodSandbox(ListPodSandboxRequest.getDefaultInstance())
                        .getItemsCount() == 0 ? true : null);
            }
        } finally {
            try {
                AgentTests.emptyDirectory(manifests);
                if (mounted) {
                    AgentTests.removeLeftoverPods(berthDir, agentConfig);
                }
                AgentTests.deleteBridge(BRIDGE);
                if (registry != null) {
                    registry.close();
                }
            } finally {
                if (mounted) {
                    SmallFilesystems.unmount(root);
                }
            }
        }
    }

    /** A run {@code attempt} of container "extra" in the agent's sandbox, labelled as the agent labels its own, run to its end. */
    private static String deadRun(BerthProcess agent, PodSandbox sandbox, String image, Path logs, int attempt) throws Exception {
        PodSandboxMetadata m = sandbox.getMetadata();
        PodSandboxConfig podConfig = PodSandboxConfig.newBuilder().setMetadata(m)
                .setLogDirectory(logs.resolve(m.getNamespace() + "_" + m.getName() + "_" + m.getUid()).toString()).build();
        String id = agent.runtime().createContainer(CreateContainerRequest.newBuilder().setPodSandboxId(sandbox.getId())
                .setSandboxConfig(podConfig).setConfig(ContainerConfig.newBuilder()
                        .setMetadata(ContainerMetadata.newBuilder().setName("extra").setAttempt(attempt))
                        .setImage(ImageSpec.newBuilder().setImage(image))
                        .addCommand("/bin/busybox").addArgs("true")
                        .setLogPath("extra/" + attempt + ".log")
                        .putLabels("io.kubernetes.pod.uid", m.getUid()).putLabels("io.kubernetes.pod.name", m.getName())
                        .putLabels("io.kubernetes.pod.namespace", m.getNamespace()).putLabels("io.kubernetes.container.name", "extra"))
                .build()).getContainerId();
        agent.runtime().startContainer(StartContainerRequest.newBuilder().setContainerId(id).build());
        await("run " + attempt + " of extra ends", () -> {
            try {
                return agent.runtime().containerStatus(ContainerStatusRequest.newBuilder().setContainerId(id).build()).getStatus()
                        .getState() == ContainerState.CONTAINER_EXITED ? true : null;
            } catch (io.grpc.StatusRuntimeException e) {
                return true; // collected already (an older run, once a newer one is dead)
            }
        });
        return id;
    }

    private static PodSandbox runningSandbox(BerthProcess agent) {
        for (PodSandbox s : agent.runtime().listPodSandbox(ListPodSandboxRequest.newBuilder()
                .setFilter(PodSandboxFilter.newBuilder().putLabelSelector("io.kubernetes.pod.name", POD)).build()).getItemsList()) {
            if (s.getState() == PodSandboxState.SANDBOX_READY) {
                List<Container> app = container(agent, s.getId(), "app");
                if (!app.isEmpty() && app.get(0).getState() == ContainerState.CONTAINER_RUNNING) {
                    return s;
                }
            }
        }
        return null;
    }

    private static List<Container> container(BerthProcess agent, String sandboxId, String name) {
        return agent.runtime().listContainers(ListContainersRequest.newBuilder().setFilter(ContainerFilter.newBuilder()
                .setPodSandboxId(sandboxId).putLabelSelector("io.kubernetes.container.name", name)).build()).getContainersList();
    }

    private static <T> T await(String what, Callable<T> probe) throws Exception {
        return AgentTests.await(what, Duration.ofSeconds(60), probe);
    }
}
