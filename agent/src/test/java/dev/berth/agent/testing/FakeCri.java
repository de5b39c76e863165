package dev.berth.agent.testing;

import dev.berth.cri.v1.*;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;

/**
 * An in-memory CRI runtime behind an in-process gRPC server, for the agent's tests without
 * root: sandboxes and containers as records, images as a set of names, every call counted.
 * Containers whose command is {@code exit N} exit at once with N; all others run until stopped
 * (or {@link #exit}). GetContainerEvents streams an event (with the pod's sandbox status) for
 * every change, unless {@link #eventsUnimplemented} is set.
 */
public final class FakeCri implements AutoCloseable {
    public final Map<String, PodSandbox> sandboxes = new ConcurrentHashMap<>();
    public final Map<String, ContainerStatus> containers = new ConcurrentHashMap<>();
    public final Map<String, String> containerSandbox = new ConcurrentHashMap<>();
    public final Set<String> images = ConcurrentHashMap.newKeySet();
    public final Map<String, Integer> calls = new ConcurrentHashMap<>();
    /** Each container's args, joined: what decides how it runs. */
    public final Map<String, String> commands = new ConcurrentHashMap<>();
    /** Images whose pull fails (NOT_FOUND). */
    public final Set<String> failingPulls = ConcurrentHashMap.newKeySet();
    /** The credentials each successful PullImage carried (the default instance: none), in order. */
    public final List<dev.berth.cri.v1.AuthConfig> pullAuths = new java.util.concurrent.CopyOnWriteArrayList<>();
    /** GetContainerEvents answers UNIMPLEMENTED, as a runtime without the stream does. */
    public volatile boolean eventsUnimplemented;
    private final List<StreamObserver<ContainerEventResponse>> subscribers = new java.util.concurrent.CopyOnWriteArrayList<>();
    private final Server server;
    private final ManagedChannel channel;
    private long clock = 1;

    public FakeCri() throws IOException {
        String name = "fake-cri-" + UUID.randomUUID();
        server = InProcessServerBuilder.forName(name).directExecutor().addService(new Runtime()).addService(new Images()).build().start();
        channel = InProcessChannelBuilder.forName(name).directExecutor().build();
    }

    public ManagedChannel channel() {
        return channel;
    }

    public int calls(String method) {
        return calls.getOrDefault(method, 0);
    }

    private synchronized long tick() {
        return clock++;
    }

    private void count(String method) {
        calls.merge(method, 1, Integer::sum);
    }

    private static <T> void reply(StreamObserver<T> out, T value) {
        out.onNext(value);
        out.onCompleted();
    }

    private final class Runtime extends RuntimeServiceGrpc.RuntimeServiceImplBase {
        @Override
        public void version(VersionRequest r, StreamObserver<VersionResponse> out) {
            reply(out, VersionResponse.newBuilder().setRuntimeName("fake").setRuntimeVersion("0").setRuntimeApiVersion("v1").build());
        }

        @Override
        public void runPodSandbox(RunPodSandboxRequest r, StreamObserver<RunPodSandboxResponse> out) {
            count("RunPodSandbox");
            String id = UUID.randomUUID().toString().replace("-", "");
            sandboxes.put(id, PodSandbox.newBuilder().setId(id).setMetadata(r.getConfig().getMetadata()).setState(PodSandboxState.SANDBOX_READY)
                    .setCreatedAt(tick()).putAllLabels(r.getConfig().getLabelsMap()).putAllAnnotations(r.getConfig().getAnnotationsMap()).build());
            reply(out, RunPodSandboxResponse.newBuilder().setPodSandboxId(id).build());
        }

        @Override
        public void listPodSandbox(ListPodSandboxRequest r, StreamObserver<ListPodSandboxResponse> out) {
            List<PodSandbox> items = new ArrayList<>();
            for (PodSandbox s : sandboxes.values()) {
                if (s.getLabelsMap().entrySet().containsAll(r.getFilter().getLabelSelectorMap().entrySet())) {
                    items.add(s);
                }
            }
            reply(out, ListPodSandboxResponse.newBuilder().addAllItems(items).build());
        }

