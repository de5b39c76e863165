package dev.berth.criserver.cri;

import dev.berth.criserver.grpc.CriRegistry;
import dev.berth.common.BerthException;
import dev.berth.common.Json;
import dev.berth.cri.v1.DNSConfig;
import dev.berth.cri.v1.LinuxPodSandboxConfig;
import dev.berth.cri.v1.LinuxPodSandboxStatus;
import dev.berth.cri.v1.ListPodSandboxRequest;
import dev.berth.cri.v1.ListPodSandboxResponse;
import dev.berth.cri.v1.Namespace;
import dev.berth.cri.v1.NamespaceMode;
import dev.berth.cri.v1.NamespaceOption;
import dev.berth.cri.v1.IDMapping;
import dev.berth.cri.v1.UserNamespace;
import dev.berth.cri.v1.PodIP;
import dev.berth.cri.v1.PodSandbox;
import dev.berth.cri.v1.PodSandboxConfig;
import dev.berth.cri.v1.PodSandboxFilter;
import dev.berth.cri.v1.PodSandboxMetadata;
import dev.berth.cri.v1.PodSandboxNetworkStatus;
import dev.berth.cri.v1.PodSandboxState;
import dev.berth.cri.v1.PodSandboxStatusRequest;
import dev.berth.cri.v1.PodSandboxStatusResponse;
import dev.berth.cri.v1.PortMapping;
import dev.berth.cri.v1.RemovePodSandboxRequest;
import dev.berth.cri.v1.RemovePodSandboxResponse;
import dev.berth.cri.v1.RunPodSandboxRequest;
import dev.berth.cri.v1.RunPodSandboxResponse;
import dev.berth.cri.v1.RuntimeServiceGrpc;
import dev.berth.cri.v1.StopPodSandboxRequest;
import dev.berth.cri.v1.StopPodSandboxResponse;
import dev.berth.cri.v1.StreamPodSandboxesRequest;
import dev.berth.cri.v1.StreamPodSandboxesResponse;
import dev.berth.cri.v1.UpdatePodSandboxResourcesRequest;
import dev.berth.cri.v1.UpdatePodSandboxResourcesResponse;
import dev.berth.networking.PodNetwork;
import dev.berth.podsandbox.container.spec.ContainerConfig;
import dev.berth.podsandbox.sandbox.SandboxConfig;
import dev.berth.podsandbox.sandbox.SandboxFilter;
import dev.berth.podsandbox.sandbox.SandboxService;
import dev.berth.podsandbox.sandbox.SandboxState;
import dev.berth.podsandbox.sandbox.SandboxStatus;
import io.grpc.stub.StreamObserver;
import java.time.Instant;
import java.util.List;
import java.util.Map;

/**
 * RunPodSandbox, StopPodSandbox, RemovePodSandbox, PodSandboxStatus, ListPodSandbox and
 * StreamPodSandboxes: CRI messages translated to and from {@link SandboxService}'s own types.
 */
public final class SandboxRpcs implements CriRegistry.Feature {
    /** Annotation that sets the size of a pod's /dev/shm in bytes (default 64 MiB). */
    public static final String SHM_SIZE_ANNOTATION = "dev.berth.shm-size";
    private static final int STREAM_BATCH = 100;

    private final SandboxService sandboxes;
    private final PodEvents events;

    public SandboxRpcs(SandboxService sandboxes, PodEvents events) {
        this.sandboxes = sandboxes;
        this.events = events;
    }

