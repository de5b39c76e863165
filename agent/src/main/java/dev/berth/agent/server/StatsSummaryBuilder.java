package dev.berth.agent.server;

import dev.berth.agent.node.MachineUsage;
import dev.berth.agent.pod.KubeletKeys;
import dev.berth.cri.v1.ContainerState;
import dev.berth.cri.v1.CpuUsage;
import dev.berth.cri.v1.FilesystemUsage;
import dev.berth.cri.v1.ImageFsInfoResponse;
import dev.berth.cri.v1.MemoryUsage;
import dev.berth.cri.v1.NetworkInterfaceUsage;
import dev.berth.cri.v1.NetworkUsage;
import dev.berth.cri.v1.PodSandbox;
import dev.berth.cri.v1.PodSandboxState;
import dev.berth.cri.v1.PodSandboxStats;
import dev.berth.agent.cri.CriClient;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Volume;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;

/**
 * Builds the {@link StatsSummary} from the runtime's figures (CRI ListPodSandboxStats,
 * ListContainerStats, ImageFsInfo) and the node's own ({@link NodeReadings}, statvfs), as the
 * kubelet's CRI stats provider does: the pods of the runtime's ready sandboxes (the newest per
 * pod), the running containers (the newest run of each name), a pod's figures from its
 * sandbox's stats or, with a runtime without ListPodSandboxStats, the sum of its containers'.
 *
 * <p>CPU usage in nanocores is the runtime's when it gives one; otherwise it is computed from
 * two samples of cumulative CPU time: the previous sample of each container, pod and the node
 * is kept from one summary to the next (samples of what is gone are dropped), so the first
 * summary after a container starts has no rate yet, as the kubelet's has none.
 *
 * <p>Volumes are the directories the agent keeps for the pod (emptyDir, configMap, secret,
 * downward API, projected), their usage walked at most once a minute; ephemeral storage is the
 * containers' writable layers and logs plus the disk-backed emptyDir and configMap volumes.
 */
public final class StatsSummaryBuilder {
    private static final String EMPTY_DIR = "kubernetes.io~empty-dir";
    private static final String CONFIG_MAP = "kubernetes.io~configmap";
    private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss'Z'").withZone(ZoneOffset.UTC);

    private final CriClient cri;
    private final Supplier<List<Pod>> pods;
    private final String nodeName;
    private final Path nodefs;
    private final Path podLogsDir;
    private final Path podsDir;
    private final NodeReadings node;
    private final long memoryCapacity;
    private final Clock clock;
    private final DirUsage usage;
    /** The last sample of cumulative CPU time of each container, pod and the node: {timestamp ns, core ns}. */
    private final Map<String, long[]> cpuSamples = new HashMap<>();

    /**
     * @param nodefs a path on the node's filesystem (the agent's state directory)
     * @param podsDir where the agent keeps each pod's volumes ({@code <state>/pods})
     * @param memoryCapacity the node's memory, for its available bytes
     */
    public StatsSummaryBuilder(CriClient cri, Supplier<List<Pod>> pods, String nodeName, Path nodefs, Path podLogsDir, Path podsDir,
            NodeReadings node, long memoryCapacity, Clock clock, DirUsage usage) {
        this.cri = cri;
        this.pods = pods;
        this.nodeName = nodeName;
        this.nodefs = nodefs;
        this.podLogsDir = podLogsDir;
        this.podsDir = podsDir;
        this.node = node;
        this.memoryCapacity = memoryCapacity;
        this.clock = clock;
        this.usage = usage;
    }

