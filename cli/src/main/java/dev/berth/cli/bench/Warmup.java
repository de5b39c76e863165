package dev.berth.cli.bench;

import dev.berth.cri.v1.ContainerStatsFilter;
import dev.berth.cri.v1.ContainerStatsRequest;
import dev.berth.cri.v1.ContainerStatusRequest;
import dev.berth.cri.v1.CreateContainerRequest;
import dev.berth.cri.v1.ExecRequest;
import dev.berth.cri.v1.ExecSyncRequest;
import dev.berth.cri.v1.ImageServiceGrpc;
import dev.berth.cri.v1.ImageServiceGrpc.ImageServiceBlockingStub;
import dev.berth.cri.v1.ImageSpec;
import dev.berth.cri.v1.ImageStatusRequest;
import dev.berth.cri.v1.ListContainerStatsRequest;
import dev.berth.cri.v1.ListContainersRequest;
import dev.berth.cri.v1.ListImagesRequest;
import dev.berth.cri.v1.ListPodSandboxRequest;
import dev.berth.cri.v1.PodSandboxStatusRequest;
import dev.berth.cri.v1.PortForwardRequest;
import dev.berth.cri.v1.PullImageRequest;
import dev.berth.cri.v1.RemoveContainerRequest;
import dev.berth.cri.v1.RemoveImageRequest;
import dev.berth.cri.v1.RemovePodSandboxRequest;
import dev.berth.cri.v1.RunPodSandboxRequest;
import dev.berth.cri.v1.RuntimeServiceGrpc;
import dev.berth.cri.v1.RuntimeServiceGrpc.RuntimeServiceBlockingStub;
import dev.berth.cri.v1.StartContainerRequest;
import dev.berth.cri.v1.StatusRequest;
import dev.berth.cri.v1.StopContainerRequest;
import dev.berth.cri.v1.StopPodSandboxRequest;
import dev.berth.cri.v1.VersionRequest;
import io.grpc.ManagedChannel;
import java.io.IOException;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Warming the bench's own client, measuring nothing: a JVM that has not yet loaded and compiled
 * protobuf, gRPC and Netty spends hundreds of milliseconds in its first calls and several in
 * the next few hundred, and whichever runtime the bench measured first paid for it.
 */
final class Warmup {
    /** How long a fake round may take at most in all (a safety net; a round takes well under a millisecond per call). */
    private static final long FAKE_LIMIT_SECONDS = 30;

    private Warmup() {
    }

    /**
     * The read-only calls of one round: Version, Status, the lists, ImageStatus, and with a pod
     * and its container their statuses and stats. {@code rt} and {@code img} are stubs with a
     * deadline, made anew for each round as the measured calls make theirs.
     */
    static void readOnlyRound(RuntimeServiceBlockingStub rt, ImageServiceBlockingStub img, ImageStatusRequest image, String pod, String ctr,
                              ListContainerStatsRequest stats) {
        rt.version(VersionRequest.getDefaultInstance());
        rt.status(StatusRequest.getDefaultInstance());
        rt.listPodSandbox(ListPodSandboxRequest.getDefaultInstance());
        rt.listContainers(ListContainersRequest.getDefaultInstance());
        img.listImages(ListImagesRequest.getDefaultInstance());
        img.imageStatus(image);
        if (pod != null) {
            rt.podSandboxStatus(PodSandboxStatusRequest.newBuilder().setPodSandboxId(pod).build());
        }
        if (ctr != null) {
            rt.containerStatus(ContainerStatusRequest.newBuilder().setContainerId(ctr).build());
            rt.containerStats(ContainerStatsRequest.newBuilder().setContainerId(ctr).build());
            rt.listContainerStats(stats);
        }
    }

    /**
     * {@code rounds} rounds of every unary call the bench makes, against a {@link FakeCri} of
     * its own over a UNIX socket (the transport the runtimes are reached by), with requests
     * shaped like the measured ones. Returns how often the fake answered each call.
     */
    static Map<String, Integer> againstFake(int rounds, RunPodSandboxRequest run, CreateContainerRequest create, long callTimeoutSeconds)
            throws IOException {
        try (FakeCri fake = FakeCri.start()) {
            ManagedChannel channel = Scenario.channel(fake.endpoint());
            try {
                ImageSpec spec = create.getConfig().getImage();
                ImageStatusRequest image = ImageStatusRequest.newBuilder().setImage(spec).build();
                ListContainerStatsRequest stats = ListContainerStatsRequest.newBuilder()
                        .setFilter(ContainerStatsFilter.newBuilder().putLabelSelector(Scenario.LABEL, "warm-up")).build();
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(FAKE_LIMIT_SECONDS);
                for (int i = 0; i < rounds && System.nanoTime() < deadline; i++) {
                    RuntimeServiceBlockingStub rt = RuntimeServiceGrpc.newBlockingStub(channel).withDeadlineAfter(callTimeoutSeconds, TimeUnit.SECONDS);
                    ImageServiceBlockingStub img = ImageServiceGrpc.newBlockingStub(channel).withDeadlineAfter(callTimeoutSeconds, TimeUnit.SECONDS);
                    readOnlyRound(rt, img, image, "warm-up", "warm-up", stats);
                    img.pullImage(PullImageRequest.newBuilder().setImage(spec).build());
                    img.removeImage(RemoveImageRequest.newBuilder().setImage(spec).build());
                    String pod = rt.runPodSandbox(run).getPodSandboxId();
                    String ctr = rt.createContainer(create.toBuilder().setPodSandboxId(pod).build()).getContainerId();
                    rt.startContainer(StartContainerRequest.newBuilder().setContainerId(ctr).build());
                    rt.execSync(ExecSyncRequest.newBuilder().setContainerId(ctr).addCmd("true").setTimeout(callTimeoutSeconds).build());
                    rt.exec(ExecRequest.newBuilder().setContainerId(ctr).addCmd("true").setStdout(true).setStderr(true).build());
                    rt.portForward(PortForwardRequest.newBuilder().setPodSandboxId(pod).addPort(Scenario.ECHO_PORT).build());
                    rt.stopContainer(StopContainerRequest.newBuilder().setContainerId(ctr).setTimeout(0).build());
                    rt.removeContainer(RemoveContainerRequest.newBuilder().setContainerId(ctr).build());
                    rt.stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(pod).build());
                    rt.removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(pod).build());
                }
            } finally {
                channel.shutdownNow();
                try {
                    channel.awaitTermination(5, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            return fake.served();
        }
    }
}
