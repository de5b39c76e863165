package dev.berth.cli.bench;

import dev.berth.cri.v1.Container;
import dev.berth.cri.v1.ContainerAttributes;
import dev.berth.cri.v1.ContainerMetadata;
import dev.berth.cri.v1.ContainerState;
import dev.berth.cri.v1.ContainerStats;
import dev.berth.cri.v1.ContainerStatsRequest;
import dev.berth.cri.v1.ContainerStatsResponse;
import dev.berth.cri.v1.ContainerStatus;
import dev.berth.cri.v1.ContainerStatusRequest;
import dev.berth.cri.v1.ContainerStatusResponse;
import dev.berth.cri.v1.CpuUsage;
import dev.berth.cri.v1.CreateContainerRequest;
import dev.berth.cri.v1.CreateContainerResponse;
import dev.berth.cri.v1.ExecRequest;
import dev.berth.cri.v1.ExecResponse;
import dev.berth.cri.v1.ExecSyncRequest;
import dev.berth.cri.v1.ExecSyncResponse;
import dev.berth.cri.v1.Image;
import dev.berth.cri.v1.ImageServiceGrpc;
import dev.berth.cri.v1.ImageSpec;
import dev.berth.cri.v1.ImageStatusRequest;
import dev.berth.cri.v1.ImageStatusResponse;
import dev.berth.cri.v1.ListContainerStatsRequest;
import dev.berth.cri.v1.ListContainerStatsResponse;
import dev.berth.cri.v1.ListContainersRequest;
import dev.berth.cri.v1.ListContainersResponse;
import dev.berth.cri.v1.ListImagesRequest;
import dev.berth.cri.v1.ListImagesResponse;
import dev.berth.cri.v1.ListPodSandboxRequest;
import dev.berth.cri.v1.ListPodSandboxResponse;
import dev.berth.cri.v1.MemoryUsage;
import dev.berth.cri.v1.PodSandbox;
import dev.berth.cri.v1.PodSandboxMetadata;
import dev.berth.cri.v1.PodSandboxNetworkStatus;
import dev.berth.cri.v1.PodSandboxState;
import dev.berth.cri.v1.PodSandboxStatus;
import dev.berth.cri.v1.PodSandboxStatusRequest;
import dev.berth.cri.v1.PodSandboxStatusResponse;
import dev.berth.cri.v1.PortForwardRequest;
import dev.berth.cri.v1.PortForwardResponse;
import dev.berth.cri.v1.PullImageRequest;
import dev.berth.cri.v1.PullImageResponse;
import dev.berth.cri.v1.RemoveContainerRequest;
import dev.berth.cri.v1.RemoveContainerResponse;
import dev.berth.cri.v1.RemoveImageRequest;
import dev.berth.cri.v1.RemoveImageResponse;
import dev.berth.cri.v1.RemovePodSandboxRequest;
import dev.berth.cri.v1.RemovePodSandboxResponse;
import dev.berth.cri.v1.RunPodSandboxRequest;
import dev.berth.cri.v1.RunPodSandboxResponse;
import dev.berth.cri.v1.RuntimeCondition;
import dev.berth.cri.v1.RuntimeServiceGrpc;
import dev.berth.cri.v1.RuntimeStatus;
import dev.berth.cri.v1.StartContainerRequest;
import dev.berth.cri.v1.StartContainerResponse;
import dev.berth.cri.v1.StatusRequest;
import dev.berth.cri.v1.StatusResponse;
import dev.berth.cri.v1.StopContainerRequest;
import dev.berth.cri.v1.StopContainerResponse;
import dev.berth.cri.v1.StopPodSandboxRequest;
import dev.berth.cri.v1.StopPodSandboxResponse;
import dev.berth.cri.v1.UInt64Value;
import dev.berth.cri.v1.VersionRequest;
import dev.berth.cri.v1.VersionResponse;
import io.grpc.Server;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A CRI server inside the bench, on a UNIX socket in a private temporary directory: it answers
 * every call the bench makes at once with a fixed response shaped like a runtime's (lists of a
 * few items with labels, statuses with metadata) and runs nothing. The bench warms its own
 * client on it (protobuf, gRPC, Netty over epoll, the JIT) before it measures a runtime's first
 * calls, without a single call reaching the runtime.
 */
final class FakeCri implements AutoCloseable {
    private final Path dir;
    private final Path socket;
    private final Server server;
    private final EventLoopGroup boss;
    private final EventLoopGroup workers;
    private final Map<String, AtomicInteger> served = new ConcurrentHashMap<>();

    private FakeCri(Path dir) throws IOException {
        this.dir = dir;
        this.socket = dir.resolve("cri.sock");
        this.boss = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
        this.workers = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
        this.server = NettyServerBuilder.forAddress(new DomainSocketAddress(socket.toString()))
                .channelType(EpollServerDomainSocketChannel.class)
                .bossEventLoopGroup(boss)
                .workerEventLoopGroup(workers)
                .directExecutor()
                .addService(new Runtime())
                .addService(new Images())
                .build();
    }