        @Override
        public void podSandboxStatus(PodSandboxStatusRequest r, StreamObserver<PodSandboxStatusResponse> out) {
            PodSandbox s = sandboxes.get(r.getPodSandboxId());
            if (s == null) {
                out.onError(Status.NOT_FOUND.asRuntimeException());
                return;
            }
            reply(out, PodSandboxStatusResponse.newBuilder().setStatus(sandboxStatus(s)).build());
        }

        @Override
        public void stopPodSandbox(StopPodSandboxRequest r, StreamObserver<StopPodSandboxResponse> out) {
            count("StopPodSandbox");
            sandboxes.computeIfPresent(r.getPodSandboxId(), (k, s) -> s.toBuilder().setState(PodSandboxState.SANDBOX_NOTREADY).build());
            containerSandbox.forEach((c, s) -> {
                if (s.equals(r.getPodSandboxId())) {
                    containers.computeIfPresent(c, (k, st) -> exited(st, 137));
                }
            });
            reply(out, StopPodSandboxResponse.getDefaultInstance());
        }

        @Override
        public void removePodSandbox(RemovePodSandboxRequest r, StreamObserver<RemovePodSandboxResponse> out) {
            count("RemovePodSandbox");
            sandboxes.remove(r.getPodSandboxId());
            containerSandbox.entrySet().removeIf(e -> {
                if (e.getValue().equals(r.getPodSandboxId())) {
                    containers.remove(e.getKey());
                    return true;
                }
                return false;
            });
            reply(out, RemovePodSandboxResponse.getDefaultInstance());
        }

        @Override
        public void createContainer(CreateContainerRequest r, StreamObserver<CreateContainerResponse> out) {
            count("CreateContainer");
            if (!sandboxes.containsKey(r.getPodSandboxId())) {
                out.onError(Status.NOT_FOUND.asRuntimeException());
                return;
            }
            String id = UUID.randomUUID().toString().replace("-", "");
            containers.put(id, ContainerStatus.newBuilder().setId(id).setMetadata(r.getConfig().getMetadata())
                    .setState(ContainerState.CONTAINER_CREATED).setCreatedAt(tick()).setImage(r.getConfig().getImage())
                    .setImageRef(r.getConfig().getImage().getImage())
                    .setLogPath(r.getSandboxConfig().getLogDirectory().isEmpty() ? "" : r.getSandboxConfig().getLogDirectory() + "/" + r.getConfig().getLogPath())
                    .putAllLabels(r.getConfig().getLabelsMap()).putAllAnnotations(r.getConfig().getAnnotationsMap())
                    .addAllMounts(r.getConfig().getMountsList()).build());
            commands.put(id, String.join(" ", r.getConfig().getArgsList()));
            containerSandbox.put(id, r.getPodSandboxId());
            reply(out, CreateContainerResponse.newBuilder().setContainerId(id).build());
            publish(id, ContainerEventType.CONTAINER_CREATED_EVENT);
        }

        @Override
        public void startContainer(StartContainerRequest r, StreamObserver<StartContainerResponse> out) {
            count("StartContainer");
            String command = commands.getOrDefault(r.getContainerId(), "");
            containers.computeIfPresent(r.getContainerId(), (k, s) -> command.matches("exit [0-9]+")
                    ? exited(s.toBuilder().setStartedAt(tick()).build(), Integer.parseInt(command.substring(5)))
                    : s.toBuilder().setState(ContainerState.CONTAINER_RUNNING).setStartedAt(tick()).build());
            reply(out, StartContainerResponse.getDefaultInstance());
            publish(r.getContainerId(), ContainerEventType.CONTAINER_STARTED_EVENT);
            if (command.matches("exit [0-9]+")) {
                publish(r.getContainerId(), ContainerEventType.CONTAINER_STOPPED_EVENT);
            }
        }