    /** The summary now; {@code onlyCpuAndMemory} leaves out everything else (and does not measure it). */
    public synchronized StatsSummary build(boolean onlyCpuAndMemory) {
        Instant now = clock.instant();
        long nowNanos = now.getEpochSecond() * 1_000_000_000L + now.getNano();
        Set<String> seen = new HashSet<>();

        List<PodSandbox> sandboxes = newestReadySandboxes(cri.listPodSandboxes(Map.of()));
        Map<String, List<dev.berth.cri.v1.Container>> running = new HashMap<>();
        Map<String, dev.berth.cri.v1.Container> newest = new HashMap<>();
        for (dev.berth.cri.v1.Container c : cri.listAllContainers()) {
            if (c.getState() != ContainerState.CONTAINER_RUNNING) {
                continue;
            }
            String key = c.getPodSandboxId() + "/" + c.getMetadata().getName();
            dev.berth.cri.v1.Container other = newest.get(key);
            if (other == null || c.getCreatedAt() > other.getCreatedAt()) {
                newest.put(key, c);
            }
        }
        for (dev.berth.cri.v1.Container c : newest.values()) {
            running.computeIfAbsent(c.getPodSandboxId(), k -> new ArrayList<>()).add(c);
        }
        Map<String, dev.berth.cri.v1.ContainerStats> containerStats = new HashMap<>();
        for (dev.berth.cri.v1.ContainerStats s : cri.listContainerStats()) {
            containerStats.put(s.getAttributes().getId(), s);
        }
        Map<String, PodSandboxStats> podStats = new HashMap<>();
        try {
            for (PodSandboxStats s : cri.listPodSandboxStats()) {
                podStats.put(s.getAttributes().getId(), s);
            }
        } catch (StatusRuntimeException e) {
            if (e.getStatus().getCode() != Status.Code.UNIMPLEMENTED) {
                throw e;
            }
        }

        FsInfo fs = onlyCpuAndMemory ? null : fsInfo(now);
        Map<String, Pod> specs = new HashMap<>();
        if (!onlyCpuAndMemory) {
            for (Pod p : pods.get()) {
                specs.put(p.getMetadata().getUid(), p);
            }
        }

        List<StatsSummary.PodStats> podList = new ArrayList<>();
        for (PodSandbox s : sandboxes) {
            String uid = s.getLabelsOrDefault(KubeletKeys.POD_UID, s.getMetadata().getUid());
            String name = s.getLabelsOrDefault(KubeletKeys.POD_NAME, s.getMetadata().getName());
            String namespace = s.getLabelsOrDefault(KubeletKeys.POD_NAMESPACE, s.getMetadata().getNamespace());
            List<dev.berth.cri.v1.Container> containers = new ArrayList<>(running.getOrDefault(s.getId(), List.of()));
            containers.sort(Comparator.comparing(c -> c.getMetadata().getName()));
            List<StatsSummary.ContainerStats> cs = new ArrayList<>();
            long rootfsUsed = 0;
            long rootfsInodes = 0;
            long logsUsed = 0;
            long logsInodes = 0;
            for (dev.berth.cri.v1.Container c : containers) {
                dev.berth.cri.v1.ContainerStats st = containerStats.get(c.getId());
                seen.add(c.getId());
                StatsSummary.Cpu cpu = st == null || !st.hasCpu() ? null : cpu(c.getId(), st.getCpu());
                StatsSummary.Memory memory = st == null || !st.hasMemory() ? null : memory(st.getMemory());
                StatsSummary.Fs rootfs = null;
                StatsSummary.Fs logs = null;
                if (fs != null) {
                    if (st != null && st.hasWritableLayer()) {
                        FilesystemUsage w = st.getWritableLayer();
                        rootfs = fs.withUsage(fs.containerFs, time(w.getTimestamp()), w.getUsedBytes().getValue(), w.getInodesUsed().getValue());
                        rootfsUsed += w.getUsedBytes().getValue();
                        rootfsInodes += w.getInodesUsed().getValue();
                    }
                    DirUsage.Usage l = usage.of(podLogsDir.resolve(namespace + "_" + name + "_" + uid).resolve(c.getMetadata().getName()));
                    logs = fs.withUsage(fs.logsFs, TIME.format(now), l.bytes(), l.inodes());
                    logsUsed += l.bytes();
                    logsInodes += l.inodes();
                }
                cs.add(new StatsSummary.ContainerStats(c.getMetadata().getName(), time(c.getCreatedAt()), cpu, memory, rootfs, logs));
            }
            PodSandboxStats ps = podStats.get(s.getId());
            StatsSummary.Cpu cpu;
            StatsSummary.Memory memory;
            StatsSummary.Network network = null;
            StatsSummary.Process process = null;
            if (ps != null && ps.hasLinux() && ps.getLinux().hasCpu()) {
                seen.add("pod/" + s.getId());
                cpu = cpu("pod/" + s.getId(), ps.getLinux().getCpu());
                memory = ps.getLinux().hasMemory() ? memory(ps.getLinux().getMemory()) : null;
            } else {
                cpu = sumCpu(cs);
                memory = sumMemory(cs);
            }
            if (!onlyCpuAndMemory && ps != null && ps.hasLinux()) {
                if (ps.getLinux().hasNetwork()) {
                    network = network(ps.getLinux().getNetwork());
                }
                if (ps.getLinux().hasProcess()) {
                    process = new StatsSummary.Process(ps.getLinux().getProcess().getProcessCount().getValue());
                }
            }
            List<StatsSummary.Volume> volumes = null;
            StatsSummary.Fs ephemeral = null;
            if (fs != null) {
                volumes = new ArrayList<>();
                long ephemeralBytes = rootfsUsed + logsUsed;
                long ephemeralInodes = rootfsInodes + logsInodes;
                Pod spec = specs.get(uid);
                for (DirUsage.Dir v : usage.volumes(podsDir.resolve(uid).resolve("volumes"))) {
                    MachineUsage.Fs vfs = MachineUsage.statvfs(v.path());
                    volumes.add(new StatsSummary.Volume(TIME.format(now), known(vfs.availableBytes()), known(vfs.capacityBytes()),
                            v.usage().bytes(), known(vfs.inodesFree()), known(vfs.inodes()), v.usage().inodes(), v.name()));
                    if (ephemeralVolume(spec, v.plugin(), v.name())) {
                        ephemeralBytes += v.usage().bytes();
                        ephemeralInodes += v.usage().inodes();
                    }
                }
                volumes.sort(Comparator.comparing(StatsSummary.Volume::name));
                ephemeral = fs.withUsage(fs.nodeFs, TIME.format(now), ephemeralBytes, ephemeralInodes);
            }
            podList.add(new StatsSummary.PodStats(new StatsSummary.PodReference(name, namespace, uid), time(s.getCreatedAt()), cs,
                    cpu, memory, network, volumes, ephemeral, process));
        }
        podList.sort(Comparator.comparing((StatsSummary.PodStats p) -> p.podRef().namespace()).thenComparing(p -> p.podRef().name()));

        seen.add("node");
        StatsSummary.Node nodeStats = nodeStats(now, nowNanos, fs);
        cpuSamples.keySet().retainAll(seen);
        return new StatsSummary(nodeStats, podList);
    }

