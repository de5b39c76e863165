package dev.berth.agent.cgroup;

import dev.berth.agent.pod.PodCgroups;
import dev.berth.agent.pod.QosClass;
import dev.berth.cgroups.CgroupFiles;
import dev.berth.cgroups.CgroupLayout;
import dev.berth.cgroups.CgroupManager;
import dev.berth.cgroups.Resources;
import dev.berth.common.BerthException;
import dev.berth.common.DaemonThreads;
import io.fabric8.kubernetes.api.model.Pod;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The pods' cgroup tree, kept by the agent as the kubelet keeps it with its cgroupfs driver
 * and cgroups per QoS class: {@code <root>/kubepods} holds the node allocatable (cpu shares,
 * memory limit), Guaranteed pods' cgroups sit right under it, Burstable ones under
 * {@code kubepods/burstable} (whose cpu shares are the sum of its pods' cpu requests) and
 * BestEffort ones under {@code kubepods/besteffort} (2 shares). Each pod's cgroup
 * {@code pod<uid>} gets its limits ({@link PodCgroupResources}) before its sandbox runs and is
 * the sandbox's CRI cgroup parent; the runtime puts the pod's containers below it.
 *
 * <p>The runtime may create that cgroup too (berth's adopts it) or only its children (runc
 * makes missing parents), and may remove it with the sandbox (berth does; containerd never
 * does): so the agent creates it idempotently before every sandbox and on every sync, and
 * removes it once the pod's sandboxes are gone, which is a no-op when the runtime already did.
 * A cgroup that still has processes is never forced: it is left and retried. The tree itself
 * ({@code kubepods} and the QoS cgroups) stays, as the kubelet leaves it; cgroups outside
 * {@code <root>/kubepods} are never written or removed.
 */
public final class QosCgroups implements PodCgroups, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(QosCgroups.class);
    /** How often pod cgroups left with processes are tried again. */
    static final Duration RETRY_INTERVAL = Duration.ofSeconds(10);
    private static final String POD_PREFIX = "pod";

    /** The cgroup a pod was given, with what it was given. */
    private record Tracked(String path, PodCgroupResources resources) {
    }

    private final CgroupManager cgroups;
    private final NodeAllocatable allocatable;
    private final Long podPidsLimit;
    private final String kubepods;
    private final String burstable;
    private final String besteffort;
    /** Pods whose cgroup this agent ensured, by uid. */
    private final Map<String, Tracked> pods = new HashMap<>();
    /** Pod cgroups to remove once their processes are gone. */
    private final Set<String> leftovers = new TreeSet<>();
    private long burstableShares = -1;
    private ScheduledExecutorService retries;

    /**
     * @param cgroups the host's cgroups with the cgroupfs driver
     * @param cgroupRoot where {@code kubepods} goes ("/" for the hierarchies' roots)
     * @param allocatable what {@code kubepods} enforces
     * @param podPidsLimit the pids limit of every pod cgroup; null or not positive: none
     */
    public QosCgroups(CgroupManager cgroups, String cgroupRoot, NodeAllocatable allocatable, Long podPidsLimit) {
        if (!"cgroupfs".equals(cgroups.driver())) {
            throw new IllegalArgumentException("the agent's pod cgroups need the cgroupfs driver, not " + cgroups.driver());
        }
        if (cgroupRoot == null || !cgroupRoot.startsWith("/")) {
            throw new IllegalArgumentException("the cgroup root must be an absolute cgroup path, got \"" + cgroupRoot + "\"");
        }
        this.cgroups = cgroups;
        this.allocatable = allocatable;
        this.podPidsLimit = podPidsLimit;
        // podPath normalises and checks every component
        this.kubepods = cgroups.podPath(cgroupRoot + "/kubepods");
        this.burstable = kubepods + "/burstable";
        this.besteffort = kubepods + "/besteffort";
    }

    /** {@code <root>/kubepods}. */
    public String kubepods() {
        return kubepods;
    }

    /**
     * Creates (or adopts) {@code kubepods} with the node allocatable and the two QoS cgroups,
     * and starts retrying leftover pod cgroups.
     */
    public synchronized void start() {
        createTree();
        retries = DaemonThreads.scheduler("agent-cgroup-retries");
        long every = RETRY_INTERVAL.toMillis();
        retries.scheduleWithFixedDelay(this::retryLeftoversQuietly, every, every, TimeUnit.MILLISECONDS);
        LOG.info("pod cgroups under {} ({})", kubepods, cgroups.describe());
    }

    synchronized void createTree() {
        cgroups.createPod(kubepods, new Resources(allocatable.milliCpu() > 0 ? PodCgroupResources.shares(allocatable.milliCpu()) : null,
                null, null, null, null, allocatable.memoryBytes() > 0 ? allocatable.memoryBytes() : -1L, null, null, null, Map.of(),
                Map.of()));
        cgroups.createPod(besteffort, shares(PodCgroupResources.MIN_SHARES));
        burstableShares = -1;
        updateBurstable();
    }

    @Override
    public String parent(Pod pod) {
        return path(QosClass.of(pod.getSpec()), pod.getMetadata().getUid());
    }

    private String path(QosClass qos, String uid) {
        String qosDir = switch (qos) {
            case GUARANTEED -> kubepods;
            case BURSTABLE -> burstable;
            case BEST_EFFORT -> besteffort;
        };
        return qosDir + "/" + POD_PREFIX + uid;
    }

    @Override
    public synchronized void ensure(Pod pod) {
        String uid = pod.getMetadata().getUid();
        PodCgroupResources r = PodCgroupResources.of(pod.getSpec(), podPidsLimit);
        Tracked wanted = new Tracked(path(r.qos(), uid), r);
        Tracked before = pods.get(uid);
        if (wanted.equals(before) && exists(wanted.path())) {
            return;
        }
        leftovers.remove(wanted.path());
        if (before != null && !before.path().equals(wanted.path())) {
            removeOrKeep(before.path());
        }
        // untracked until its limits are written: a failed write is tried again by the next ensure
        pods.remove(uid);
        cgroups.createPod(wanted.path(), r.resources());
        pods.put(uid, wanted);
        updateBurstable();
        LOG.debug("pod cgroup {} ready ({})", wanted.path(), r.resources());
    }

    @Override
    public synchronized void released(String uid) {
        Tracked t = pods.remove(uid);
        // a pod this agent did not ensure (its sandbox outlived an earlier agent) may be in any QoS cgroup
        List<String> paths = t != null ? List.of(t.path())
                : List.of(path(QosClass.GUARANTEED, uid), path(QosClass.BURSTABLE, uid), path(QosClass.BEST_EFFORT, uid));
        for (String p : paths) {
            removeOrKeep(p);
        }
        if (t != null && t.resources().qos() == QosClass.BURSTABLE) {
            updateBurstable();
        }
    }

    /**
     * Removes the pod cgroups under {@code kubepods} of pods that have neither a sandbox (their
     * uids are {@code withSandboxes}) nor a cgroup this agent ensured: what an earlier agent
     * left when it stopped before their processes were gone.
     */
    public synchronized void removeOrphans(Set<String> withSandboxes) {
        for (String qosDir : List.of(kubepods, burstable, besteffort)) {
            for (String name : podCgroupNames(qosDir)) {
                String uid = name.substring(POD_PREFIX.length());
                if (!withSandboxes.contains(uid) && !pods.containsKey(uid)) {
                    LOG.info("pod cgroup {}/{} belongs to no pod: removing it", qosDir, name);
                    removeOrKeep(qosDir + "/" + name);
                }
            }
        }
    }

    /** Pod cgroups left because processes were still in them; for tests and the agent's status. */
    synchronized Set<String> leftovers() {
        return Set.copyOf(leftovers);
    }

    /** Tries each leftover pod cgroup again. */
    synchronized void retryLeftovers() {
        for (String path : new ArrayList<>(leftovers)) {
            if (tryRemove(path, false)) {
                leftovers.remove(path);
                LOG.info("pod cgroup {} removed now that its processes are gone", path);
            }
        }
    }

    private void retryLeftoversQuietly() {
        try {
            retryLeftovers();
        } catch (RuntimeException e) {
            LOG.warn("retrying leftover pod cgroups failed: {}", e.toString());
        }
    }

    private void removeOrKeep(String path) {
        if (tryRemove(path, true)) {
            leftovers.remove(path);
        } else {
            leftovers.add(path);
        }
    }

    /** Removes the cgroup unless a process is in it (or below it); true when it is gone. */
    private boolean tryRemove(String path, boolean first) {
        long pid = anyProcess(path);
        if (pid > 0) {
            if (first) {
                LOG.info("pod cgroup {} still has processes (pid {}): left, tried again every {} s", path, pid,
                        RETRY_INTERVAL.toSeconds());
            }
            return false;
        }
        try {
            cgroups.remove(path);
            return true;
        } catch (BerthException e) {
            if (first) {
                LOG.warn("pod cgroup {} cannot be removed yet: {}", path, e.getMessage());
            }
            return false;
        }
    }

    /** Burstable's shares: its pods' cpu requests together, written when they changed. */
    private void updateBurstable() {
        long milli = 0;
        for (Tracked t : pods.values()) {
            if (t.resources().qos() == QosClass.BURSTABLE) {
                milli += t.resources().cpuRequestMilli();
            }
        }
        long shares = PodCgroupResources.shares(milli);
        if (shares != burstableShares || !exists(burstable)) {
            cgroups.createPod(burstable, shares(shares));
            burstableShares = shares;
        }
    }

    private static Resources shares(long shares) {
        return new Resources(shares, null, null, null, null, null, null, null, null, Map.of(), Map.of());
    }

    /** Whether {@code path} is in the hierarchies of cpu and memory (where its limits are). */
    private boolean exists(String path) {
        CgroupLayout layout = cgroups.layout();
        for (String controller : List.of("cpu", "memory")) {
            Path root = layout.onV2(controller) ? layout.unifiedMount()
                    : layout.onV1(controller) ? layout.v1Mounts().get(CgroupLayout.v1Name(controller)) : null;
            if (root != null && !Files.isDirectory(root.resolve(path.substring(1)))) {
                return false;
            }
        }
        return true;
    }

    /** Every mounted hierarchy's root: the runtime may have made a pod's cgroup in any of them. */
    private List<Path> hierarchies() {
        CgroupLayout layout = cgroups.layout();
        Set<Path> roots = new LinkedHashSet<>();
        if (layout.unifiedMount() != null) {
            roots.add(layout.unifiedMount());
        }
        roots.addAll(layout.v1Mounts().values());
        return new ArrayList<>(roots);
    }

    /** A process in the cgroup {@code path} or below it, in any hierarchy; 0 when there is none. */
    private long anyProcess(String path) {
        for (Path root : hierarchies()) {
            long pid = anyProcess(root.resolve(path.substring(1)));
            if (pid > 0) {
                return pid;
            }
        }
        return 0;
    }

    private static long anyProcess(Path dir) {
        if (!Files.isDirectory(dir)) {
            return 0;
        }
        String procs = CgroupFiles.readStringIfPresent(dir.resolve("cgroup.procs"));
        if (procs != null && !procs.isEmpty()) {
            return Long.parseLong(procs.lines().findFirst().orElseThrow().trim());
        }
        try (DirectoryStream<Path> children = Files.newDirectoryStream(dir, Files::isDirectory)) {
            for (Path child : children) {
                long pid = anyProcess(child);
                if (pid > 0) {
                    return pid;
                }
            }
        } catch (NoSuchFileException e) {
            return 0;
        } catch (IOException e) {
            throw BerthException.internal("cannot list " + dir, e);
        }
        return 0;
    }

    /** The names of the pod cgroups directly under {@code qosDir}, in any hierarchy. */
    private Set<String> podCgroupNames(String qosDir) {
        Set<String> names = new TreeSet<>();
        for (Path root : hierarchies()) {
            Path dir = root.resolve(qosDir.substring(1));
            if (!Files.isDirectory(dir)) {
                continue;
            }
            try (DirectoryStream<Path> children = Files.newDirectoryStream(dir, POD_PREFIX + "*")) {
                for (Path child : children) {
                    if (Files.isDirectory(child)) {
                        names.add(child.getFileName().toString());
                    }
                }
            } catch (NoSuchFileException e) {
                // removed meanwhile
            } catch (IOException e) {
                throw BerthException.internal("cannot list " + dir, e);
            }
        }
        return names;
    }

    /** Stops the retries; the cgroups stay, as the pods do. */
    @Override
    public synchronized void close() {
        if (retries != null) {
            retries.shutdownNow();
            retries = null;
        }
    }
}
