package dev.berth.criserver.cri;

import dev.berth.criserver.grpc.CriRegistry;
import dev.berth.common.BerthException;
import dev.berth.cri.v1.Container;
import dev.berth.cri.v1.ContainerFilter;
import dev.berth.cri.v1.ContainerStatusRequest;
import dev.berth.cri.v1.ContainerStatusResponse;
import dev.berth.cri.v1.CreateContainerRequest;
import dev.berth.cri.v1.CreateContainerResponse;
import dev.berth.cri.v1.ExecSyncRequest;
import dev.berth.cri.v1.ExecSyncResponse;
import dev.berth.cri.v1.ListContainersRequest;
import dev.berth.cri.v1.ListContainersResponse;
import dev.berth.cri.v1.NamespaceMode;
import dev.berth.cri.v1.ReopenContainerLogRequest;
import dev.berth.cri.v1.ReopenContainerLogResponse;
import dev.berth.cri.v1.RemoveContainerRequest;
import dev.berth.cri.v1.RemoveContainerResponse;
import dev.berth.cri.v1.RuntimeServiceGrpc;
import dev.berth.cri.v1.StartContainerRequest;
import dev.berth.cri.v1.StartContainerResponse;
import dev.berth.cri.v1.StopContainerRequest;
import dev.berth.cri.v1.StopContainerResponse;
import dev.berth.cri.v1.StreamContainersRequest;
import dev.berth.cri.v1.StreamContainersResponse;
import dev.berth.cri.v1.UpdateContainerResourcesRequest;
import dev.berth.cri.v1.UpdateContainerResourcesResponse;
import dev.berth.podsandbox.container.ContainerRecord;
import dev.berth.podsandbox.container.ContainerService;
import dev.berth.podsandbox.container.ExecResult;
import dev.berth.podsandbox.container.NewContainer;
import dev.berth.podsandbox.sandbox.SandboxConfig;
import com.google.protobuf.ByteString;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.List;

/**
 * CreateContainer, StartContainer, StopContainer, RemoveContainer, ListContainers,
 * StreamContainers, ContainerStatus, UpdateContainerResources, ReopenContainerLog and
 * ExecSync: CRI messages translated ({@link ContainerTranslation}) to and from the
 * {@link ContainerService}.
 */
public final class ContainerRpcs implements CriRegistry.Feature {
    private static final int STREAM_BATCH = 100;

    private final ContainerService containers;

    public ContainerRpcs(ContainerService containers) {
        this.containers = containers;
    }

    @Override
    public void register(CriRegistry registry) {
        registry.unary(RuntimeServiceGrpc.getCreateContainerMethod(), this::create);
        registry.unary(RuntimeServiceGrpc.getStartContainerMethod(), (StartContainerRequest r) -> {
            containers.start(requireId(r.getContainerId()));
            return StartContainerResponse.getDefaultInstance();
        });
        registry.unary(RuntimeServiceGrpc.getStopContainerMethod(), (StopContainerRequest r) -> {
            containers.stop(requireId(r.getContainerId()), r.getTimeout());
            return StopContainerResponse.getDefaultInstance();
        });
        registry.unary(RuntimeServiceGrpc.getRemoveContainerMethod(), (RemoveContainerRequest r) -> {
            containers.remove(requireId(r.getContainerId()));
            return RemoveContainerResponse.getDefaultInstance();
        });
        registry.unary(RuntimeServiceGrpc.getListContainersMethod(), (ListContainersRequest r) -> ListContainersResponse.newBuilder()
                .addAllContainers(list(r.hasFilter() ? r.getFilter() : null)).build());
        registry.serverStreaming(RuntimeServiceGrpc.getStreamContainersMethod(), this::stream);
        registry.unary(RuntimeServiceGrpc.getContainerStatusMethod(), this::status);
        registry.unary(RuntimeServiceGrpc.getUpdateContainerResourcesMethod(), (UpdateContainerResourcesRequest r) -> {
            if (!r.hasLinux()) {
                throw BerthException.invalidArgument("UpdateContainerResources needs linux resources");
            }
            containers.updateResources(requireId(r.getContainerId()), ContainerTranslation.resources(r.getLinux()));
            return UpdateContainerResourcesResponse.getDefaultInstance();
        });
        registry.unary(RuntimeServiceGrpc.getReopenContainerLogMethod(), (ReopenContainerLogRequest r) -> {
            containers.reopenLog(requireId(r.getContainerId()));
            return ReopenContainerLogResponse.getDefaultInstance();
        });
        registry.unary(RuntimeServiceGrpc.getExecSyncMethod(), this::execSync);
    }

