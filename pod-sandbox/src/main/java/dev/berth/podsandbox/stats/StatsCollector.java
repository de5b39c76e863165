package dev.berth.podsandbox.stats;

import dev.berth.cgroups.Cgroups;
import dev.berth.cgroups.Cgroups.CgroupStats;
import dev.berth.common.BerthException;
import dev.berth.images.ImageService;
import dev.berth.podsandbox.container.ContainerFilter;
import dev.berth.podsandbox.container.ContainerManager;
import dev.berth.podsandbox.container.ContainerRecord;
import dev.berth.podsandbox.container.ContainerState;
import dev.berth.podsandbox.sandbox.SandboxService;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Measures containers and pods: cgroup counters (CPU with a rate from the previous sample,
 * memory, swap, processes, PSI), the containers' writable layers (walked, and cached for a
 * few seconds) and the pods' network interfaces (read inside their network namespace).
 * Reads only: it changes no container, sandbox or cgroup; its own state is the last CPU sample
 * per cgroup and the cached layer usages, both forgotten when their container goes.
 */
public final class StatsCollector {
    private static final Logger LOG = LoggerFactory.getLogger(StatsCollector.class);
    /** How long a walked writable layer's usage is reused. */
    public static final Duration LAYER_CACHE = Duration.ofSeconds(5);

    private final ContainerManager containers;
    private final PodDirectory pods;
    private final Cgroups cgroups;
    private final Function<ContainerRecord, Path> writableLayer;
    private final Path layerMountpoint;
    private final NetDev netDev;
    private final Clock clock;
    private final CpuRates cpuRates = new CpuRates();
    private final Map<Path, Usage.Filesystem> layerCache = new ConcurrentHashMap<>();

    /**
     * @param writableLayer the directory holding a container's writable layer (null when unknown)
     * @param layerMountpoint the filesystem the writable layers are on, as reported with them
     */
    public StatsCollector(ContainerManager containers, PodDirectory pods, Cgroups cgroups,
                          Function<ContainerRecord, Path> writableLayer, Path layerMountpoint, NetDev netDev,
                          Clock clock) {
        this.containers = containers;
        this.pods = pods;
        this.cgroups = cgroups;
        this.writableLayer = writableLayer;
        this.layerMountpoint = layerMountpoint;
        this.netDev = netDev;
        this.clock = clock;
    }

    /** berth's wiring: sandboxes from the sandbox service, writable layers in {@code containersDir/<id>}. */
    public static StatsCollector of(ContainerManager containers, SandboxService sandboxes, Cgroups cgroups,
                                    Path containersDir) {
        return new StatsCollector(containers, PodDirectory.of(sandboxes), cgroups,
                r -> containersDir.resolve(r.id()), containersDir, new NetDev(), Clock.systemUTC());
    }

    // ---------------------------------------------------------------- containers

    /** @throws BerthException NOT_FOUND for an unknown container */
    public Usage.Container container(String id) {
        if (id == null || id.isEmpty()) {
            throw BerthException.invalidArgument("a container id is required");
        }
        ContainerRecord r = containers.find(id)
                .orElseThrow(() -> BerthException.notFound("container %s not found", id));
        return container(r);
    }

    /** The containers that match {@code filter}, each measured. */
    public List<Usage.Container> containers(ContainerFilter filter) {
        List<ContainerRecord> all = containers.list();
        forgetGone(all);
        List<Usage.Container> out = new ArrayList<>();
        for (ContainerRecord r : all) {
            if (filter.matches(r)) {
                out.add(container(r));
            }
        }
        return out;
    }

    private Usage.Container container(ContainerRecord r) {
        // an exited container's cgroup may linger until removal: its figures are not usage any more
        Usage.Cgroup cg = r.state() == ContainerState.RUNNING ? cgroup("c/" + r.id(), r.cgroupsPath()) : null;
        Usage.Filesystem fs = layer(r);
        long ts = cg != null ? cg.timestampNanos() : now();
        return new Usage.Container(r.id(), r.sandboxId(), r.name(), r.attempt(), r.imageRef(), r.labels(),
                r.annotations(), ts, cg, fs);
    }

    // ---------------------------------------------------------------- pods

    /** @throws BerthException NOT_FOUND for an unknown pod */
    public Usage.Pod pod(String id) {
        if (id == null || id.isEmpty()) {
            throw BerthException.invalidArgument("a pod sandbox id is required");
        }
        PodDirectory.Pod p = pods.find(id);
        List<ContainerRecord> all = containers.list();
        return pod(p, all);
    }