    @Override
    public void register(CriRegistry registry) {
        registry.unary(RuntimeServiceGrpc.getRunPodSandboxMethod(), this::run);
        registry.unary(RuntimeServiceGrpc.getStopPodSandboxMethod(), (StopPodSandboxRequest r) -> {
            SandboxStatus before = find(r.getPodSandboxId());
            sandboxes.stop(r.getPodSandboxId());
            if (before != null && before.state() == SandboxState.READY) {
                events.sandboxStopped(before.id());
            }
            return StopPodSandboxResponse.getDefaultInstance();
        });
        registry.unary(RuntimeServiceGrpc.getRemovePodSandboxMethod(), (RemovePodSandboxRequest r) -> {
            SandboxStatus before = find(r.getPodSandboxId());
            Runnable removed = before == null ? () -> { } : events.sandboxRemoval(before.id());
            sandboxes.remove(r.getPodSandboxId());
            removed.run();
            return RemovePodSandboxResponse.getDefaultInstance();
        });
        registry.unary(RuntimeServiceGrpc.getPodSandboxStatusMethod(), this::status);
        registry.unary(RuntimeServiceGrpc.getListPodSandboxMethod(), (ListPodSandboxRequest r) -> ListPodSandboxResponse.newBuilder()
                .addAllItems(list(r.hasFilter() ? r.getFilter() : null)).build());
        registry.serverStreaming(RuntimeServiceGrpc.getStreamPodSandboxesMethod(), this::stream);
        registry.unary(RuntimeServiceGrpc.getUpdatePodSandboxResourcesMethod(), (UpdatePodSandboxResourcesRequest r) -> {
            sandboxes.updateResources(r.getPodSandboxId(), r.hasResources() ? ContainerTranslation.resources(r.getResources()) : null,
                    r.hasOverhead() ? ContainerTranslation.resources(r.getOverhead()) : null);
            return UpdatePodSandboxResourcesResponse.getDefaultInstance();
        });
    }

    private RunPodSandboxResponse run(RunPodSandboxRequest request) {
        if (!request.hasConfig()) {
            throw BerthException.invalidArgument("RunPodSandbox needs a config");
        }
        String id = sandboxes.run(toConfig(request.getConfig(), request.getRuntimeHandler()));
        events.sandboxCreatedAndStarted(id);
        return RunPodSandboxResponse.newBuilder().setPodSandboxId(id).build();
    }

    /** The sandbox, or null when there is none by that id (stop and remove are idempotent). */
    private SandboxStatus find(String id) {
        if (id == null || id.isEmpty()) {
            return null;
        }
        try {
            return sandboxes.status(id, false);
        } catch (BerthException e) {
            if (e.kind() == BerthException.Kind.NOT_FOUND) {
                return null;
            }
            throw e;
        }
    }

    private PodSandboxStatusResponse status(PodSandboxStatusRequest request) {
        SandboxStatus s = sandboxes.status(request.getPodSandboxId(), request.getVerbose());
        PodSandboxStatusResponse.Builder b = PodSandboxStatusResponse.newBuilder()
                .setStatus(podSandboxStatus(s))
                .setTimestamp(nowNanos());
        if (request.getVerbose()) {
            b.putInfo("info", Json.write(s.info()));
        }
        return b.build();
    }

    /** The CRI status of one sandbox (also what container events carry). */
    static dev.berth.cri.v1.PodSandboxStatus podSandboxStatus(SandboxStatus s) {
        return dev.berth.cri.v1.PodSandboxStatus.newBuilder()
                        .setId(s.id())
                        .setMetadata(metadata(s))
                        .setState(state(s.state()))
                        .setCreatedAt(s.createdAtNanos())
                        .setNetwork(network(s.ips()))
                        .setLinux(LinuxPodSandboxStatus.newBuilder().setNamespaces(Namespace.newBuilder()
                                .setOptions(NamespaceOption.newBuilder()
                                        .setNetwork(mode(s.namespaces().network()))
                                        .setPid(mode(s.namespaces().pid()))
                                        .setIpc(mode(s.namespaces().ipc()))
                                        .setTargetId(s.namespaces().targetId())
                                        .setUsernsOptions(usernsOptions(s.namespaces().user())))))
                        .putAllLabels(s.labels())
                        .putAllAnnotations(s.annotations())
                        .setRuntimeHandler(s.runtimeHandler())
                        .build();
    }

    private List<PodSandbox> list(PodSandboxFilter filter) {
        SandboxFilter f = filter == null ? SandboxFilter.ALL : new SandboxFilter(filter.getId(),
                filter.hasState() ? (filter.getState().getState() == PodSandboxState.SANDBOX_READY ? SandboxState.READY : SandboxState.NOTREADY) : null,
                filter.getLabelSelectorMap());
        return sandboxes.list(f).stream().map(s -> PodSandbox.newBuilder()
                .setId(s.id())
                .setMetadata(metadata(s))
                .setState(state(s.state()))
                .setCreatedAt(s.createdAtNanos())
                .putAllLabels(s.labels())
                .putAllAnnotations(s.annotations())
                .setRuntimeHandler(s.runtimeHandler())
                .build()).toList();
    }