    /** Serves on a socket in a new directory only the bench's user can enter. */
    static FakeCri start() throws IOException {
        Path dir = Files.createTempDirectory("berth-bench-fake-");
        FakeCri f = new FakeCri(dir);
        try {
            f.server.start();
        } catch (IOException | RuntimeException e) {
            f.close();
            throw e;
        }
        return f;
    }

    String endpoint() {
        return "unix://" + socket;
    }

    /** How many times each method was answered, by its CRI name. */
    Map<String, Integer> served() {
        Map<String, Integer> out = new TreeMap<>();
        served.forEach((k, v) -> out.put(k, v.get()));
        return out;
    }

    private <T> void answer(String method, T response, StreamObserver<T> out) {
        served.computeIfAbsent(method, m -> new AtomicInteger()).incrementAndGet();
        out.onNext(response);
        out.onCompleted();
    }

    @Override
    public void close() {
        server.shutdownNow();
        try {
            server.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        boss.shutdownGracefully(0, 1, TimeUnit.SECONDS);
        workers.shutdownGracefully(0, 1, TimeUnit.SECONDS);
        try {
            Files.deleteIfExists(socket);
            Files.deleteIfExists(dir);
        } catch (IOException e) {
            // left in the temporary directory
        }
    }

    private static final String POD = "f".repeat(64);
    private static final String CTR = "c".repeat(64);
    private static final Map<String, String> LABELS = Map.of("io.kubernetes.pod.name", "fake", "io.kubernetes.pod.namespace", "default",
            "io.kubernetes.pod.uid", "00000000-0000-0000-0000-000000000000", Scenario.LABEL, "fake");
    private static final PodSandboxMetadata POD_META = PodSandboxMetadata.newBuilder().setName("fake").setNamespace("default")
            .setUid("00000000-0000-0000-0000-000000000000").build();
    private static final ContainerMetadata CTR_META = ContainerMetadata.newBuilder().setName("sleep").build();
    private static final ImageSpec IMAGE = ImageSpec.newBuilder().setImage("registry.invalid/fake:1").build();

    private static UInt64Value u64(long v) {
        return UInt64Value.newBuilder().setValue(v).build();
    }

    private static ContainerStats stats(int i) {
        return ContainerStats.newBuilder()
                .setAttributes(ContainerAttributes.newBuilder().setId(CTR + i).setMetadata(CTR_META).putAllLabels(LABELS))
                .setCpu(CpuUsage.newBuilder().setTimestamp(1).setUsageCoreNanoSeconds(u64(123456789)))
                .setMemory(MemoryUsage.newBuilder().setTimestamp(1).setWorkingSetBytes(u64(1 << 20)).setUsageBytes(u64(2 << 20)))
                .build();
    }

    private final class Runtime extends RuntimeServiceGrpc.RuntimeServiceImplBase {
        @Override
        public void version(VersionRequest r, StreamObserver<VersionResponse> out) {
            answer("Version", VersionResponse.newBuilder().setVersion("0.1.0").setRuntimeName("fake").setRuntimeVersion("0")
                    .setRuntimeApiVersion("v1").build(), out);
        }

        @Override
        public void status(StatusRequest r, StreamObserver<StatusResponse> out) {
            answer("Status", StatusResponse.newBuilder().setStatus(RuntimeStatus.newBuilder()
                    .addConditions(RuntimeCondition.newBuilder().setType("RuntimeReady").setStatus(true))
                    .addConditions(RuntimeCondition.newBuilder().setType("NetworkReady").setStatus(true))).build(), out);
        }

        @Override
        public void listPodSandbox(ListPodSandboxRequest r, StreamObserver<ListPodSandboxResponse> out) {
            ListPodSandboxResponse.Builder b = ListPodSandboxResponse.newBuilder();
            for (int i = 0; i < 3; i++) {
                b.addItems(PodSandbox.newBuilder().setId(POD + i).setMetadata(POD_META).setState(PodSandboxState.SANDBOX_READY)
                        .setCreatedAt(1_700_000_000_000_000_000L).putAllLabels(LABELS).setRuntimeHandler("runc"));
            }
            answer("ListPodSandbox", b.build(), out);
        }

        @Override
        public void listContainers(ListContainersRequest r, StreamObserver<ListContainersResponse> out) {
            ListContainersResponse.Builder b = ListContainersResponse.newBuilder();
            for (int i = 0; i < 3; i++) {
                b.addContainers(Container.newBuilder().setId(CTR + i).setPodSandboxId(POD + i).setMetadata(CTR_META).setImage(IMAGE)
                        .setImageRef("sha256:" + "a".repeat(64)).setState(ContainerState.CONTAINER_RUNNING)
                        .setCreatedAt(1_700_000_000_000_000_000L).putAllLabels(LABELS));
            }
            answer("ListContainers", b.build(), out);
        }

        @Override
        public void podSandboxStatus(PodSandboxStatusRequest r, StreamObserver<PodSandboxStatusResponse> out) {
            answer("PodSandboxStatus", PodSandboxStatusResponse.newBuilder().setStatus(PodSandboxStatus.newBuilder().setId(POD)
                    .setMetadata(POD_META).setState(PodSandboxState.SANDBOX_READY).setCreatedAt(1_700_000_000_000_000_000L)
                    .setNetwork(PodSandboxNetworkStatus.newBuilder().setIp("10.88.0.2")).putAllLabels(LABELS).setRuntimeHandler("runc"))
                    .build(), out);
        }

        @Override
        public void containerStatus(ContainerStatusRequest r, StreamObserver<ContainerStatusResponse> out) {
            answer("ContainerStatus", ContainerStatusResponse.newBuilder().setStatus(ContainerStatus.newBuilder().setId(CTR)
                    .setMetadata(CTR_META).setState(ContainerState.CONTAINER_RUNNING).setCreatedAt(1_700_000_000_000_000_000L)
                    .setStartedAt(1_700_000_000_100_000_000L).setImage(IMAGE).setImageRef("sha256:" + "a".repeat(64))
                    .putAllLabels(LABELS).setLogPath("sleep/0.log")).build(), out);
        }

        @Override
        public void containerStats(ContainerStatsRequest r, StreamObserver<ContainerStatsResponse> out) {
            answer("ContainerStats", ContainerStatsResponse.newBuilder().setStats(stats(0)).build(), out);
        }

        @Override
        public void listContainerStats(ListContainerStatsRequest r, StreamObserver<ListContainerStatsResponse> out) {
            answer("ListContainerStats", ListContainerStatsResponse.newBuilder().addStats(stats(0)).addStats(stats(1)).build(), out);
        }

        @Override
        public void runPodSandbox(RunPodSandboxRequest r, StreamObserver<RunPodSandboxResponse> out) {
            answer("RunPodSandbox", RunPodSandboxResponse.newBuilder().setPodSandboxId(POD).build(), out);
        }

        @Override
        public void createContainer(CreateContainerRequest r, StreamObserver<CreateContainerResponse> out) {
            answer("CreateContainer", CreateContainerResponse.newBuilder().setContainerId(CTR).build(), out);
        }

        @Override
        public void startContainer(StartContainerRequest r, StreamObserver<StartContainerResponse> out) {
            answer("StartContainer", StartContainerResponse.getDefaultInstance(), out);
        }

        @Override
        public void execSync(ExecSyncRequest r, StreamObserver<ExecSyncResponse> out) {
            answer("ExecSync", ExecSyncResponse.getDefaultInstance(), out);
        }

        @Override
        public void exec(ExecRequest r, StreamObserver<ExecResponse> out) {
            answer("Exec", ExecResponse.newBuilder().setUrl("http://127.0.0.1:1/exec/" + "x".repeat(32)).build(), out);
        }

        @Override
        public void portForward(PortForwardRequest r, StreamObserver<PortForwardResponse> out) {
            answer("PortForward", PortForwardResponse.newBuilder().setUrl("http://127.0.0.1:1/portforward/" + "x".repeat(32)).build(), out);
        }

        @Override
        public void stopContainer(StopContainerRequest r, StreamObserver<StopContainerResponse> out) {
            answer("StopContainer", StopContainerResponse.getDefaultInstance(), out);
        }

        @Override
        public void removeContainer(RemoveContainerRequest r, StreamObserver<RemoveContainerResponse> out) {
            answer("RemoveContainer", RemoveContainerResponse.getDefaultInstance(), out);
        }

        @Override
        public void stopPodSandbox(StopPodSandboxRequest r, StreamObserver<StopPodSandboxResponse> out) {
            answer("StopPodSandbox", StopPodSandboxResponse.getDefaultInstance(), out);
        }

        @Override
        public void removePodSandbox(RemovePodSandboxRequest r, StreamObserver<RemovePodSandboxResponse> out) {
            answer("RemovePodSandbox", RemovePodSandboxResponse.getDefaultInstance(), out);
        }
    }

    private final class Images extends ImageServiceGrpc.ImageServiceImplBase {
        private final Image image = Image.newBuilder().setId("sha256:" + "a".repeat(64)).addRepoTags(IMAGE.getImage())
                .addRepoDigests("registry.invalid/fake@sha256:" + "b".repeat(64)).setSize(1_500_000).setSpec(IMAGE).build();

        @Override
        public void imageStatus(ImageStatusRequest r, StreamObserver<ImageStatusResponse> out) {
            answer("ImageStatus", ImageStatusResponse.newBuilder().setImage(image).build(), out);
        }

        @Override
        public void listImages(ListImagesRequest r, StreamObserver<ListImagesResponse> out) {
            answer("ListImages", ListImagesResponse.newBuilder().addImages(image).addImages(image.toBuilder().setId("sha256:" + "c".repeat(64)))
                    .build(), out);
        }

        @Override
        public void pullImage(PullImageRequest r, StreamObserver<PullImageResponse> out) {
            answer("PullImage", PullImageResponse.newBuilder().setImageRef(image.getId()).build(), out);
        }

        @Override
        public void removeImage(RemoveImageRequest r, StreamObserver<RemoveImageResponse> out) {
            answer("RemoveImage", RemoveImageResponse.getDefaultInstance(), out);
        }
    }
}