        @Override
        public void stopContainer(StopContainerRequest r, StreamObserver<StopContainerResponse> out) {
            count("StopContainer");
            stopRequested(r);
            containers.computeIfPresent(r.getContainerId(), (k, s) -> exited(s, 143));
            reply(out, StopContainerResponse.getDefaultInstance());
            publish(r.getContainerId(), ContainerEventType.CONTAINER_STOPPED_EVENT);
        }

        @Override
        public void removeContainer(RemoveContainerRequest r, StreamObserver<RemoveContainerResponse> out) {
            count("RemoveContainer");
            String sandbox = containerSandbox.get(r.getContainerId());
            containers.remove(r.getContainerId());
            containerSandbox.remove(r.getContainerId());
            reply(out, RemoveContainerResponse.getDefaultInstance());
            if (sandbox != null) {
                publishFor(sandbox, r.getContainerId(), ContainerEventType.CONTAINER_DELETED_EVENT);
            }
        }

        @Override
        public void listContainers(ListContainersRequest r, StreamObserver<ListContainersResponse> out) {
            List<Container> items = new ArrayList<>();
            containers.forEach((id, s) -> {
                if ((r.getFilter().getPodSandboxId().isEmpty() || r.getFilter().getPodSandboxId().equals(containerSandbox.get(id)))
                        && s.getLabelsMap().entrySet().containsAll(r.getFilter().getLabelSelectorMap().entrySet())) {
                    items.add(Container.newBuilder().setId(id).setPodSandboxId(containerSandbox.get(id)).setMetadata(s.getMetadata())
                            .setState(s.getState()).setCreatedAt(s.getCreatedAt()).setImage(s.getImage()).setImageRef(s.getImageRef())
                            .putAllLabels(s.getLabelsMap()).putAllAnnotations(s.getAnnotationsMap()).build());
                }
            });
            reply(out, ListContainersResponse.newBuilder().addAllContainers(items).build());
        }

        @Override
        public void containerStatus(ContainerStatusRequest r, StreamObserver<ContainerStatusResponse> out) {
            ContainerStatus s = containers.get(r.getContainerId());
            if (s == null) {
                out.onError(Status.NOT_FOUND.asRuntimeException());
                return;
            }
            reply(out, ContainerStatusResponse.newBuilder().setStatus(s).build());
        }

        @Override
        public void status(StatusRequest r, StreamObserver<StatusResponse> out) {
            count("Status");
            reply(out, statusAnswer);
        }

        @Override
        public void listContainerStats(ListContainerStatsRequest r, StreamObserver<ListContainerStatsResponse> out) {
            count("ListContainerStats");
            reply(out, ListContainerStatsResponse.newBuilder().addAllStats(containerStats.values()).build());
        }

        @Override
        public void listPodSandboxStats(ListPodSandboxStatsRequest r, StreamObserver<ListPodSandboxStatsResponse> out) {
            count("ListPodSandboxStats");
            if (podStatsUnimplemented) {
                out.onError(Status.UNIMPLEMENTED.asRuntimeException());
                return;
            }
            // memory use set per container (eviction's tests), else the stats set whole (the HTTP API's)
            reply(out, !memoryUse.isEmpty() ? memoryUseStats() : ListPodSandboxStatsResponse.newBuilder().addAllStats(podStats.values()).build());
        }

        @Override
        public void getContainerEvents(GetEventsRequest r, StreamObserver<ContainerEventResponse> out) {
            count("GetContainerEvents");
            if (eventsUnimplemented) {
                out.onError(Status.UNIMPLEMENTED.asRuntimeException());
                return;
            }
            subscribers.add(out);
            if (out instanceof io.grpc.stub.ServerCallStreamObserver<ContainerEventResponse> call) {
                call.setOnCancelHandler(() -> subscribers.remove(out));
            }
        }

        @Override
        public void execSync(ExecSyncRequest r, StreamObserver<ExecSyncResponse> out) {
            count("ExecSync");
            try {
                reply(out, execHandler.apply(r));
            } catch (io.grpc.StatusRuntimeException e) {
                out.onError(e);
            }
        }

