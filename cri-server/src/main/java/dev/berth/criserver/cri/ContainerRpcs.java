package dev.berth.criserver.cri;

import com.fasterxml.jackson.databind.JsonNode;
import dev.berth.criserver.grpc.CriRegistry;
import dev.berth.cgroups.Cgroups;
import dev.berth.common.BerthException;
import dev.berth.common.Json;
import dev.berth.cri.v1.Container;
import dev.berth.cri.v1.ContainerFilter;
import dev.berth.cri.v1.ContainerMetadata;
import dev.berth.cri.v1.ContainerResources;
import dev.berth.cri.v1.ContainerStatusRequest;
import dev.berth.cri.v1.ContainerStatusResponse;
import dev.berth.cri.v1.ContainerUser;
import dev.berth.cri.v1.CreateContainerRequest;
import dev.berth.cri.v1.CreateContainerResponse;
import dev.berth.cri.v1.ExecSyncRequest;
import dev.berth.cri.v1.ExecSyncResponse;
import dev.berth.cri.v1.ImageSpec;
import dev.berth.cri.v1.LinuxContainerUser;
import dev.berth.cri.v1.ListContainersRequest;
import dev.berth.cri.v1.ListContainersResponse;
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
import dev.berth.images.ImageService;
import dev.berth.images.store.ImageRecord;
import dev.berth.podsandbox.container.ContainerRecord;
import dev.berth.podsandbox.container.ContainerState;
import dev.berth.podsandbox.container.ExecResult;
import dev.berth.podsandbox.container.spec.ContainerConfig;
import dev.berth.podsandbox.container.spec.ImageConfig;
import dev.berth.podsandbox.container.spec.SandboxContext;
import dev.berth.podsandbox.namespaces.PodNamespaces;
import dev.berth.podsandbox.sandbox.SandboxConfig;
import dev.berth.podsandbox.sandbox.SandboxService;
import dev.berth.podsandbox.sandbox.SandboxState;
import dev.berth.podsandbox.sandbox.SandboxStatus;
import com.google.protobuf.ByteString;
import io.grpc.stub.StreamObserver;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * CreateContainer, StartContainer, StopContainer, RemoveContainer, ListContainers,
 * StreamContainers, ContainerStatus, UpdateContainerResources, ReopenContainerLog and
 * ExecSync: CRI messages translated ({@link ContainerTranslation}) to the container engine,
 * the pod's sandbox and the image store.
 */
public final class ContainerRpcs implements CriRegistry.Feature {
    private static final int STREAM_BATCH = 100;

    private final Containers containers;
    private final SandboxService sandboxes;
    private final ImageService images;
    private final Cgroups cgroups;
    private final PodEvents events;

    public ContainerRpcs(Containers containers, SandboxService sandboxes, ImageService images, Cgroups cgroups, PodEvents events) {
        this.containers = containers;
        this.sandboxes = sandboxes;
        this.images = images;
        this.cgroups = cgroups;
        this.events = events;
        events.containerStatuses(this::containerStatus);
    }