    /** The pods whose id starts with {@code idPrefix} ("" = any) and whose labels include {@code labels}. */
    public List<Usage.Pod> pods(String idPrefix, Map<String, String> labels) {
        List<ContainerRecord> all = containers.list();
        forgetGone(all);
        boolean everyPod = (idPrefix == null || idPrefix.isEmpty()) && (labels == null || labels.isEmpty());
        List<PodDirectory.Pod> listed = pods.list(idPrefix == null ? "" : idPrefix, labels == null ? Map.of() : labels);
        if (everyPod) {
            cpuRates.retain("p/", listed.stream().map(PodDirectory.Pod::id).toList());
        }
        List<Usage.Pod> out = new ArrayList<>();
        for (PodDirectory.Pod p : listed) {
            out.add(pod(p, all));
        }
        return out;
    }

    private Usage.Pod pod(PodDirectory.Pod p, List<ContainerRecord> all) {
        Usage.Cgroup cg = p.cgroupPath().isEmpty() ? null : cgroup("p/" + p.id(), p.cgroupPath());
        List<Usage.Interface> ifaces = List.of();
        long netTs = 0;
        if (p.netns() != null && Files.exists(p.netns())) {
            try {
                ifaces = netDev.read(p.netns());
                netTs = now();
            } catch (BerthException e) {
                LOG.debug("no network counters for pod {}: {}", p.id(), e.getMessage());
            }
        }
        List<Usage.Container> cs = new ArrayList<>();
        for (ContainerRecord r : all) {
            if (r.sandboxId().equals(p.id())) {
                cs.add(container(r));
            }
        }
        long ts = cg != null ? cg.timestampNanos() : now();
        return new Usage.Pod(p.id(), p.metadata().name(), p.metadata().uid(), p.metadata().namespace(),
                p.metadata().attempt(), p.labels(), p.annotations(), ts, cg, netTs, ifaces, cs);
    }

    // ---------------------------------------------------------------- shared

    /** The cgroup's figures, null when it has no cgroup or the cgroup is gone. */
    Usage.Cgroup cgroup(String key, String path) {
        if (path == null || path.isEmpty()) {
            return null;
        }
        CgroupStats s = cgroups.stats(path).orElse(null);
        if (s == null) {
            return null;
        }
        return convert(s, cpuRates.sample(key, s.timestampNanos(), s.cpuUsageNanos()));
    }

    /** One cgroup snapshot in berth's terms, with the CPU rate computed by the caller. */
    static Usage.Cgroup convert(CgroupStats s, Long nanoCores) {
        Map<String, Usage.Pressure> psi = new HashMap<>();
        s.pressure().forEach((k, v) -> {
            Usage.Pressure p = Usage.Pressure.of(v);
            if (p != null) {
                psi.put(k, p);
            }
        });
        return new Usage.Cgroup(s.timestampNanos(), new Usage.Cpu(s.timestampNanos(), s.cpuUsageNanos(), nanoCores),
                Usage.Memory.of(s), s.swapUsageBytes(), s.pids(), s.oomKills(), psi);
    }

    private Usage.Filesystem layer(ContainerRecord r) {
        Path dir = writableLayer.apply(r);
        if (dir == null || !Files.isDirectory(dir)) {
            return null;
        }
        long now = now();
        Usage.Filesystem cached = layerCache.get(dir);
        if (cached != null && now - cached.timestampNanos() < LAYER_CACHE.toNanos()) {
            return cached;
        }
        ImageService.Usage u = ImageService.usageOf(dir);
        Usage.Filesystem fs = new Usage.Filesystem(now, layerMountpoint, u.bytes(), u.inodes());
        layerCache.put(dir, fs);
        return fs;
    }

    private void forgetGone(List<ContainerRecord> all) {
        Set<String> live = new HashSet<>();
        Set<Path> layers = new HashSet<>();
        for (ContainerRecord r : all) {
            live.add(r.id());
            Path dir = writableLayer.apply(r);
            if (dir != null) {
                layers.add(dir);
            }
        }
        cpuRates.retain("c/", live);
        layerCache.keySet().retainAll(layers);
    }

    private long now() {
        java.time.Instant i = clock.instant();
        return i.getEpochSecond() * 1_000_000_000L + i.getNano();
    }
}