    // ---------------------------------------------------------------- create

    private CreateContainerResponse create(CreateContainerRequest request) {
        if (!request.hasConfig()) {
            throw BerthException.invalidArgument("CreateContainer needs a config");
        }
        String sandboxId = request.getPodSandboxId();
        if (sandboxId.isEmpty()) {
            throw BerthException.invalidArgument("CreateContainer needs a pod sandbox id");
        }
        dev.berth.cri.v1.ContainerConfig config = request.getConfig();
        var security = config.getLinux().getSecurityContext();
        ContainerRecord rec = containers.create(new NewContainer(sandboxId, config.getImage().getImage(),
                config.getLogPath(), security.hasNamespaceOptions() ? pidMode(security.getNamespaceOptions().getPid()) : null,
                security.getNamespaceOptions().getTargetId(), logPath -> ContainerTranslation.config(config, logPath),
                security.getNamespaceOptions().hasUsernsOptions() ? SandboxRpcs.userNamespace(security.getNamespaceOptions()) : null));
        return CreateContainerResponse.newBuilder().setContainerId(rec.id()).build();
    }

    /** The PID namespace a container asks for; a mode this berth does not know is the container's own. */
    private static SandboxConfig.NamespaceMode pidMode(NamespaceMode m) {
        return switch (m) {
            case POD -> SandboxConfig.NamespaceMode.POD;
            case NODE -> SandboxConfig.NamespaceMode.NODE;
            case TARGET -> SandboxConfig.NamespaceMode.TARGET;
            default -> SandboxConfig.NamespaceMode.CONTAINER;
        };
    }

    // ---------------------------------------------------------------- status and lists

    private ContainerStatusResponse status(ContainerStatusRequest request) {
        String id = requireId(request.getContainerId());
        ContainerStatusResponse.Builder b = ContainerStatusResponse.newBuilder()
                .setStatus(ContainerTranslation.status(containers.status(id)));
        if (request.getVerbose()) {
            b.putInfo("info", containers.verboseInfo(id));
        }
        return b.build();
    }

    private List<Container> list(ContainerFilter filter) {
        dev.berth.podsandbox.container.ContainerFilter f = filter == null ? dev.berth.podsandbox.container.ContainerFilter.all()
                : new dev.berth.podsandbox.container.ContainerFilter(filter.getId(),
                        filter.hasState() ? ContainerTranslation.state(filter.getState().getState()) : null,
                        filter.getPodSandboxId(), filter.getLabelSelectorMap());
        return containers.list(f).stream().map(ContainerTranslation::container).toList();
    }

    private void stream(StreamContainersRequest request, StreamObserver<StreamContainersResponse> out) {
        List<Container> all = list(request.hasFilter() ? request.getFilter() : null);
        for (int i = 0; i < all.size(); i += STREAM_BATCH) {
            out.onNext(StreamContainersResponse.newBuilder().addAllContainers(all.subList(i, Math.min(all.size(), i + STREAM_BATCH))).build());
        }
        out.onCompleted();
    }

    // ---------------------------------------------------------------- exec

    private ExecSyncResponse execSync(ExecSyncRequest request) {
        if (request.getTimeout() < 0) {
            throw BerthException.invalidArgument("ExecSync timeout must not be negative");
        }
        ExecResult r = containers.execSync(requireId(request.getContainerId()), request.getCmdList(),
                Duration.ofSeconds(request.getTimeout()));
        return ExecSyncResponse.newBuilder().setExitCode(r.exitCode())
                .setStdout(ByteString.copyFrom(r.stdout())).setStderr(ByteString.copyFrom(r.stderr())).build();
    }

    // ---------------------------------------------------------------- helpers

    private static String requireId(String id) {
        if (id == null || id.isEmpty()) {
            throw BerthException.invalidArgument("a container id is required");
        }
        return id;
    }
}