    @Override
    public void register(CriRegistry registry) {
        registry.unary(RuntimeServiceGrpc.getCreateContainerMethod(), this::create);
        registry.unary(RuntimeServiceGrpc.getStartContainerMethod(), (StartContainerRequest r) -> {
            String id = requireId(r.getContainerId());
            containers.manager().start(id);
            events.containerStarted(id);
            return StartContainerResponse.getDefaultInstance();
        });
        registry.unary(RuntimeServiceGrpc.getStopContainerMethod(), (StopContainerRequest r) -> {
            String id = requireId(r.getContainerId());
            if (containers.manager().find(id).isPresent()) {
                containers.manager().stop(id, Math.max(0, r.getTimeout()));
            }
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
            containers.manager().updateResources(requireId(r.getContainerId()), ContainerTranslation.resources(r.getLinux()));
            return UpdateContainerResourcesResponse.getDefaultInstance();
        });
        registry.unary(RuntimeServiceGrpc.getReopenContainerLogMethod(), (ReopenContainerLogRequest r) -> {
            containers.manager().reopenLog(requireId(r.getContainerId()));
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
        SandboxStatus sandbox = sandboxes.status(sandboxId, true);
        if (sandbox.state() != SandboxState.READY) {
            throw BerthException.failedPrecondition("pod sandbox %s is not ready", sandbox.id());
        }
        String imageName = request.getConfig().getImage().getImage();
        if (imageName.isEmpty()) {
            throw BerthException.invalidArgument("CreateContainer needs an image");
        }
        ImageRecord image = images.require(imageName);
        Map<String, Object> info = sandbox.info();
        SandboxConfig sandboxConfig = (SandboxConfig) info.get("config");
        String logPath = logPath(sandboxConfig.logDirectory(), request.getConfig().getLogPath());
        ContainerConfig config = ContainerTranslation.config(request.getConfig(), logPath);
        Function<String, SandboxContext> context = sandboxContext(sandbox, request.getConfig());
        ContainerRecord rec = containers.create(image.id(), imageConfig(images.config(image)), config, context,
                sandbox.runtimeHandler());
        // a StopPodSandbox or RemovePodSandbox that ran meanwhile did not see this container
        if (!stillReady(sandbox.id())) {
            containers.remove(rec.id());
            throw BerthException.failedPrecondition("pod sandbox %s was stopped while the container was created", sandbox.id());
        }
        events.containerCreated(rec.id(), sandbox.id());
        return CreateContainerResponse.newBuilder().setContainerId(rec.id()).build();
    }

    private boolean stillReady(String sandboxId) {
        try {
            return sandboxes.status(sandboxId, false).state() == SandboxState.READY;
        } catch (BerthException e) {
            if (e.kind() == BerthException.Kind.NOT_FOUND) {
                return false;
            }
            throw e;
        }
    }

    /** The container's log file: the sandbox's log directory joined with the container's log path. */
    static String logPath(String logDirectory, String logPath) {
        if (logPath.isEmpty()) {
            return "";
        }
        Path p = Path.of(logPath);
        if (!logDirectory.isEmpty()) {
            p = Path.of(logDirectory).resolve(logPath);
        }
        p = p.normalize();
        if (!p.isAbsolute()) {
            throw BerthException.invalidArgument("log path %s is not absolute and the sandbox has no log directory", logPath);
        }
        if (!logDirectory.isEmpty() && !p.startsWith(Path.of(logDirectory).normalize())) {
            throw BerthException.invalidArgument("log path %s leaves the sandbox's log directory", logPath);
        }
        return p.toString();
    }

    /**
     * The pod's namespaces (network, IPC and UTS by their pinned paths; the PID namespace as
     * the container's namespace options ask), its /dev/shm and /etc files, and the cgroup
     * under the pod's cgroup for a given container id.
     */
    private Function<String, SandboxContext> sandboxContext(SandboxStatus sandbox, dev.berth.cri.v1.ContainerConfig config) {
        Map<String, Object> info = sandbox.info();
        PodNamespaces ns = sandboxes.namespaces(sandbox.id());
        SandboxConfig.NamespaceOptions pod = sandbox.namespaces();
        SandboxContext.Namespace net = ns.net() != null ? SandboxContext.Namespace.join(ns.net().toString())
                : pod.hostNetwork() ? SandboxContext.Namespace.host() : SandboxContext.Namespace.ownNew();
        SandboxContext.Namespace ipc = ns.ipc() != null ? SandboxContext.Namespace.join(ns.ipc().toString())
                : pod.hostIpc() ? SandboxContext.Namespace.host() : SandboxContext.Namespace.ownNew();
        SandboxContext.Namespace uts = ns.uts() != null ? SandboxContext.Namespace.join(ns.uts().toString())
                : pod.hostNetwork() ? SandboxContext.Namespace.host() : SandboxContext.Namespace.ownNew();
        long infraPid = ((Number) info.getOrDefault("pid", 0L)).longValue();
        dev.berth.cri.v1.NamespaceMode pidMode = config.getLinux().getSecurityContext().hasNamespaceOptions()
                ? config.getLinux().getSecurityContext().getNamespaceOptions().getPid()
                : switch (pod.pid()) {
                    case POD -> dev.berth.cri.v1.NamespaceMode.POD;
                    case NODE -> dev.berth.cri.v1.NamespaceMode.NODE;
                    default -> dev.berth.cri.v1.NamespaceMode.CONTAINER;
                };
        SandboxContext.Namespace pid = switch (pidMode) {
            case POD -> infraPid > 0 ? SandboxContext.Namespace.join("/proc/" + infraPid + "/ns/pid")
                    : SandboxContext.Namespace.ownNew();
            case NODE -> SandboxContext.Namespace.host();
            case TARGET -> {
                String target = config.getLinux().getSecurityContext().getNamespaceOptions().getTargetId();
                ContainerRecord t = containers.manager().status(target);
                if (t.state() != ContainerState.RUNNING || t.pid() <= 0) {
                    throw BerthException.failedPrecondition("target container %s of the pid namespace is not running", target);
                }
                yield SandboxContext.Namespace.join("/proc/" + t.pid() + "/ns/pid");
            }
            default -> SandboxContext.Namespace.ownNew();
        };
        String shm = blankToNull((String) info.get("shmPath"));
        String hosts = blankToNull((String) info.get("hostsPath"));
        String resolv = blankToNull((String) info.get("resolvConfPath"));
        String hostnameFile = blankToNull((String) info.get("hostnamePath"));
        String hostname = (String) info.getOrDefault("hostname", "");
        String podCgroup = (String) info.getOrDefault("cgroupPath", "");
        String sandboxId = sandbox.id();
        return id -> new SandboxContext(sandboxId, net, ipc, uts, pid, shm, hosts, resolv, hostnameFile, hostname,
                podCgroup.isEmpty() ? "/berth-" + id : cgroups.containerPath(podCgroup, id), Map.of());
    }

    private static String blankToNull(String s) {
        return s == null || s.isEmpty() ? null : s;
    }

    /** The parts of an OCI image config (the stored JSON) a container is built from. */
    static ImageConfig imageConfig(JsonNode imageJson) {
        JsonNode c = imageJson.path("config");
        return new ImageConfig(strings(c.path("Entrypoint")), strings(c.path("Cmd")), strings(c.path("Env")),
                c.path("WorkingDir").asText(""), c.path("User").asText(""), c.path("StopSignal").asText(""));
    }

    private static List<String> strings(JsonNode n) {
        List<String> out = new ArrayList<>();
        if (n.isArray()) {
            n.forEach(v -> out.add(v.asText()));
        }
        return out;
    }

    // ---------------------------------------------------------------- status and lists

    private ContainerStatusResponse status(ContainerStatusRequest request) {
        String id = requireId(request.getContainerId());
        ContainerStatusResponse.Builder b = ContainerStatusResponse.newBuilder().setStatus(containerStatus(id));
        if (request.getVerbose()) {
            b.putInfo("info", containers.manager().verboseInfo(id));
        }
        return b.build();
    }

    /** The CRI status of one container (also what container events carry). */
    dev.berth.cri.v1.ContainerStatus containerStatus(String id) {
        ContainerRecord r = containers.manager().status(id);
        ContainerConfig c = r.config();
        dev.berth.cri.v1.ContainerStatus.Builder s = dev.berth.cri.v1.ContainerStatus.newBuilder()
                .setId(r.id())
                .setMetadata(ContainerMetadata.newBuilder().setName(r.name()).setAttempt(r.attempt()))
                .setState(state(r.state()))
                .setCreatedAt(r.createdAt())
                .setStartedAt(r.startedAt())
                .setFinishedAt(r.finishedAt())
                .setExitCode(r.exitCode())
                .setReason(r.reason())
                .setMessage(r.message())
                .putAllLabels(r.labels())
                .putAllAnnotations(r.annotations())
                .setLogPath(r.logPath())
                .setResources(ContainerResources.newBuilder().setLinux(ContainerTranslation.resources(c.resources())));
        ImageRefs refs = imageRefs(r.imageRef());
        s.setImage(ImageSpec.newBuilder().setImage(refs.image())).setImageRef(refs.ref()).setImageId(r.imageRef());
        c.mounts().forEach(m -> s.addMounts(ContainerTranslation.mount(m)));
        String spec = null;
        try {
            spec = containers.manager().runtimeSpec(id);
        } catch (BerthException e) {
            // the bundle is gone (e.g. the run root was wiped): no user to report
        }
        JsonNode specJson = null;
        try {
            specJson = spec == null ? null : Json.mapper().readTree(spec);
        } catch (java.io.IOException e) {
            // an unreadable spec: no user to report
        }
        if (specJson != null) {
            JsonNode user = specJson.path("process").path("user");
            LinuxContainerUser.Builder u = LinuxContainerUser.newBuilder().setUid(user.path("uid").asLong())
                    .setGid(user.path("gid").asLong());
            user.path("additionalGids").forEach(g -> u.addSupplementalGroups(g.asLong()));
            s.setUser(ContainerUser.newBuilder().setLinux(u));
        }
        return s.build();
    }

    private record ImageRefs(String image, String ref) {
    }

    /** The image as the kubelet shows it (a tag) and its reference (a repo digest), from the image id the record keeps. */
    private ImageRefs imageRefs(String imageId) {
        ImageRecord img = null;
        try {
            img = images.find(imageId).orElse(null);
        } catch (BerthException e) {
            // an id the store cannot parse: report it as it is
        }
        if (img == null) {
            return new ImageRefs(imageId, imageId);
        }
        String image = img.repoTags().isEmpty() ? imageId : img.repoTags().get(0);
        String ref = img.repoDigests().isEmpty() ? imageId : img.repoDigests().get(0);
        return new ImageRefs(image, ref);
    }

    private List<Container> list(ContainerFilter filter) {
        dev.berth.podsandbox.container.ContainerFilter f = filter == null ? dev.berth.podsandbox.container.ContainerFilter.all()
                : new dev.berth.podsandbox.container.ContainerFilter(filter.getId(),
                        filter.hasState() ? berthState(filter.getState().getState()) : null,
                        filter.getPodSandboxId(), filter.getLabelSelectorMap());
        return containers.manager().list(f).stream().map(r -> {
            ImageRefs refs = imageRefs(r.imageRef());
            return Container.newBuilder()
                    .setId(r.id())
                    .setPodSandboxId(r.sandboxId())
                    .setMetadata(ContainerMetadata.newBuilder().setName(r.name()).setAttempt(r.attempt()))
                    .setImage(ImageSpec.newBuilder().setImage(refs.image()))
                    .setImageRef(refs.ref())
                    .setImageId(r.imageRef())
                    .setState(state(r.state()))
                    .setCreatedAt(r.createdAt())
                    .putAllLabels(r.labels())
                    .putAllAnnotations(r.annotations())
                    .build();
        }).toList();
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
        ExecResult r = containers.manager().execSync(requireId(request.getContainerId()), request.getCmdList(),
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

    private static dev.berth.cri.v1.ContainerState state(ContainerState s) {
        return switch (s) {
            case CREATED -> dev.berth.cri.v1.ContainerState.CONTAINER_CREATED;
            case RUNNING -> dev.berth.cri.v1.ContainerState.CONTAINER_RUNNING;
            case EXITED -> dev.berth.cri.v1.ContainerState.CONTAINER_EXITED;
            case UNKNOWN -> dev.berth.cri.v1.ContainerState.CONTAINER_UNKNOWN;
        };
    }

    private static ContainerState berthState(dev.berth.cri.v1.ContainerState s) {
        return switch (s) {
            case CONTAINER_CREATED -> ContainerState.CREATED;
            case CONTAINER_RUNNING -> ContainerState.RUNNING;
            case CONTAINER_EXITED -> ContainerState.EXITED;
            case CONTAINER_UNKNOWN -> ContainerState.UNKNOWN;
            default -> throw BerthException.invalidArgument("unknown container state %s", s);
        };
    }
}
