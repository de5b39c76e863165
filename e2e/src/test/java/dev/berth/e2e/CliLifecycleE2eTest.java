package dev.berth.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.cri.berth.v1.LayerState;
import dev.berth.cri.berth.v1.PullProgressGrpc;
import dev.berth.cri.berth.v1.PullStatus;
import dev.berth.cri.berth.v1.WatchPullRequest;
import dev.berth.cri.v1.Container;
import dev.berth.cri.v1.ContainerFilter;
import dev.berth.cri.v1.ContainerState;
import dev.berth.cri.v1.ContainerStatusRequest;
import dev.berth.cri.v1.Image;
import dev.berth.cri.v1.ImageSpec;
import dev.berth.cri.v1.ListContainersRequest;
import dev.berth.cri.v1.ListImagesRequest;
import dev.berth.cri.v1.ListPodSandboxRequest;
import dev.berth.cri.v1.PodSandbox;
import dev.berth.cri.v1.RemoveImageRequest;
import dev.berth.cri.v1.RemovePodSandboxRequest;
import dev.berth.cri.v1.StopPodSandboxRequest;
import dev.berth.images.testing.RegistryFixture;
import dev.berth.images.testing.TestImage;
import dev.berth.images.testing.TestLayer;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * berth's lifecycle commands against a real berth and a local registry: pull (plain output, and
 * the PullProgress side channel delivering layer bytes), runp/create/start/stop/rm/stopp/rmp,
 * run from crictl-shaped files and from a Pod manifest, rmi and rmi --prune, and exit code 3
 * for what is not there.
 */
@Tag("root")
class CliLifecycleE2eTest {
    private static final String BRIDGE = "berthcl0";
    private static final String SUBNET = "10.196.160.0/20";
    private static final String MANIFEST_UID = "cl-e2e-manifest-uid";

    @TempDir
    Path dir;