    private StatsSummary.Node nodeStats(Instant now, long nowNanos, FsInfo fs) {
        String t = TIME.format(now);
        long coreNanos = node.cpuCoreNanos();
        StatsSummary.Cpu cpu = coreNanos < 0 ? null : new StatsSummary.Cpu(t, rate("node", nowNanos, coreNanos), coreNanos);
        NodeReadings.Memory m = node.memory();
        StatsSummary.Memory memory = m.workingSetBytes() < 0 ? null : new StatsSummary.Memory(t,
                memoryCapacity > 0 ? Math.max(0, memoryCapacity - m.workingSetBytes()) : null, m.usageBytes(), m.workingSetBytes(),
                known(m.rssBytes()), known(m.pageFaults()), known(m.majorPageFaults()));
        long boot = node.bootTimeSeconds();
        String start = boot < 0 ? null : TIME.format(Instant.ofEpochSecond(boot));
        if (fs == null) {
            return new StatsSummary.Node(nodeName, null, start, cpu, memory, null, null, null, null);
        }
        List<StatsSummary.Interface> ifaces = new ArrayList<>();
        String def = node.defaultInterface();
        StatsSummary.Interface primary = null;
        for (NodeReadings.Interface i : node.interfaces()) {
            StatsSummary.Interface x = new StatsSummary.Interface(i.name(), i.rxBytes(), i.rxErrors(), i.txBytes(), i.txErrors());
            ifaces.add(x);
            if (i.name().equals(def)) {
                primary = x;
            }
        }
        StatsSummary.Network network = primary == null
                ? new StatsSummary.Network(t, null, null, null, null, null, ifaces)
                : new StatsSummary.Network(t, primary.name(), primary.rxBytes(), primary.rxErrors(), primary.txBytes(), primary.txErrors(), ifaces);
        long[] procs = node.processes();
        return new StatsSummary.Node(nodeName, null, start, cpu, memory, network, fs.nodeFsStats(t),
                new StatsSummary.Runtime(fs.imageFsStats, fs.containerFsStats), new StatsSummary.Rlimit(t, known(procs[0]), known(procs[1])));
    }

    /** The node's, the logs' and the runtime's filesystems (capacity and free space from statvfs, usage from ImageFsInfo). */
    private final class FsInfo {
        final MachineUsage.Fs nodeFs = MachineUsage.statvfs(nodefs);
        final MachineUsage.Fs logsFs = MachineUsage.statvfs(podLogsDir);
        MachineUsage.Fs containerFs = nodeFs;
        StatsSummary.Fs imageFsStats;
        StatsSummary.Fs containerFsStats;

