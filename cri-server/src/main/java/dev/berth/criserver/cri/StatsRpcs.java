package dev.berth.criserver.cri;

import dev.berth.criserver.grpc.CriRegistry;
import dev.berth.cri.v1.ContainerAttributes;
import dev.berth.cri.v1.ContainerMetadata;
import dev.berth.cri.v1.ContainerStats;
import dev.berth.cri.v1.ContainerStatsFilter;
import dev.berth.cri.v1.ContainerStatsRequest;
import dev.berth.cri.v1.ContainerStatsResponse;
import dev.berth.cri.v1.CpuUsage;
import dev.berth.cri.v1.FilesystemIdentifier;
import dev.berth.cri.v1.FilesystemUsage;
import dev.berth.cri.v1.IoUsage;
import dev.berth.cri.v1.LinuxPodSandboxStats;
import dev.berth.cri.v1.ListContainerStatsRequest;
import dev.berth.cri.v1.ListContainerStatsResponse;
import dev.berth.cri.v1.ListPodSandboxStatsRequest;
import dev.berth.cri.v1.ListPodSandboxStatsResponse;
import dev.berth.cri.v1.MemoryUsage;
import dev.berth.cri.v1.NetworkInterfaceUsage;
import dev.berth.cri.v1.NetworkUsage;
import dev.berth.cri.v1.PodSandboxAttributes;
import dev.berth.cri.v1.PodSandboxMetadata;
import dev.berth.cri.v1.PodSandboxStats;
import dev.berth.cri.v1.PodSandboxStatsFilter;
import dev.berth.cri.v1.PodSandboxStatsRequest;
import dev.berth.cri.v1.PodSandboxStatsResponse;
import dev.berth.cri.v1.ProcessUsage;
import dev.berth.cri.v1.PsiData;
import dev.berth.cri.v1.PsiStats;
import dev.berth.cri.v1.RuntimeServiceGrpc;
import dev.berth.cri.v1.StreamContainerStatsRequest;
import dev.berth.cri.v1.StreamContainerStatsResponse;
import dev.berth.cri.v1.StreamPodSandboxStatsRequest;
import dev.berth.cri.v1.StreamPodSandboxStatsResponse;
import dev.berth.cri.v1.SwapUsage;
import dev.berth.cri.v1.UInt64Value;
import dev.berth.podsandbox.container.ContainerFilter;
import dev.berth.podsandbox.stats.StatsCollector;
import dev.berth.podsandbox.stats.Usage;
import io.grpc.stub.StreamObserver;
import java.util.List;

/**
 * ContainerStats, ListContainerStats, StreamContainerStats, PodSandboxStats,
 * ListPodSandboxStats and StreamPodSandboxStats: {@link StatsCollector}'s figures in CRI terms.
 */
public final class StatsRpcs implements CriRegistry.Feature {
    private static final int STREAM_BATCH = 100;

    private final StatsCollector stats;

    public StatsRpcs(StatsCollector stats) {
        this.stats = stats;
    }

