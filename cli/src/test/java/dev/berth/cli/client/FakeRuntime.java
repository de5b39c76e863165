package dev.berth.cli.client;

import dev.berth.cri.v1.Container;
import dev.berth.cri.v1.ContainerEventResponse;
import dev.berth.cri.v1.ContainerStats;
import dev.berth.cri.v1.ContainerStatus;
import dev.berth.cri.v1.ContainerStatusRequest;
import dev.berth.cri.v1.ContainerStatusResponse;
import dev.berth.cri.v1.GetEventsRequest;
import dev.berth.cri.v1.Image;
import dev.berth.cri.v1.ImageServiceGrpc;
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
import dev.berth.cri.v1.PodSandbox;
import dev.berth.cri.v1.RuntimeServiceGrpc;
import dev.berth.cri.v1.StatusRequest;
import dev.berth.cri.v1.StatusResponse;
import dev.berth.cri.v1.VersionRequest;
import dev.berth.cri.v1.VersionResponse;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A CRI runtime for the client's tests: canned pods, containers, images, stats samples and
 * events served on a UNIX socket, so commands run end to end in process without a daemon. It
 * applies no filter of a request (the client's own filtering is what the tests look at) except
 * the ones noted.
 */
final class FakeRuntime implements AutoCloseable {
    /** What a command printed and how it ended. */
    record Result(int exit, String out, String err) {
        @Override
        public String toString() {
            return "exit " + exit + "\n--- stdout\n" + out + "--- stderr\n" + err;
        }
    }

    final Path socket;
    VersionResponse version = VersionResponse.newBuilder().setVersion("0.1.0").setRuntimeName("fake").setRuntimeVersion("1.2.3")
            .setRuntimeApiVersion("v1").build();
    StatusResponse status = StatusResponse.getDefaultInstance();
    final List<PodSandbox> pods = new CopyOnWriteArrayList<>();
    final List<Container> containers = new CopyOnWriteArrayList<>();
    final List<Image> images = new CopyOnWriteArrayList<>();
    final List<ContainerStatusResponse> statuses = new CopyOnWriteArrayList<>();
    /** ListContainerStats answers these in turn (the last one again when they run out). */
    final List<List<ContainerStats>> samples = new CopyOnWriteArrayList<>();
    /** GetContainerEvents sends these, then ends the stream; null: UNIMPLEMENTED. */
    List<ContainerEventResponse> events;
    final List<ContainerFilterSeen> containerFilters = new CopyOnWriteArrayList<>();
    private final AtomicInteger sampled = new AtomicInteger();
    private final EventLoopGroup boss = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
    private final EventLoopGroup workers = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
    private final Server server;

    /** The filter of a ListContainers call. */
    record ContainerFilterSeen(String podId, String state) {
    }

    FakeRuntime(Path dir) throws IOException {
        this.socket = dir.resolve("fake.sock");
        this.server = NettyServerBuilder.forAddress(new DomainSocketAddress(socket.toString()))
                .channelType(EpollServerDomainSocketChannel.class).bossEventLoopGroup(boss).workerEventLoopGroup(workers)
                .addService(new Runtime()).addService(new Images()).build().start();
    }

    /** {@code berth <command> -r <this socket> args...} in process. */
    Result run(String command, String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        List<String> argv = new ArrayList<>(List.of(command, "--runtime-endpoint=unix://" + socket));
        argv.addAll(List.of(args));
        int exit = dev.berth.cli.Main.commandLine().setOut(new PrintWriter(out, true)).setErr(new PrintWriter(err, true))
                .execute(argv.toArray(String[]::new));
        return new Result(exit, out.toString(), err.toString());
    }

    @Override
    public void close() throws InterruptedException {
        server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        boss.shutdownGracefully(0, 1, TimeUnit.SECONDS);
        workers.shutdownGracefully(0, 1, TimeUnit.SECONDS);
    }

    private static <T> void answer(T response, StreamObserver<T> out) {
        out.onNext(response);
        out.onCompleted();
    }

    private final class Runtime extends RuntimeServiceGrpc.RuntimeServiceImplBase {
        @Override
        public void version(VersionRequest r, StreamObserver<VersionResponse> out) {
            answer(version, out);
        }

        @Override
        public void status(StatusRequest r, StreamObserver<StatusResponse> out) {
            answer(status, out);
        }

        @Override
        public void listPodSandbox(ListPodSandboxRequest r, StreamObserver<ListPodSandboxResponse> out) {
            answer(ListPodSandboxResponse.newBuilder().addAllItems(pods).build(), out);
        }

        @Override
        public void listContainers(ListContainersRequest r, StreamObserver<ListContainersResponse> out) {
            containerFilters.add(new ContainerFilterSeen(r.getFilter().getPodSandboxId(),
                    r.getFilter().hasState() ? r.getFilter().getState().getState().name() : null));
            answer(ListContainersResponse.newBuilder().addAllContainers(containers).build(), out);
        }

        @Override
        public void containerStatus(ContainerStatusRequest r, StreamObserver<ContainerStatusResponse> out) {
            for (ContainerStatusResponse s : statuses) {
                if (s.getStatus().getId().equals(r.getContainerId())) {
                    answer(s, out);
                    return;
                }
            }
            out.onError(Status.NOT_FOUND.withDescription("container " + r.getContainerId() + " not found").asRuntimeException());
        }

        @Override
        public void listContainerStats(ListContainerStatsRequest r, StreamObserver<ListContainerStatsResponse> out) {
            int i = Math.min(sampled.getAndIncrement(), samples.size() - 1);
            answer(ListContainerStatsResponse.newBuilder().addAllStats(samples.get(i)).build(), out);
        }

        @Override
        public void getContainerEvents(GetEventsRequest r, StreamObserver<ContainerEventResponse> out) {
            if (events == null) {
                super.getContainerEvents(r, out);
                return;
            }
            events.forEach(out::onNext);
            out.onCompleted();
        }
    }

    private final class Images extends ImageServiceGrpc.ImageServiceImplBase {
        @Override
        public void listImages(ListImagesRequest r, StreamObserver<ListImagesResponse> out) {
            answer(ListImagesResponse.newBuilder().addAllImages(images).build(), out);
        }

        /** By ID or a repo tag; an unknown image has no image, as the CRI says. */
        @Override
        public void imageStatus(ImageStatusRequest r, StreamObserver<ImageStatusResponse> out) {
            String name = r.getImage().getImage();
            ImageStatusResponse.Builder b = ImageStatusResponse.newBuilder();
            images.stream().filter(i -> i.getId().equals(name) || i.getRepoTagsList().contains(name)).findFirst().ifPresent(i -> {
                b.setImage(i);
                if (r.getVerbose()) {
                    b.putAllInfo(Map.of("info", "{\"chainId\":\"sha256:c0ffee\"}"));
                }
            });
            answer(b.build(), out);
        }
    }

    static ContainerStatus.Builder containerStatus(String id) {
        return ContainerStatus.newBuilder().setId(id);
    }
}