        /** The ready sandboxes' memory working sets as {@link #memoryUse} sets them per container. */
        private ListPodSandboxStatsResponse memoryUseStats() {
            ListPodSandboxStatsResponse.Builder b = ListPodSandboxStatsResponse.newBuilder();
            for (PodSandbox s : sandboxes.values()) {
                if (s.getState() != PodSandboxState.SANDBOX_READY) {
                    continue;
                }
                String uid = s.getMetadata().getUid();
                long total = 0;
                LinuxPodSandboxStats.Builder linux = LinuxPodSandboxStats.newBuilder();
                for (ContainerStatus c : containers.values()) {
                    if (!s.getId().equals(containerSandbox.get(c.getId())) || c.getState() != ContainerState.CONTAINER_RUNNING) {
                        continue;
                    }
                    long ws = memoryUse.getOrDefault(uid + "/" + c.getMetadata().getName(), 0L);
                    total += ws;
                    linux.addContainers(ContainerStats.newBuilder().setAttributes(ContainerAttributes.newBuilder().setId(c.getId())
                            .setMetadata(c.getMetadata()).putAllLabels(c.getLabelsMap()))
                            .setMemory(MemoryUsage.newBuilder().setWorkingSetBytes(UInt64Value.newBuilder().setValue(ws))));
                }
                linux.setMemory(MemoryUsage.newBuilder().setWorkingSetBytes(UInt64Value.newBuilder().setValue(total)));
                b.addStats(PodSandboxStats.newBuilder().setAttributes(PodSandboxAttributes.newBuilder().setId(s.getId())
                        .setMetadata(s.getMetadata()).putAllLabels(s.getLabelsMap())).setLinux(linux));
            }
            return b.build();
        }
    }

    private static PodSandboxStatus sandboxStatus(PodSandbox s) {
        return PodSandboxStatus.newBuilder().setId(s.getId()).setMetadata(s.getMetadata()).setState(s.getState())
                .setCreatedAt(s.getCreatedAt()).putAllLabels(s.getLabelsMap()).putAllAnnotations(s.getAnnotationsMap())
                .setNetwork(PodSandboxNetworkStatus.newBuilder().setIp("10.9.9.9")).build();
    }

    private ContainerStatus exited(ContainerStatus s, int code) {
        if (s.getState() == ContainerState.CONTAINER_EXITED) {
            return s;
        }
        return s.toBuilder().setState(ContainerState.CONTAINER_EXITED).setExitCode(code).setFinishedAt(tick()).build();
    }

    private final class Images extends ImageServiceGrpc.ImageServiceImplBase {
        @Override
        public void imageStatus(ImageStatusRequest r, StreamObserver<ImageStatusResponse> out) {
            count("ImageStatus");
            String name = r.getImage().getImage();
            reply(out, images.contains(name)
                    ? ImageStatusResponse.newBuilder().setImage(Image.newBuilder().setId("sha256:" + name.hashCode())).build()
                    : ImageStatusResponse.getDefaultInstance());
        }

        @Override
        public void pullImage(PullImageRequest r, StreamObserver<PullImageResponse> out) {
            count("PullImage");
            if (failingPulls.contains(r.getImage().getImage())) {
                out.onError(Status.NOT_FOUND.withDescription("no such image in the registry").asRuntimeException());
                return;
            }
            images.add(r.getImage().getImage());
            pullAuths.add(r.getAuth());
            reply(out, PullImageResponse.newBuilder().setImageRef("sha256:" + r.getImage().getImage().hashCode()).build());
        }

        @Override
        public void imageFsInfo(ImageFsInfoRequest r, StreamObserver<ImageFsInfoResponse> out) {
            count("ImageFsInfo");
            reply(out, ImageFsInfoResponse.newBuilder().addImageFilesystems(FilesystemUsage.newBuilder()
                    .setFsId(FilesystemIdentifier.newBuilder().setMountpoint(imageFsMountpoint))
                    .setUsedBytes(u64(imageFsUsedBytes()))).build());
        }