        FsInfo(Instant now) {
            ImageFsInfoResponse info = null;
            try {
                info = cri.imageFsInfo();
            } catch (StatusRuntimeException e) {
                // a runtime that does not tell: the image filesystem's figures stay out
            }
            if (info != null && info.getImageFilesystemsCount() > 0) {
                FilesystemUsage image = info.getImageFilesystems(0);
                MachineUsage.Fs ifs = MachineUsage.statvfs(Path.of(image.getFsId().getMountpoint()));
                imageFsStats = withUsage(ifs, time(image.getTimestamp(), now), image.getUsedBytes().getValue(), image.getInodesUsed().getValue());
                containerFs = ifs;
                containerFsStats = imageFsStats;
                if (info.getContainerFilesystemsCount() > 0) {
                    FilesystemUsage c = info.getContainerFilesystems(0);
                    containerFs = MachineUsage.statvfs(Path.of(c.getFsId().getMountpoint()));
                    containerFsStats = withUsage(containerFs, time(c.getTimestamp(), now), c.getUsedBytes().getValue(), c.getInodesUsed().getValue());
                }
            }
        }

        StatsSummary.Fs nodeFsStats(String t) {
            Long used = nodeFs.capacityBytes() < 0 ? null : nodeFs.capacityBytes() - nodeFs.availableBytes();
            Long inodesUsed = nodeFs.inodes() < 0 ? null : nodeFs.inodes() - nodeFs.inodesFree();
            return new StatsSummary.Fs(t, known(nodeFs.availableBytes()), known(nodeFs.capacityBytes()), used, known(nodeFs.inodesFree()),
                    known(nodeFs.inodes()), inodesUsed);
        }

        StatsSummary.Fs withUsage(MachineUsage.Fs on, String t, long used, long inodesUsed) {
            return new StatsSummary.Fs(t, known(on.availableBytes()), known(on.capacityBytes()), used, known(on.inodesFree()),
                    known(on.inodes()), inodesUsed);
        }
    }

    private FsInfo fsInfo(Instant now) {
        return new FsInfo(now);
    }

    /** Per pod uid the newest ready sandbox. */
    static List<PodSandbox> newestReadySandboxes(List<PodSandbox> all) {
        Map<String, PodSandbox> byUid = new LinkedHashMap<>();
        for (PodSandbox s : all) {
            if (s.getState() != PodSandboxState.SANDBOX_READY) {
                continue;
            }
            String uid = s.getLabelsOrDefault(KubeletKeys.POD_UID, s.getMetadata().getUid());
            PodSandbox other = byUid.get(uid);
            if (other == null || s.getCreatedAt() > other.getCreatedAt()) {
                byUid.put(uid, s);
            }
        }
        return new ArrayList<>(byUid.values());
    }

    private StatsSummary.Cpu cpu(String key, CpuUsage c) {
        Long total = c.hasUsageCoreNanoSeconds() ? c.getUsageCoreNanoSeconds().getValue() : null;
        Long rate;
        if (c.hasUsageNanoCores()) {
            rate = c.getUsageNanoCores().getValue();
        } else {
            rate = total == null ? null : rate(key, c.getTimestamp(), total);
        }
        return new StatsSummary.Cpu(time(c.getTimestamp()), rate, total);
    }

    /**
     * The nanocores used between the previous sample of {@code key} and this one, or null
     * without a usable previous sample (none, a counter that went back: a new cgroup, or no
     * time between them). The sample replaces the previous one, unless it is as old.
     */
    Long rate(String key, long timestampNanos, long coreNanos) {
        long[] prev = cpuSamples.get(key);
        Long rate = null;
        if (prev != null && coreNanos >= prev[1] && timestampNanos > prev[0]) {
            rate = (long) ((double) (coreNanos - prev[1]) / (timestampNanos - prev[0]) * 1e9);
        } else if (prev != null && timestampNanos == prev[0] && coreNanos == prev[1]) {
            return prev.length > 2 && prev[2] >= 0 ? prev[2] : null; // the same sample again: the same rate
        }
        cpuSamples.put(key, new long[] {timestampNanos, coreNanos, rate == null ? -1 : rate});
        return rate;
    }