    private void stream(StreamPodSandboxesRequest request, StreamObserver<StreamPodSandboxesResponse> out) {
        List<PodSandbox> all = list(request.hasFilter() ? request.getFilter() : null);
        for (int i = 0; i < all.size(); i += STREAM_BATCH) {
            out.onNext(StreamPodSandboxesResponse.newBuilder().addAllPodSandboxes(all.subList(i, Math.min(all.size(), i + STREAM_BATCH))).build());
        }
        out.onCompleted();
    }

    // ---------------------------------------------------------------- CRI -> berth

    static SandboxConfig toConfig(PodSandboxConfig c, String runtimeHandler) {
        if (!c.hasMetadata()) {
            throw BerthException.invalidArgument("the sandbox config needs metadata (name, namespace, uid)");
        }
        PodSandboxMetadata md = c.getMetadata();
        LinuxPodSandboxConfig linux = c.getLinux();
        NamespaceOption nso = linux.getSecurityContext().getNamespaceOptions();
        SandboxConfig.UserNamespace userns = userNamespace(nso);
        DNSConfig dns = c.getDnsConfig();
        return new SandboxConfig(
                new SandboxConfig.Metadata(md.getName(), md.getUid(), md.getNamespace(), md.getAttempt()),
                c.getHostname(),
                c.getLogDirectory(),
                new SandboxConfig.Dns(dns.getServersList(), dns.getSearchesList(), dns.getOptionsList()),
                c.getPortMappingsList().stream().map(SandboxRpcs::portMapping).toList(),
                c.getLabelsMap(),
                c.getAnnotationsMap(),
                linux.getCgroupParent(),
                linux.getSysctlsMap(),
                new SandboxConfig.NamespaceOptions(mode(nso.getNetwork()), mode(nso.getPid()), mode(nso.getIpc()), nso.getTargetId(),
                        userns),
                linux.hasResources() ? ContainerTranslation.resources(linux.getResources()) : null,
                linux.hasOverhead() ? ContainerTranslation.resources(linux.getOverhead()) : null,
                shmSize(c.getAnnotationsMap()),
                runtimeHandler);
    }

    /**
     * The pod's user namespace from {@code userns_options}: none (mode NODE, or no options) or
     * one of the pod's own (mode POD) with exactly one uid and one gid mapping, each mapping
     * container id 0 to a host id other than 0 (root in the pod must not be root on the host)
     * within 32 bits. CONTAINER and TARGET are not supported: every container of a pod shares
     * the pod's user namespace, which its network, IPC and UTS namespaces belong to.
     *
     * @throws BerthException INVALID_ARGUMENT for anything else
     */
    static SandboxConfig.UserNamespace userNamespace(NamespaceOption nso) {
        if (!nso.hasUsernsOptions()) {
            return SandboxConfig.UserNamespace.NODE;
        }
        UserNamespace u = nso.getUsernsOptions();
        switch (u.getMode()) {
            case NODE -> {
                if (u.getUidsCount() > 0 || u.getGidsCount() > 0) {
                    throw BerthException.invalidArgument("user namespace mode NODE takes no uid or gid mappings");
                }
                return SandboxConfig.UserNamespace.NODE;
            }
            case POD -> {
                return new SandboxConfig.UserNamespace(SandboxConfig.NamespaceMode.POD,
                        List.of(idMapping("uid", u.getUidsList())), List.of(idMapping("gid", u.getGidsList())));
            }
            case CONTAINER, TARGET -> throw BerthException.invalidArgument(
                    "user namespace mode %s is not supported (use NODE or POD)", u.getMode());
            default -> throw BerthException.invalidArgument("unknown user namespace mode %s", u.getModeValue());
        }
    }

    /** The one mapping of a pod's uid (or gid) map, checked as {@link #userNamespace} says. */
    private static ContainerConfig.IdMapping idMapping(String kind, List<IDMapping> mappings) {
        if (mappings.size() != 1) {
            throw BerthException.invalidArgument("a pod's user namespace needs exactly one %s mapping, got %d",
                    kind, mappings.size());
        }
        IDMapping m = mappings.get(0);
        long container = Integer.toUnsignedLong(m.getContainerId());
        long host = Integer.toUnsignedLong(m.getHostId());
        long length = Integer.toUnsignedLong(m.getLength());
        if (container != 0) {
            throw BerthException.invalidArgument("the %s mapping of a pod's user namespace must map container id 0, it starts at %d",
                    kind, container);
        }
        if (length == 0) {
            throw BerthException.invalidArgument("the %s mapping of a pod's user namespace has length 0", kind);
        }
        if (host == 0) {
            throw BerthException.invalidArgument("the %s mapping of a pod's user namespace maps container id 0 to host id 0: "
                    + "root in the pod would be root on the host", kind);
        }
        if (host + length > 0x1_0000_0000L) {
            throw BerthException.invalidArgument("the %s mapping %d:%d:%d of a pod's user namespace goes beyond 32 bits",
                    kind, container, host, length);
        }
        return new ContainerConfig.IdMapping(container, host, length);
    }