        @Override
        public void listImages(ListImagesRequest r, StreamObserver<ListImagesResponse> out) {
            count("ListImages");
            reply(out, ListImagesResponse.newBuilder().addAllImages(storedImages.values()).build());
        }

        @Override
        public void removeImage(RemoveImageRequest r, StreamObserver<RemoveImageResponse> out) {
            count("RemoveImage");
            removeStoredImage(r.getImage().getImage());
            reply(out, RemoveImageResponse.getDefaultInstance());
        }
    }

    /** The names of the containers of the sandbox, newest attempt last, with their state. */
    public Map<String, ContainerState> containerStates(String sandboxId) {
        Map<String, ContainerState> out = new LinkedHashMap<>();
        containers.values().stream().filter(s -> sandboxId.equals(containerSandbox.get(s.getId())))
                .sorted(java.util.Comparator.comparingLong(ContainerStatus::getCreatedAt))
                .forEach(s -> out.put(s.getMetadata().getName(), s.getState()));
        return out;
    }

    /** Where ImageFsInfo says the images are. */
    public volatile String imageFsMountpoint = System.getProperty("java.io.tmpdir");

    /** What Status answers; both RuntimeReady and NetworkReady true until a test sets another. */
    public volatile StatusResponse statusAnswer = StatusResponse.newBuilder().setStatus(RuntimeStatus.newBuilder()
            .addConditions(RuntimeCondition.newBuilder().setType("RuntimeReady").setStatus(true))
            .addConditions(RuntimeCondition.newBuilder().setType("NetworkReady").setStatus(true))).build();

    @Override
    public void close() {
        channel.shutdownNow();
        server.shutdownNow();
    }

    /** The container exits now with {@code code} (and the runtime's {@code reason}, e.g. OOMKilled, when not null), with its event. */
    public void exit(String containerId, int code, String reason) {
        exitQuietly(containerId, code, reason);
        publish(containerId, ContainerEventType.CONTAINER_STOPPED_EVENT);
    }

    /** The container exits now, and no event says so (as when a stream lost it): only a relist can notice. */
    public void exitQuietly(String containerId, int code, String reason) {
        containers.computeIfPresent(containerId, (k, s) -> {
            ContainerStatus e = exited(s, code);
            return reason == null ? e : e.toBuilder().setReason(reason).build();
        });
    }

    /** The id of the newest container named {@code name} of the pod with this uid, or null. */
    public String containerOf(String podUid, String name) {
        return containers.values().stream()
                .filter(c -> c.getMetadata().getName().equals(name) && podUid.equals(c.getLabelsOrDefault("io.kubernetes.pod.uid", "")))
                .max(java.util.Comparator.comparingLong(ContainerStatus::getCreatedAt)).map(ContainerStatus::getId).orElse(null);
    }

    /** How many event subscriptions are open. */
    public int subscribers() {
        return subscribers.size();
    }

    /** Ends every event subscription with {@code status}, as a runtime that restarts does. */
    public void breakEventStreams(Status status) {
        for (StreamObserver<ContainerEventResponse> s : subscribers) {
            subscribers.remove(s);
            try {
                s.onError(status.asRuntimeException());
            } catch (RuntimeException e) {
                // gone already
            }
        }
    }

    private void publish(String containerId, ContainerEventType type) {
        String sandbox = containerSandbox.get(containerId);
        if (sandbox != null) {
            publishFor(sandbox, containerId, type);
        }
    }

    private void publishFor(String sandboxId, String containerId, ContainerEventType type) {
        if (subscribers.isEmpty()) {
            return;
        }
        ContainerEventResponse.Builder b = ContainerEventResponse.newBuilder().setContainerId(containerId).setContainerEventType(type)
                .setCreatedAt(tick());
        PodSandbox s = sandboxes.get(sandboxId);
        if (s != null) {
            b.setPodSandboxStatus(sandboxStatus(s));
        }
        containers.forEach((id, c) -> {
            if (sandboxId.equals(containerSandbox.get(id))) {
                b.addContainersStatuses(c);
            }
        });
        ContainerEventResponse event = b.build();
        for (StreamObserver<ContainerEventResponse> o : subscribers) {
            try {
                synchronized (o) {
                    o.onNext(event);
                }
            } catch (RuntimeException e) {
                subscribers.remove(o);
            }
        }
    }