    @Override
    public void register(CriRegistry registry) {
        registry.unary(RuntimeServiceGrpc.getContainerStatsMethod(), (ContainerStatsRequest r) ->
                ContainerStatsResponse.newBuilder().setStats(container(stats.container(r.getContainerId()))).build());
        registry.unary(RuntimeServiceGrpc.getListContainerStatsMethod(), (ListContainerStatsRequest r) ->
                ListContainerStatsResponse.newBuilder().addAllStats(containers(r.hasFilter() ? r.getFilter() : null)).build());
        registry.serverStreaming(RuntimeServiceGrpc.getStreamContainerStatsMethod(),
                (StreamContainerStatsRequest r, StreamObserver<StreamContainerStatsResponse> out) -> {
                    List<ContainerStats> all = containers(r.hasFilter() ? r.getFilter() : null);
                    for (int i = 0; i < all.size(); i += STREAM_BATCH) {
                        out.onNext(StreamContainerStatsResponse.newBuilder()
                                .addAllContainerStats(all.subList(i, Math.min(all.size(), i + STREAM_BATCH))).build());
                    }
                    out.onCompleted();
                });
        registry.unary(RuntimeServiceGrpc.getPodSandboxStatsMethod(), (PodSandboxStatsRequest r) ->
                PodSandboxStatsResponse.newBuilder().setStats(pod(stats.pod(r.getPodSandboxId()))).build());
        registry.unary(RuntimeServiceGrpc.getListPodSandboxStatsMethod(), (ListPodSandboxStatsRequest r) ->
                ListPodSandboxStatsResponse.newBuilder().addAllStats(pods(r.hasFilter() ? r.getFilter() : null)).build());
        registry.serverStreaming(RuntimeServiceGrpc.getStreamPodSandboxStatsMethod(),
                (StreamPodSandboxStatsRequest r, StreamObserver<StreamPodSandboxStatsResponse> out) -> {
                    List<PodSandboxStats> all = pods(r.hasFilter() ? r.getFilter() : null);
                    for (int i = 0; i < all.size(); i += STREAM_BATCH) {
                        out.onNext(StreamPodSandboxStatsResponse.newBuilder()
                                .addAllPodSandboxStats(all.subList(i, Math.min(all.size(), i + STREAM_BATCH))).build());
                    }
                    out.onCompleted();
                });
    }

    private List<ContainerStats> containers(ContainerStatsFilter f) {
        ContainerFilter filter = f == null ? ContainerFilter.all()
                : new ContainerFilter(f.getId(), null, f.getPodSandboxId(), f.getLabelSelectorMap());
        return stats.containers(filter).stream().map(StatsRpcs::container).toList();
    }

    private List<PodSandboxStats> pods(PodSandboxStatsFilter f) {
        List<Usage.Pod> pods = f == null ? stats.pods("", null) : stats.pods(f.getId(), f.getLabelSelectorMap());
        return pods.stream().map(StatsRpcs::pod).toList();
    }

    // ---------------------------------------------------------------- berth -> CRI

    static ContainerStats container(Usage.Container c) {
        ContainerStats.Builder b = ContainerStats.newBuilder().setAttributes(ContainerAttributes.newBuilder()
                .setId(c.id())
                .setMetadata(ContainerMetadata.newBuilder().setName(c.name()).setAttempt(c.attempt()))
                .putAllLabels(c.labels())
                .putAllAnnotations(c.annotations()));
        Usage.Cgroup cg = c.cgroup();
        if (cg != null) {
            b.setCpu(cpu(cg));
            b.setMemory(memory(cg));
            b.setSwap(SwapUsage.newBuilder().setTimestamp(cg.timestampNanos()).setSwapUsageBytes(u64(cg.swapUsageBytes())));
            PsiStats io = psi(cg.pressure().get("io"));
            if (io != null) {
                b.setIo(IoUsage.newBuilder().setTimestamp(cg.timestampNanos()).setPsi(io));
            }
        } else {
            // CRI callers expect the sections; a container that is not running uses nothing
            b.setCpu(CpuUsage.newBuilder().setTimestamp(c.timestampNanos()));
            b.setMemory(MemoryUsage.newBuilder().setTimestamp(c.timestampNanos()));
        }
        Usage.Filesystem fs = c.writableLayer();
        if (fs != null) {
            b.setWritableLayer(FilesystemUsage.newBuilder().setTimestamp(fs.timestampNanos())
                    .setFsId(FilesystemIdentifier.newBuilder().setMountpoint(fs.mountpoint().toString()))
                    .setUsedBytes(u64(fs.usedBytes()))
                    .setInodesUsed(u64(fs.inodesUsed())));
        }
        return b.build();
    }