    private static StatsSummary.Memory memory(MemoryUsage m) {
        return new StatsSummary.Memory(time(m.getTimestamp()), m.hasAvailableBytes() ? m.getAvailableBytes().getValue() : null,
                m.hasUsageBytes() ? m.getUsageBytes().getValue() : null, m.hasWorkingSetBytes() ? m.getWorkingSetBytes().getValue() : null,
                m.hasRssBytes() ? m.getRssBytes().getValue() : null, m.hasPageFaults() ? m.getPageFaults().getValue() : null,
                m.hasMajorPageFaults() ? m.getMajorPageFaults().getValue() : null);
    }

    private static StatsSummary.Network network(NetworkUsage n) {
        List<StatsSummary.Interface> all = new ArrayList<>();
        for (NetworkInterfaceUsage i : n.getInterfacesList()) {
            all.add(iface(i));
        }
        String t = time(n.getTimestamp());
        if (!n.hasDefaultInterface()) {
            return new StatsSummary.Network(t, null, null, null, null, null, all);
        }
        StatsSummary.Interface d = iface(n.getDefaultInterface());
        return new StatsSummary.Network(t, d.name(), d.rxBytes(), d.rxErrors(), d.txBytes(), d.txErrors(), all);
    }

    private static StatsSummary.Interface iface(NetworkInterfaceUsage i) {
        return new StatsSummary.Interface(i.getName(), i.getRxBytes().getValue(), i.getRxErrors().getValue(), i.getTxBytes().getValue(),
                i.getTxErrors().getValue());
    }

    private static StatsSummary.Cpu sumCpu(List<StatsSummary.ContainerStats> cs) {
        Long total = null;
        Long rate = null;
        String t = null;
        for (StatsSummary.ContainerStats c : cs) {
            if (c.cpu() == null) {
                continue;
            }
            t = t == null || c.cpu().time() != null && c.cpu().time().compareTo(t) > 0 ? c.cpu().time() : t;
            total = add(total, c.cpu().usageCoreNanoSeconds());
            rate = add(rate, c.cpu().usageNanoCores());
        }
        return t == null ? null : new StatsSummary.Cpu(t, rate, total);
    }

    private static StatsSummary.Memory sumMemory(List<StatsSummary.ContainerStats> cs) {
        StatsSummary.Memory sum = null;
        for (StatsSummary.ContainerStats c : cs) {
            StatsSummary.Memory m = c.memory();
            if (m == null) {
                continue;
            }
            sum = sum == null ? new StatsSummary.Memory(m.time(), null, m.usageBytes(), m.workingSetBytes(), m.rssBytes(), m.pageFaults(),
                    m.majorPageFaults())
                    : new StatsSummary.Memory(m.time().compareTo(sum.time()) > 0 ? m.time() : sum.time(), null, add(sum.usageBytes(), m.usageBytes()),
                    add(sum.workingSetBytes(), m.workingSetBytes()), add(sum.rssBytes(), m.rssBytes()), add(sum.pageFaults(), m.pageFaults()),
                    add(sum.majorPageFaults(), m.majorPageFaults()));
        }
        return sum;
    }

    private static Long add(Long a, Long b) {
        if (a == null) {
            return b;
        }
        return b == null ? a : Long.valueOf(a + b);
    }

    /** Whether a volume's usage counts as the pod's ephemeral storage: emptyDir on disk, configMap. */
    private static boolean ephemeralVolume(Pod pod, String plugin, String name) {
        if (plugin.equals(CONFIG_MAP)) {
            return true;
        }
        if (!plugin.equals(EMPTY_DIR)) {
            return false;
        }
        if (pod == null || pod.getSpec() == null) {
            return true;
        }
        for (Volume v : pod.getSpec().getVolumes()) {
            if (name.equals(v.getName()) && v.getEmptyDir() != null) {
                return !"Memory".equals(v.getEmptyDir().getMedium());
            }
        }
        return true;
    }

    private static Long known(long v) {
        return v < 0 ? null : v;
    }

    /** A CRI timestamp (nanoseconds since the epoch) as the API's time; 0 is now's. */
    static String time(long nanos) {
        return TIME.format(Instant.ofEpochSecond(0, nanos).truncatedTo(ChronoUnit.SECONDS));
    }

    private static String time(long nanos, Instant otherwise) {
        return nanos == 0 ? TIME.format(otherwise) : time(nanos);
    }
}