    // ---------------------------------------------------------------- stats and logs (the HTTP API's content)

    /** What ListContainerStats answers, by container id (a test sets them). */
    public final Map<String, ContainerStats> containerStats = new ConcurrentHashMap<>();
    /** What ListPodSandboxStats answers, by sandbox id (a test sets them). */
    public final Map<String, PodSandboxStats> podStats = new ConcurrentHashMap<>();
    /** ListPodSandboxStats answers UNIMPLEMENTED, as a runtime without it does. */
    public volatile boolean podStatsUnimplemented;

    /** Sets a running container's CPU time and memory working set as its stats say them at {@code timestampNanos}. */
    public void containerUsage(String containerId, long timestampNanos, long cpuCoreNanos, long workingSetBytes) {
        ContainerStatus s = containers.get(containerId);
        containerStats.put(containerId, ContainerStats.newBuilder()
                .setAttributes(ContainerAttributes.newBuilder().setId(containerId).setMetadata(s.getMetadata())
                        .putAllLabels(s.getLabelsMap()).putAllAnnotations(s.getAnnotationsMap()))
                .setCpu(CpuUsage.newBuilder().setTimestamp(timestampNanos).setUsageCoreNanoSeconds(u64(cpuCoreNanos)))
                .setMemory(MemoryUsage.newBuilder().setTimestamp(timestampNanos)
                        .setWorkingSetBytes(u64(workingSetBytes))
                        .setUsageBytes(u64(workingSetBytes + 4096))
                        .setRssBytes(u64(workingSetBytes / 2)))
                .build());
    }

    /** Sets a sandbox's CPU time, memory working set and eth0 traffic as its stats say them at {@code timestampNanos}. */
    public void podUsage(String sandboxId, long timestampNanos, long cpuCoreNanos, long workingSetBytes, long rxBytes) {
        PodSandbox s = sandboxes.get(sandboxId);
        NetworkInterfaceUsage eth0 = NetworkInterfaceUsage.newBuilder().setName("eth0").setRxBytes(u64(rxBytes))
                .setTxBytes(u64(rxBytes / 2)).build();
        podStats.put(sandboxId, PodSandboxStats.newBuilder()
                .setAttributes(PodSandboxAttributes.newBuilder().setId(sandboxId).setMetadata(s.getMetadata())
                        .putAllLabels(s.getLabelsMap()).putAllAnnotations(s.getAnnotationsMap()))
                .setLinux(LinuxPodSandboxStats.newBuilder()
                        .setCpu(CpuUsage.newBuilder().setTimestamp(timestampNanos).setUsageCoreNanoSeconds(u64(cpuCoreNanos)))
                        .setMemory(MemoryUsage.newBuilder().setTimestamp(timestampNanos)
                                .setWorkingSetBytes(u64(workingSetBytes)))
                        .setNetwork(NetworkUsage.newBuilder().setTimestamp(timestampNanos).setDefaultInterface(eth0).addInterfaces(eth0))
                        .setProcess(ProcessUsage.newBuilder().setTimestamp(timestampNanos).setProcessCount(u64(3))))
                .build());
    }

    /** Sets the CRI log path ContainerStatus reports for the container (as a runtime that keeps logs elsewhere would). */
    public void logPath(String containerId, String path) {
        containers.computeIfPresent(containerId, (k, s) -> s.toBuilder().setLogPath(path).build());
    }

    private static UInt64Value u64(long v) {
        return UInt64Value.newBuilder().setValue(v).build();
    }

    /** The images ListImages answers and RemoveImage removes (by id, tag or digest), by id, in the order added. */
    public final Map<String, Image> storedImages = java.util.Collections.synchronizedMap(new LinkedHashMap<>());
    /** What ImageFsInfo says the image store uses; negative: the sizes of {@link #storedImages} added up. */
    public volatile long imageFsUsed = -1;