    @Test
    void lifecycleCommandsDriveARealBerth() throws Exception {
        Path config = Files.writeString(dir.resolve("daemon.toml"), BerthProcess.networkToml(dir, BRIDGE, SUBNET));
        try (RegistryFixture registry = RegistryFixture.start(dir.resolve("registry"));
             BerthProcess berth = BerthProcess.start(dir.resolve("berth"), "--config", config.toString(), "--metrics-address", "")) {
            BerthCli cli = new BerthCli(berth.socket());
            try {
                TestLayer.Built busybox = TestLayer.busybox().symlink("bin/sleep", "busybox").symlink("bin/true", "busybox")
                        .build(TestLayer.Compression.GZIP);
                Random random = new Random(19);
                byte[] noise1 = new byte[3 << 20];
                byte[] noise2 = new byte[3 << 20];
                random.nextBytes(noise1);
                random.nextBytes(noise2);
                TestImage.Pushed app = TestImage.of(busybox, TestLayer.create().file("data/one", noise1, 0644).build(TestLayer.Compression.GZIP),
                        TestLayer.create().file("data/two", noise2, 0644).build(TestLayer.Compression.GZIP)).push(registry.pusher(), "cl/app", "1");
                TestImage.of(busybox, TestLayer.create().file("other", "x").build(TestLayer.Compression.GZIP)).push(registry.pusher(), "cl/other", "1");
                String appRef = registry.host() + "/cl/app:1";
                String otherRef = registry.host() + "/cl/other:1";

                // pull, while this test watches the side channel itself
                List<PullStatus> seen = new ArrayList<>();
                ManagedChannel channel = Grpc.newChannelBuilder("unix://" + berth.socket(), InsecureChannelCredentials.create()).build();
                try {
                    CompletableFuture<Void> watched = CompletableFuture.runAsync(() -> PullProgressGrpc.newBlockingStub(channel)
                            .withDeadlineAfter(60, TimeUnit.SECONDS)
                            .watch(WatchPullRequest.newBuilder().setImage(appRef).setWaitMs(10_000).build()).forEachRemaining(seen::add));
                    BerthCli.Result pull = cli.run("pull", "--progress", "plain", appRef);
                    assertEquals(0, pull.exit(), pull.toString());
                    assertEquals("Image is up to date for " + app.configDigest() + "\n", pull.out(), pull.toString());
                    assertTrue(pull.err().startsWith("Pulling " + appRef + "\n"), pull.toString());
                    assertFalse(pull.err().contains("\033"), "no escape codes off a terminal: " + pull);
                    watched.get(30, TimeUnit.SECONDS);
                } finally {
                    channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
                }
                assertFalse(seen.isEmpty(), "the side channel delivered the pull's progress");
                PullStatus last = seen.get(seen.size() - 1);
                assertTrue(last.getDone() && last.getError().isEmpty(), last.toString());
                assertEquals(3, last.getLayersCount(), last.toString());
                assertTrue(last.getLayersList().stream().allMatch(l -> l.getState() == LayerState.LAYER_DONE && l.getDone() == l.getSize()), last.toString());
                assertEquals(last.getTotalBytes(), last.getDoneBytes(), last.toString());
                assertTrue(seen.stream().flatMap(s -> s.getLayersList().stream()).anyMatch(l -> l.getDone() > 0 && l.getSize() > (1 << 20)),
                        "layer bytes were seen: " + seen.size() + " messages");

                // the step-by-step lifecycle, with crictl-shaped files (JSON pod config, YAML container config)
                Path podJson = Files.writeString(dir.resolve("pod.json"), "{\"metadata\": {\"name\": \"cl-one\", \"namespace\": \"cl\", \"uid\": \"cl-one-uid\"},"
                        + " \"log_directory\": \"" + dir.resolve("logs-one") + "\", \"unknown_field\": 1}");
                Path ctrYaml = Files.writeString(dir.resolve("ctr.yaml"), "metadata:\n  name: sleeper\nimage:\n  image: " + appRef
                        + "\ncommand: [sleep, \"60\"]\nlog_path: sleeper.log\n");
                String podId = single(cli.run("runp", podJson.toString()));
                String ctrId = single(cli.run("create", podId.substring(0, 12), ctrYaml.toString(), podJson.toString()));
                assertEquals(ctrId, single(cli.run("start", ctrId)));
                assertEquals(ContainerState.CONTAINER_RUNNING, state(berth, ctrId));
                assertEquals(ctrId, single(cli.run("stop", "-t", "0", "sleeper")));
                assertEquals(ContainerState.CONTAINER_EXITED, state(berth, ctrId));
                assertEquals(ctrId, single(cli.run("rm", ctrId)));
                assertEquals("Stopped sandbox " + podId, single(cli.run("stopp", "cl-one")));
                assertEquals("Removed sandbox " + podId, single(cli.run("rmp", podId)));

                // run: pod and container in one go from the two files; rmp -f by name through the launcher
                Path pod2 = Files.writeString(dir.resolve("pod2.yaml"), "metadata: {name: cl-two, namespace: cl, uid: cl-two-uid}\n"
                        + "logDirectory: " + dir.resolve("logs-two") + "\n");
                String runId = single(cli.run("run", ctrYaml.toString(), pod2.toString()));
                assertEquals(ContainerState.CONTAINER_RUNNING, state(berth, runId));
                BerthCli.Result rmp = cli.launch(null, Map.of(), 60, "rmp", "-f", "cl-two");
                assertEquals(0, rmp.exit(), rmp.toString());
                assertTrue(rmp.out().startsWith("Removed sandbox "), rmp.toString());

                // run a Kubernetes Pod manifest: the init container runs to completion first
                Path manifest = Files.writeString(dir.resolve("pod-manifest.yaml"), """
                        apiVersion: v1
                        kind: Pod
                        metadata: {name: cl-manifest, uid: %s}
                        spec:
                          initContainers:
                            - {name: setup, image: %s, command: [sh, -c, "echo ready > /work/flag"], volumeMounts: [{name: work, mountPath: /work}]}
                          containers:
                            - {name: app, image: %s, command: [sh, -c, "test -f /work/flag && sleep 60"], volumeMounts: [{name: work, mountPath: /work}]}
                          volumes: [{name: work, emptyDir: {}}]
                        """.formatted(MANIFEST_UID, appRef, appRef));
                BerthCli.Result ran = cli.run("run", "--volume-dir", dir.resolve("vols").toString(), manifest.toString());
                assertEquals(0, ran.exit(), ran.toString());
                String manifestPod = ran.out().strip();
                List<Container> inPod = berth.runtime().listContainers(ListContainersRequest.newBuilder()
                        .setFilter(ContainerFilter.newBuilder().setPodSandboxId(manifestPod)).build()).getContainersList();
                assertEquals(2, inPod.size(), inPod.toString());
                for (Container c : inPod) {
                    if (c.getMetadata().getName().equals("setup")) {
                        assertEquals(ContainerState.CONTAINER_EXITED, c.getState());
                        assertEquals(0, berth.runtime().containerStatus(ContainerStatusRequest.newBuilder().setContainerId(c.getId()).build())
                                .getStatus().getExitCode());
                    } else {
                        assertEquals(ContainerState.CONTAINER_RUNNING, c.getState(), "the app saw the init container's file");
                    }
                }
                // the kubelet's pod labels, but not the agent's pod-source one: an agent on this runtime leaves the pod alone
                java.util.Map<String, String> podLabels = berth.runtime().podSandboxStatus(dev.berth.cri.v1.PodSandboxStatusRequest.newBuilder()
                        .setPodSandboxId(manifestPod).build()).getStatus().getLabelsMap();
                assertEquals("cl-manifest", podLabels.get("io.kubernetes.pod.name"), podLabels.toString());
                assertFalse(podLabels.containsKey("berth.dev/pod-source"), podLabels.toString());
                // a pod that needs an API server is refused before anything runs
                Path secretPod = Files.writeString(dir.resolve("secret-pod.yaml"), "apiVersion: v1\nkind: Pod\nmetadata: {name: s}\n"
                        + "spec:\n  containers: [{name: a, image: " + appRef + "}]\n  volumes: [{name: s, secret: {secretName: db}}]\n");
                BerthCli.Result refused = cli.run("run", secretPod.toString());
                assertEquals(2, refused.exit(), refused.toString());
                assertTrue(refused.err().contains("volume s: secret"), refused.toString());

                // rmi --prune keeps what a container uses (the manifest pod's app image), removes the rest
                assertEquals(0, cli.run("pull", "-q", otherRef).exit());
                BerthCli.Result prune = cli.run("rmi", "--prune");
                assertEquals(0, prune.exit(), prune.toString());
                assertEquals("Deleted: " + otherRef + "\n", prune.out(), prune.toString());
                assertEquals(List.of(appRef), images(berth));
                assertTrue(single(cli.run("rmp", "-f", manifestPod)).startsWith("Removed sandbox"));
                BerthCli.Result rmi = cli.run("rmi", app.configDigest().substring("sha256:".length(), 19));
                assertEquals("Deleted: " + appRef + "\n", rmi.out(), rmi.toString());
                assertEquals(List.of(), images(berth));

                // what is not there is exit code 3, for every kind of object
                for (String[] missing : new String[][] {{"start", "nope"}, {"stop", "nope"}, {"rm", "nope"}, {"stopp", "nope"}, {"rmp", "nope"}}) {
                    BerthCli.Result r = cli.run(missing[0], missing[1]);
                    assertEquals(3, r.exit(), String.join(" ", missing) + ": " + r);
                }
                BerthCli.Result noImage = cli.launch(null, Map.of(), 60, "rmi", "no/such:image");
                assertEquals(3, noImage.exit(), noImage.toString());
                assertTrue(noImage.err().contains("no such image"), noImage.toString());
            } finally {
                for (PodSandbox p : berth.runtime().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsList()) {
                    berth.runtime().stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(p.getId()).build());
                    berth.runtime().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(p.getId()).build());
                }
                for (Image i : berth.images().listImages(ListImagesRequest.getDefaultInstance()).getImagesList()) {
                    berth.images().removeImage(RemoveImageRequest.newBuilder().setImage(ImageSpec.newBuilder().setImage(i.getId())).build());
                }
            }
        } finally {
            dev.berth.common.Trees.deleteRecursively(Path.of("/var/log/pods/default_cl-manifest_" + MANIFEST_UID));
            // the daemon's default network made the bridge; nothing else removes it
            new ProcessBuilder("ip", "link", "delete", BRIDGE).start().waitFor();
        }
    }

    /** The one line a command printed, after checking it succeeded. */
    private static String single(BerthCli.Result r) {
        assertEquals(0, r.exit(), r.toString());
        List<String> lines = r.out().lines().toList();
        assertEquals(1, lines.size(), r.toString());
        return lines.get(0);
    }

    private static ContainerState state(BerthProcess berth, String id) {
        return berth.runtime().containerStatus(ContainerStatusRequest.newBuilder().setContainerId(id).build()).getStatus().getState();
    }

    private static List<String> images(BerthProcess berth) {
        return berth.images().listImages(ListImagesRequest.getDefaultInstance()).getImagesList().stream()
                .flatMap(i -> i.getRepoTagsList().stream()).toList();
    }
}