    static PodSandboxStats pod(Usage.Pod p) {
        LinuxPodSandboxStats.Builder linux = LinuxPodSandboxStats.newBuilder();
        Usage.Cgroup cg = p.cgroup();
        if (cg != null) {
            linux.setCpu(cpu(cg));
            linux.setMemory(memory(cg));
            linux.setProcess(ProcessUsage.newBuilder().setTimestamp(cg.timestampNanos()).setProcessCount(u64(cg.processes())));
            PsiStats io = psi(cg.pressure().get("io"));
            if (io != null) {
                linux.setIo(IoUsage.newBuilder().setTimestamp(cg.timestampNanos()).setPsi(io));
            }
        }
        if (!p.interfaces().isEmpty()) {
            NetworkUsage.Builder net = NetworkUsage.newBuilder().setTimestamp(p.networkTimestampNanos());
            Usage.Interface def = p.defaultInterface();
            for (Usage.Interface i : p.interfaces()) {
                if (i.name().equals("lo")) {
                    continue;
                }
                if (i == def) {
                    net.setDefaultInterface(iface(i));
                }
                net.addInterfaces(iface(i));
            }
            linux.setNetwork(net);
        }
        for (Usage.Container c : p.containers()) {
            linux.addContainers(container(c));
        }
        return PodSandboxStats.newBuilder()
                .setAttributes(PodSandboxAttributes.newBuilder()
                        .setId(p.id())
                        .setMetadata(PodSandboxMetadata.newBuilder().setName(p.name()).setUid(p.uid())
                                .setNamespace(p.namespace()).setAttempt(p.attempt()))
                        .putAllLabels(p.labels())
                        .putAllAnnotations(p.annotations()))
                .setLinux(linux)
                .build();
    }

    private static CpuUsage cpu(Usage.Cgroup cg) {
        CpuUsage.Builder b = CpuUsage.newBuilder().setTimestamp(cg.cpu().timestampNanos())
                .setUsageCoreNanoSeconds(u64(cg.cpu().usageCoreNanos()));
        if (cg.cpu().usageNanoCores() != null) {
            b.setUsageNanoCores(u64(cg.cpu().usageNanoCores()));
        }
        PsiStats psi = psi(cg.pressure().get("cpu"));
        if (psi != null) {
            b.setPsi(psi);
        }
        return b.build();
    }

    private static MemoryUsage memory(Usage.Cgroup cg) {
        Usage.Memory m = cg.memory();
        MemoryUsage.Builder b = MemoryUsage.newBuilder().setTimestamp(m.timestampNanos())
                .setWorkingSetBytes(u64(m.workingSetBytes()))
                .setUsageBytes(u64(m.usageBytes()))
                .setRssBytes(u64(m.rssBytes()))
                .setPageFaults(u64(m.pageFaults()))
                .setMajorPageFaults(u64(m.majorPageFaults()));
        if (m.availableBytes() != null) {
            b.setAvailableBytes(u64(m.availableBytes()));
        }
        PsiStats psi = psi(cg.pressure().get("memory"));
        if (psi != null) {
            b.setPsi(psi);
        }
        return b.build();
    }

    private static PsiStats psi(Usage.Pressure p) {
        if (p == null) {
            return null;
        }
        PsiStats.Builder b = PsiStats.newBuilder().setSome(psiData(p.some()));
        if (p.full() != null) {
            b.setFull(psiData(p.full()));
        }
        return b.build();
    }

    private static PsiData psiData(Usage.Pressure.Line l) {
        return PsiData.newBuilder().setAvg10(l.avg10()).setAvg60(l.avg60()).setAvg300(l.avg300())
                .setTotal(l.totalMicros()).build();
    }

    private static NetworkInterfaceUsage iface(Usage.Interface i) {
        return NetworkInterfaceUsage.newBuilder().setName(i.name())
                .setRxBytes(u64(i.rxBytes())).setRxErrors(u64(i.rxErrors()))
                .setTxBytes(u64(i.txBytes())).setTxErrors(u64(i.txErrors())).build();
    }

    private static UInt64Value u64(long v) {
        return UInt64Value.newBuilder().setValue(Math.max(0, v)).build();
    }
}