    private static PodNetwork.PortMapping portMapping(PortMapping p) {
        String protocol = switch (p.getProtocol()) {
            case TCP -> "tcp";
            case UDP -> "udp";
            case SCTP -> "sctp";
            default -> throw BerthException.invalidArgument("unknown port mapping protocol %s", p.getProtocolValue());
        };
        if (p.getContainerPort() <= 0 || p.getContainerPort() > 65535 || p.getHostPort() < 0 || p.getHostPort() > 65535) {
            throw BerthException.invalidArgument("invalid port mapping %d -> %d", p.getHostPort(), p.getContainerPort());
        }
        return new PodNetwork.PortMapping(protocol, p.getContainerPort(), p.getHostPort(), p.getHostIp());
    }

    private static long shmSize(Map<String, String> annotations) {
        String v = annotations.get(SHM_SIZE_ANNOTATION);
        if (v == null) {
            return SandboxConfig.DEFAULT_SHM_SIZE;
        }
        try {
            long size = Long.parseLong(v.strip());
            if (size <= 0) {
                throw new NumberFormatException();
            }
            return size;
        } catch (NumberFormatException e) {
            throw BerthException.invalidArgument("annotation %s must be a positive number of bytes, got \"%s\"", SHM_SIZE_ANNOTATION, v);
        }
    }

    private static SandboxConfig.NamespaceMode mode(NamespaceMode m) {
        return switch (m) {
            case POD -> SandboxConfig.NamespaceMode.POD;
            case CONTAINER -> SandboxConfig.NamespaceMode.CONTAINER;
            case NODE -> SandboxConfig.NamespaceMode.NODE;
            case TARGET -> SandboxConfig.NamespaceMode.TARGET;
            default -> throw BerthException.invalidArgument("unknown namespace mode %s", m);
        };
    }

    // ---------------------------------------------------------------- berth -> CRI

    private static NamespaceMode mode(SandboxConfig.NamespaceMode m) {
        return switch (m) {
            case POD -> NamespaceMode.POD;
            case CONTAINER -> NamespaceMode.CONTAINER;
            case NODE -> NamespaceMode.NODE;
            case TARGET -> NamespaceMode.TARGET;
        };
    }

    /** The pod's user namespace as PodSandboxStatus reports it (as containerd does): mode and mappings. */
    static UserNamespace usernsOptions(SandboxConfig.UserNamespace u) {
        UserNamespace.Builder b = UserNamespace.newBuilder().setMode(mode(u.mode()));
        u.uids().forEach(m -> b.addUids(idMapping(m)));
        u.gids().forEach(m -> b.addGids(idMapping(m)));
        return b.build();
    }

    private static IDMapping idMapping(ContainerConfig.IdMapping m) {
        return IDMapping.newBuilder().setContainerId((int) m.containerId()).setHostId((int) m.hostId())
                .setLength((int) m.length()).build();
    }

    private static PodSandboxMetadata metadata(SandboxStatus s) {
        return PodSandboxMetadata.newBuilder().setName(s.metadata().name()).setUid(s.metadata().uid())
                .setNamespace(s.metadata().namespace()).setAttempt(s.metadata().attempt()).build();
    }

    private static PodSandboxState state(SandboxState s) {
        return s == SandboxState.READY ? PodSandboxState.SANDBOX_READY : PodSandboxState.SANDBOX_NOTREADY;
    }

    private static PodSandboxNetworkStatus network(List<String> ips) {
        PodSandboxNetworkStatus.Builder b = PodSandboxNetworkStatus.newBuilder();
        if (!ips.isEmpty()) {
            b.setIp(ips.get(0));
            ips.stream().skip(1).forEach(ip -> b.addAdditionalIps(PodIP.newBuilder().setIp(ip)));
        }
        return b.build();
    }

    private static long nowNanos() {
        Instant now = Instant.now();
        return now.getEpochSecond() * 1_000_000_000L + now.getNano();
    }
}