    /** Adds an image {@code id} tagged {@code tag} (none when null) of {@code size} bytes, pinned or not. */
    public Image addImage(String id, String tag, long size, boolean pinned) {
        Image.Builder b = Image.newBuilder().setId(id).setSize(size).setPinned(pinned).setSpec(ImageSpec.newBuilder().setImage(id));
        if (tag != null) {
            b.addRepoTags(tag);
        }
        Image image = b.build();
        storedImages.put(id, image);
        return image;
    }

    private long imageFsUsedBytes() {
        long used = imageFsUsed;
        if (used >= 0) {
            return used;
        }
        synchronized (storedImages) {
            return storedImages.values().stream().mapToLong(Image::getSize).sum();
        }
    }

    private void removeStoredImage(String ref) {
        synchronized (storedImages) {
            storedImages.values().removeIf(i -> i.getId().equals(ref) || i.getRepoTagsList().contains(ref) || i.getRepoDigestsList().contains(ref));
        }
    }

    /**
     * A sandbox of pod {@code uid} made by the agent's source {@code source} (null: none, as a crictl user's), in
     * {@code state}, created at {@code createdAtNanos}; returns its id.
     */
    public String addSandbox(String uid, String name, String source, PodSandboxState state, int attempt, long createdAtNanos) {
        String id = UUID.randomUUID().toString().replace("-", "");
        PodSandbox.Builder b = PodSandbox.newBuilder().setId(id).setState(state).setCreatedAt(createdAtNanos)
                .setMetadata(PodSandboxMetadata.newBuilder().setName(name).setNamespace("default").setUid(uid).setAttempt(attempt))
                .putLabels("io.kubernetes.pod.uid", uid).putLabels("io.kubernetes.pod.name", name).putLabels("io.kubernetes.pod.namespace", "default");
        if (source != null) {
            b.putLabels("berth.dev/pod-source", source);
        }
        sandboxes.put(id, b.build());
        return id;
    }

    /** A container {@code name} (run {@code attempt}) of image {@code image} in sandbox {@code sandboxId}, in {@code state}; returns its id. */
    public String addContainer(String sandboxId, String name, int attempt, ContainerState state, long createdAtNanos, String image) {
        String id = UUID.randomUUID().toString().replace("-", "");
        String uid = sandboxes.get(sandboxId).getLabelsOrDefault("io.kubernetes.pod.uid", "");
        containers.put(id, ContainerStatus.newBuilder().setId(id).setState(state).setCreatedAt(createdAtNanos)
                .setMetadata(ContainerMetadata.newBuilder().setName(name).setAttempt(attempt))
                .setImage(ImageSpec.newBuilder().setImage(image)).setImageRef(image)
                .putLabels("io.kubernetes.pod.uid", uid).putLabels("io.kubernetes.container.name", name).build());
        containerSandbox.put(id, sandboxId);
        return id;
    }

    /** What ExecSync answers (it may throw a gRPC status); by default every command exits 0 without output. */
    public volatile java.util.function.Function<ExecSyncRequest, ExecSyncResponse> execHandler = r -> ExecSyncResponse.getDefaultInstance();

    /** The working set each running container reports in ListPodSandboxStats, by "podUid/containerName" (0 when absent). */
    public final Map<String, Long> memoryUse = new ConcurrentHashMap<>();

    /** The containers StopContainer was asked to stop, in order, each with the grace period (timeout) it was given. */
    public final List<Map.Entry<String, Long>> stops = new java.util.concurrent.CopyOnWriteArrayList<>();

    private void stopRequested(StopContainerRequest r) {
        stops.add(Map.entry(r.getContainerId(), r.getTimeout()));
    }

    /** The names of the containers StopContainer was asked to stop, in order. */
    public List<String> stoppedNames() {
        List<String> out = new ArrayList<>();
        for (Map.Entry<String, Long> e : stops) {
            ContainerStatus s = containers.get(e.getKey());
            out.add(s == null ? e.getKey() : s.getMetadata().getName());
        }
        return out;
    }
}
