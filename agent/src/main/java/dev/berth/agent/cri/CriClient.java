package dev.berth.agent.cri;

import dev.berth.cri.v1.ContainerConfig;
import dev.berth.cri.v1.ContainerFilter;
import dev.berth.cri.v1.ContainerStatus;
import dev.berth.cri.v1.ContainerStatusRequest;
import dev.berth.cri.v1.CreateContainerRequest;
import dev.berth.cri.v1.Image;
import dev.berth.cri.v1.ImageServiceGrpc;
import dev.berth.cri.v1.ImageSpec;
import dev.berth.cri.v1.ImageStatusRequest;
import dev.berth.cri.v1.ImageStatusResponse;
import dev.berth.cri.v1.ListContainersRequest;
import dev.berth.cri.v1.ListPodSandboxRequest;
import dev.berth.cri.v1.PodSandbox;
import dev.berth.cri.v1.PodSandboxConfig;
import dev.berth.cri.v1.PodSandboxFilter;
import dev.berth.cri.v1.PullImageRequest;
import dev.berth.cri.v1.RemoveContainerRequest;
import dev.berth.cri.v1.RemovePodSandboxRequest;
import dev.berth.cri.v1.RunPodSandboxRequest;
import dev.berth.cri.v1.RuntimeServiceGrpc;
import dev.berth.cri.v1.StartContainerRequest;
import dev.berth.cri.v1.StatusRequest;
import dev.berth.cri.v1.StatusResponse;
import dev.berth.cri.v1.StopContainerRequest;
import dev.berth.cri.v1.StopContainerResponse;
import dev.berth.cri.v1.StopPodSandboxRequest;
import dev.berth.cri.v1.VersionRequest;
import dev.berth.cri.v1.VersionResponse;
import io.grpc.Channel;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * The agent's one way to a runtime: the CRI's RuntimeService and ImageService over a gRPC
 * channel (in process to berth's own, or a UNIX socket to any runtime), every call with a
 * deadline: {@code requestTimeout}, or {@code pullTimeout} for image pulls, and a stop's grace
 * period on top of the request timeout. Failures arrive as gRPC's {@code StatusRuntimeException}.
 * The channel belongs to the caller.
 */
public final class CriClient {
    private final Channel channel;
    private final Duration requestTimeout;
    private final Duration pullTimeout;

    public CriClient(Channel channel, Duration requestTimeout, Duration pullTimeout) {
        this.channel = channel;
        this.requestTimeout = requestTimeout;
        this.pullTimeout = pullTimeout;
    }

    private RuntimeServiceGrpc.RuntimeServiceBlockingStub runtime(Duration extra) {
        return RuntimeServiceGrpc.newBlockingStub(channel).withDeadlineAfter(requestTimeout.plus(extra).toMillis(), TimeUnit.MILLISECONDS);
    }

    private RuntimeServiceGrpc.RuntimeServiceBlockingStub runtime() {
        return runtime(Duration.ZERO);
    }

    private ImageServiceGrpc.ImageServiceBlockingStub images(Duration timeout) {
        return ImageServiceGrpc.newBlockingStub(channel).withDeadlineAfter(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    public VersionResponse version() {
        return runtime().version(VersionRequest.newBuilder().setVersion("v1").build());
    }

    public StatusResponse status() {
        return runtime().status(StatusRequest.getDefaultInstance());
    }

    /**
     * What the runtime's Status says {@code handler} ("" the default) supports; none when the
     * runtime does not list it or cannot be asked (then nothing beyond the basics is assumed).
     */
    public dev.berth.cri.v1.RuntimeHandlerFeatures handlerFeatures(String handler) {
        try {
            return status().getRuntimeHandlersList().stream().filter(h -> h.getName().equals(handler)).findFirst()
                    .map(dev.berth.cri.v1.RuntimeHandler::getFeatures)
                    .orElse(dev.berth.cri.v1.RuntimeHandlerFeatures.getDefaultInstance());
        } catch (io.grpc.StatusRuntimeException e) {
            return dev.berth.cri.v1.RuntimeHandlerFeatures.getDefaultInstance();
        }
    }

    public dev.berth.cri.v1.RuntimeConfigResponse runtimeConfig() {
        return runtime().runtimeConfig(dev.berth.cri.v1.RuntimeConfigRequest.getDefaultInstance());
    }

    /** The sandboxes whose labels include all of {@code labels}. */
    public List<PodSandbox> listPodSandboxes(Map<String, String> labels) {
        return runtime().listPodSandbox(ListPodSandboxRequest.newBuilder()
                .setFilter(PodSandboxFilter.newBuilder().putAllLabelSelector(labels)).build()).getItemsList();
    }

    public String runPodSandbox(PodSandboxConfig config, String runtimeHandler) {
        return runtime().runPodSandbox(RunPodSandboxRequest.newBuilder().setConfig(config).setRuntimeHandler(runtimeHandler).build())
                .getPodSandboxId();
    }

    public dev.berth.cri.v1.PodSandboxStatus podSandboxStatus(String id) {
        return runtime().podSandboxStatus(dev.berth.cri.v1.PodSandboxStatusRequest.newBuilder().setPodSandboxId(id).build()).getStatus();
    }

    public void stopPodSandbox(String id) {
        runtime().stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(id).build());
    }

    public void removePodSandbox(String id) {
        runtime().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(id).build());
    }

    /** The containers of one sandbox. */
    public List<dev.berth.cri.v1.Container> listContainers(String sandboxId) {
        return runtime().listContainers(ListContainersRequest.newBuilder()
                .setFilter(ContainerFilter.newBuilder().setPodSandboxId(sandboxId)).build()).getContainersList();
    }

    public ContainerStatus containerStatus(String id) {
        return runtime().containerStatus(ContainerStatusRequest.newBuilder().setContainerId(id).build()).getStatus();
    }

    public String createContainer(String sandboxId, ContainerConfig config, PodSandboxConfig sandboxConfig) {
        return runtime().createContainer(CreateContainerRequest.newBuilder().setPodSandboxId(sandboxId).setConfig(config)
                .setSandboxConfig(sandboxConfig).build()).getContainerId();
    }

    public void startContainer(String id) {
        runtime().startContainer(StartContainerRequest.newBuilder().setContainerId(id).build());
    }

    public void removeContainer(String id) {
        runtime().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(id).build());
    }

    /**
     * Stops a container, giving it {@code graceSeconds} between its stop signal and SIGKILL; the
     * call's deadline is the grace period plus the request timeout. Several stops run at once
     * through this asynchronous form, as the kubelet stops a pod's containers in parallel.
     */
    public CompletableFuture<Void> stopContainerAsync(String id, long graceSeconds) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        RuntimeServiceGrpc.newStub(channel)
                .withDeadlineAfter(requestTimeout.plusSeconds(Math.max(0, graceSeconds)).toMillis(), TimeUnit.MILLISECONDS)
                .stopContainer(StopContainerRequest.newBuilder().setContainerId(id).setTimeout(graceSeconds).build(),
                        new StreamObserver<StopContainerResponse>() {
                            @Override
                            public void onNext(StopContainerResponse value) {
                                // nothing in it
                            }

                            @Override
                            public void onError(Throwable t) {
                                done.completeExceptionally(t);
                            }

                            @Override
                            public void onCompleted() {
                                done.complete(null);
                            }
                        });
        return done;
    }

    /** The image the runtime has under {@code image} (a reference or id), if any. */
    public Optional<Image> imageStatus(String image) {
        ImageStatusResponse r = images(requestTimeout).imageStatus(ImageStatusRequest.newBuilder()
                .setImage(ImageSpec.newBuilder().setImage(image)).build());
        return r.hasImage() ? Optional.of(r.getImage()) : Optional.empty();
    }

    /** Pulls {@code image} for a pod; returns the image's reference in the runtime (its id). */
    public String pullImage(String image, PodSandboxConfig sandboxConfig) {
        return pullImage(image, sandboxConfig, null);
    }

    /** Pulls {@code image} for a pod with registry credentials {@code auth} (null: none). */
    public String pullImage(String image, PodSandboxConfig sandboxConfig, dev.berth.cri.v1.AuthConfig auth) {
        PullImageRequest.Builder r = PullImageRequest.newBuilder().setImage(ImageSpec.newBuilder().setImage(image))
                .setSandboxConfig(sandboxConfig);
        if (auth != null) {
            r.setAuth(auth);
        }
        return images(pullTimeout).pullImage(r.build()).getImageRef();
    }

    /** The runtime's image and container filesystems (ImageFsInfo): where images live, for the node's imagefs signals. */
    public dev.berth.cri.v1.ImageFsInfoResponse imageFsInfo() {
        return images(requestTimeout).imageFsInfo(dev.berth.cri.v1.ImageFsInfoRequest.getDefaultInstance());
    }

    /** Every container of the runtime, in every sandbox (the PLEG's relist). */
    public List<dev.berth.cri.v1.Container> listAllContainers() {
        return runtime().listContainers(ListContainersRequest.getDefaultInstance()).getContainersList();
    }

    /**
     * Subscribes to the runtime's container events (GetContainerEvents, a server stream without
     * a deadline): {@code observer} receives each event until the stream ends or breaks (a
     * runtime without the stream answers UNIMPLEMENTED). Closing the returned handle cancels
     * the subscription; the observer then sees CANCELLED.
     */
    public AutoCloseable containerEvents(StreamObserver<dev.berth.cri.v1.ContainerEventResponse> observer) {
        io.grpc.Context.CancellableContext context = io.grpc.Context.current().withCancellation();
        context.run(() -> RuntimeServiceGrpc.newStub(channel).getContainerEvents(dev.berth.cri.v1.GetEventsRequest.getDefaultInstance(),
                observer));
        return () -> context.cancel(null);
    }

    /**
     * The runtime's streaming URL of a command in container {@code id} (CRI Exec): the agent's
     * HTTP API proxies the client's upgraded connection to it.
     */
    public String exec(String id, List<String> command, boolean tty, boolean stdin, boolean stdout, boolean stderr) {
        return runtime().exec(dev.berth.cri.v1.ExecRequest.newBuilder().setContainerId(id).addAllCmd(command).setTty(tty)
                .setStdin(stdin).setStdout(stdout).setStderr(stderr).build()).getUrl();
    }

    /** The runtime's streaming URL of an attach to container {@code id}'s main process (CRI Attach). */
    public String attach(String id, boolean tty, boolean stdin, boolean stdout, boolean stderr) {
        return runtime().attach(dev.berth.cri.v1.AttachRequest.newBuilder().setContainerId(id).setTty(tty).setStdin(stdin)
                .setStdout(stdout).setStderr(stderr).build()).getUrl();
    }

    /** The runtime's streaming URL of a port forward into sandbox {@code sandboxId} (CRI PortForward; no ports: any). */
    public String portForward(String sandboxId, List<Integer> ports) {
        return runtime().portForward(dev.berth.cri.v1.PortForwardRequest.newBuilder().setPodSandboxId(sandboxId).addAllPort(ports)
                .build()).getUrl();
    }

    // ---------------------------------------------------------------- the HTTP API's content: stats and logs

    /** The containers of the runtime whose labels include all of {@code labels}, in every sandbox and every state. */
    public List<dev.berth.cri.v1.Container> listContainers(Map<String, String> labels) {
        return runtime().listContainers(ListContainersRequest.newBuilder()
                .setFilter(ContainerFilter.newBuilder().putAllLabelSelector(labels)).build()).getContainersList();
    }

    /** Every container's resource usage (ListContainerStats without a filter). */
    public List<dev.berth.cri.v1.ContainerStats> listContainerStats() {
        return runtime().listContainerStats(dev.berth.cri.v1.ListContainerStatsRequest.getDefaultInstance()).getStatsList();
    }

    /** Every sandbox's resource usage (ListPodSandboxStats without a filter); a runtime without it answers UNIMPLEMENTED. */
    public List<dev.berth.cri.v1.PodSandboxStats> listPodSandboxStats() {
        return runtime().listPodSandboxStats(dev.berth.cri.v1.ListPodSandboxStatsRequest.getDefaultInstance()).getStatsList();
    }

    /** Every image the runtime has (ListImages), for image garbage collection. */
    public List<Image> listImages() {
        return images(requestTimeout).listImages(dev.berth.cri.v1.ListImagesRequest.getDefaultInstance()).getImagesList();
    }

    /** Removes the image {@code image} (its id, or a reference) from the runtime; removing one that is gone succeeds. */
    public void removeImage(String image) {
        images(requestTimeout).removeImage(dev.berth.cri.v1.RemoveImageRequest.newBuilder()
                .setImage(ImageSpec.newBuilder().setImage(image)).build());
    }

    /**
     * Runs {@code cmd} in container {@code id} and waits for its end (ExecSync). The runtime
     * kills it after {@code timeout} (rounded up to whole seconds; zero: no limit) and answers
     * DEADLINE_EXCEEDED; the call's own deadline is the timeout plus the request timeout, as the
     * kubelet leaves the runtime time to clean up (none when the timeout is zero).
     */
    public dev.berth.cri.v1.ExecSyncResponse execSync(String id, List<String> cmd, Duration timeout) {
        long seconds = timeout.isZero() || timeout.isNegative() ? 0 : (timeout.toMillis() + 999) / 1000;
        RuntimeServiceGrpc.RuntimeServiceBlockingStub stub = RuntimeServiceGrpc.newBlockingStub(channel);
        if (seconds > 0) {
            stub = stub.withDeadlineAfter(requestTimeout.plusSeconds(seconds).toMillis(), TimeUnit.MILLISECONDS);
        }
        return stub.execSync(dev.berth.cri.v1.ExecSyncRequest.newBuilder().setContainerId(id).addAllCmd(cmd).setTimeout(seconds).build());
    }

    /** The id of the sandbox container {@code id} belongs to, if the runtime has the container. */
    public Optional<String> sandboxOf(String containerId) {
        List<dev.berth.cri.v1.Container> found = runtime().listContainers(ListContainersRequest.newBuilder()
                .setFilter(ContainerFilter.newBuilder().setId(containerId)).build()).getContainersList();
        return found.isEmpty() ? Optional.empty() : Optional.of(found.get(0).getPodSandboxId());
    }
}
