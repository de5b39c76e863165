package dev.berth.cgroups;

import dev.berth.common.BerthException;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * berth's cgroup manager: each managed controller is served by its v2 implementation when
 * the unified hierarchy offers it and by its v1 implementation otherwise. A cgroup path
 * ("/kubepods/burstable/pod1") names the same directory under every hierarchy root berth
 * uses. Only directories under paths berth was asked to create are created, written or
 * removed; host mounts are only read.
 */
public final class CgroupManager implements Cgroups {
    private static final Logger LOG = LoggerFactory.getLogger(CgroupManager.class);
    private static final long DRAIN_TIMEOUT_NANOS = TimeUnit.SECONDS.toNanos(10);

    /** A controller implementation bound to the root of the hierarchy that serves it. */
    record Bound(Controller controller, Path root, boolean v2) {
    }

    private final CgroupLayout layout;
    private final CgroupDriver driver;
    private final List<Bound> bound = new ArrayList<>();
    /** Hierarchy roots berth creates its cgroups in (unified first when mounted). */
    private final List<Path> roots = new ArrayList<>();
    /** Every mounted hierarchy root: kill and remove also clean up what the OCI runtime created there. */
    private final List<Path> allRoots = new ArrayList<>();
    /** v2 controllers enabled in the subtree of every cgroup berth creates in the unified hierarchy. */
    private final List<String> v2Controllers = new ArrayList<>();
    private final Path v1Freezer;
    private final Path v1Memory;
    private final OomMonitor oomMonitor;
    /** Whether killAll may use v2 cgroup.kill where the kernel has it (tests turn it off to exercise freeze-and-kill). */
    volatile boolean useCgroupKill = true;

    public CgroupManager(CgroupLayout layout, CgroupDriver driver) {
        this(layout, driver, TimeUnit.SECONDS.toMillis(1));
    }

    /** @param oomPollMillis how often {@link #watchOom} polls the watched cgroups */
    public CgroupManager(CgroupLayout layout, CgroupDriver driver, long oomPollMillis) {
        this.layout = layout;
        this.driver = driver;
        Set<Path> used = new LinkedHashSet<>();
        if (layout.unifiedMount() != null) {
            used.add(layout.unifiedMount());
        }
        for (String c : CgroupLayout.MANAGED) {
            if (layout.onV2(c)) {
                bind(v2(c), layout.unifiedMount(), true, used);
                v2Controllers.add(c);
            } else if (layout.onV1(c)) {
                bind(v1(c), layout.v1Mounts().get(CgroupLayout.v1Name(c)), false, used);
                if ("cpu".equals(c) && layout.v1Mounts().containsKey("cpuacct")) {
                    bind(new dev.berth.cgroups.v1.CpuacctController(), layout.v1Mounts().get("cpuacct"), false, used);
                }
            }
        }
        this.v1Freezer = layout.v1Mounts().get("freezer");
        if (v1Freezer != null) {
            used.add(v1Freezer);
        }
        this.v1Memory = layout.onV1("memory") ? layout.v1Mounts().get("memory") : null;
        roots.addAll(used);
        Set<Path> all = new LinkedHashSet<>(used);
        all.addAll(layout.v1Mounts().values());
        allRoots.addAll(all);
        this.oomMonitor = new OomMonitor(this, oomPollMillis);
    }

    /** The manager for this host's mounts. */
    public static CgroupManager detect(String driver) {
        return new CgroupManager(CgroupLayout.detect(), CgroupDriver.of(driver));
    }

    private void bind(Controller c, Path root, boolean v2, Set<Path> used) {
        bound.add(new Bound(c, root, v2));
        used.add(root);
    }

    private static Controller v2(String name) {
        switch (name) {
            case "cpu": return new dev.berth.cgroups.v2.CpuController();
            case "cpuset": return new CpusetController(false);
            case "memory": return new dev.berth.cgroups.v2.MemoryController();
            case "pids": return new PidsController();
            case "io": return new dev.berth.cgroups.v2.IoController();
            case "hugetlb": return new HugetlbController(true);
            default: throw new IllegalArgumentException(name);
        }
    }

    private static Controller v1(String name) {
        switch (name) {
            case "cpu": return new dev.berth.cgroups.v1.CpuController();
            case "cpuset": return new CpusetController(true);
            case "memory": return new dev.berth.cgroups.v1.MemoryController();
            case "pids": return new PidsController();
            case "io": return new dev.berth.cgroups.v1.BlkioController();
            case "hugetlb": return new HugetlbController(false);
            default: throw new IllegalArgumentException(name);
        }
    }

    public CgroupLayout layout() {
        return layout;
    }

    @Override
    public String mode() {
        return layout.mode();
    }

    @Override
    public String driver() {
        return driver.id();
    }

    @Override
    public String describe() {
        return layout.describe() + "; driver " + driver.id();
    }

    @Override
    public String createPod(String parent, Resources resources) {
        String path = driver.podPath(parent);
        if ("/".equals(path)) {
            throw BerthException.invalidArgument("the pod cgroup parent %s is the root cgroup", parent);
        }
        validate(resources);
        create(path, true);
        apply(path, resources);
        LOG.debug("pod cgroup {} ready", path);
        return path;
    }

    @Override
    public String containerPath(String podCgroup, String containerId) {
        return driver.containerPath(podCgroup, containerId);
    }

    @Override
    public String createContainer(String podCgroup, String containerId, Resources resources) {
        String handle = driver.containerPath(podCgroup, containerId);
        String path = driver.resolve(handle);
        validate(resources);
        create(path, false);
        apply(path, resources);
        return handle;
    }

    @Override
    public List<Path> directories(String path) {
        String p = driver.resolve(path);
        List<Path> out = new ArrayList<>();
        for (Path root : roots) {
            out.add(dir(root, p));
        }
        return out;
    }

    @Override
    public void update(String path, Resources resources) {
        String p = driver.resolve(path);
        validate(resources);
        // a controller-bearing hierarchy decides: the OCI runtime may not mirror a cgroup into an empty cgroup2 of a hybrid host
        requireHierarchy();
        Path probe = bound.isEmpty() ? roots.get(0) : bound.get(0).root();
        if (!Files.isDirectory(dir(probe, p))) {
            throw BerthException.notFound("cgroup %s does not exist", p);
        }
        apply(p, resources);
    }

    private void requireHierarchy() {
        if (roots.isEmpty()) {
            throw BerthException.failedPrecondition("this host has no cgroup hierarchy mounted");
        }
    }

    /** Checks every value before anything is written, so a bad request changes nothing. */
    void validate(Resources r) {
        if (r == null) {
            return;
        }
        Conversions.cpuMax(r.cpuQuota(), r.cpuPeriod());
        Conversions.memoryLimit(r.memoryLimitBytes());
        Conversions.v2SwapMax(r.memoryLimitBytes(), r.memorySwapLimitBytes());
        Conversions.pidsMax(r.pidsLimit());
        Conversions.cpuset(r.cpusetCpus(), "cpuset cpus");
        Conversions.cpuset(r.cpusetMems(), "cpuset mems");
        if (r.hugepageLimits() != null) {
            r.hugepageLimits().keySet().forEach(Conversions::hugepageSize);
        }
        if (r.unified() != null && !r.unified().isEmpty()) {
            UnifiedKeys.validate(r.unified());
            if (layout.unifiedMount() == null) {
                throw BerthException.invalidArgument("unified cgroup settings need cgroup v2, and this host has none");
            }
            for (String key : r.unified().keySet()) {
                String controller = UnifiedKeys.controllerOf(key);
                if (!"cgroup".equals(controller) && !layout.onV2(controller)) {
                    throw BerthException.invalidArgument("unified key %s needs the v2 %s controller, which this host serves from cgroup v1",
                            key, controller);
                }
            }
        }
    }

    private void apply(String path, Resources r) {
        if (r == null) {
            return;
        }
        checkFilesExist(path, r);
        for (Bound b : bound) {
            b.controller().apply(dir(b.root(), path), r);
        }
        if (r.unified() != null && !r.unified().isEmpty()) {
            Path dir = dir(layout.unifiedMount(), path);
            for (Map.Entry<String, String> e : r.unified().entrySet()) {
                Path file = dir.resolve(e.getKey());
                try {
                    CgroupFiles.write(file, e.getValue());
                } catch (BerthException ex) {
                    if (ex.kind() == BerthException.Kind.INTERNAL) {
                        throw BerthException.invalidArgument("unified key %s = %s was refused: %s", e.getKey(), e.getValue(), ex.getMessage());
                    }
                    throw ex;
                }
            }
        }
    }

    /** Unknown unified keys and unsupported hugepage sizes are refused before anything is written. */
    private void checkFilesExist(String path, Resources r) {
        if (r.unified() != null && !r.unified().isEmpty()) {
            Path dir = dir(layout.unifiedMount(), path);
            for (String key : r.unified().keySet()) {
                if (!Files.isRegularFile(dir.resolve(key))) {
                    throw BerthException.invalidArgument("unified key %s is not a file of cgroup %s", key, path);
                }
            }
        }
        if (r.hugepageLimits() != null && !r.hugepageLimits().isEmpty()) {
            for (Bound b : bound) {
                if ("hugetlb".equals(b.controller().name())) {
                    Path dir = dir(b.root(), path);
                    for (String size : r.hugepageLimits().keySet()) {
                        String file = "hugetlb." + size + (b.v2() ? ".max" : ".limit_in_bytes");
                        if (!Files.isRegularFile(dir.resolve(file))) {
                            throw BerthException.invalidArgument("hugepage size %s is not supported by this kernel", size);
                        }
                    }
                }
            }
        }
    }

    /** Creates {@code path} in every hierarchy berth uses; a pod also delegates controllers to its children. */
    private void create(String path, boolean delegate) {
        requireHierarchy();
        List<Path> created = new ArrayList<>();
        try {
            for (Path root : roots) {
                boolean unified = root.equals(layout.unifiedMount());
                Path current = root;
                for (String part : path.substring(1).split("/")) {
                    if (unified) {
                        enableControllers(current);
                    }
                    current = current.resolve(part);
                    if (mkdir(current)) {
                        created.add(current);
                    }
                    // also for adopted directories: prepare only fills what is still empty
                    for (Bound b : bound) {
                        if (b.root().equals(root)) {
                            b.controller().prepare(current);
                        }
                    }
                }
                if (unified && delegate) {
                    enableControllers(current);
                }
            }
        } catch (RuntimeException e) {
            // undo what this call created, deepest first
            for (int i = created.size() - 1; i >= 0; i--) {
                try {
                    Files.deleteIfExists(created.get(i));
                } catch (IOException suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            throw e;
        }
    }

    private static boolean mkdir(Path dir) {
        try {
            Files.createDirectory(dir);
            return true;
        } catch (FileAlreadyExistsException e) {
            if (!Files.isDirectory(dir)) {
                throw BerthException.failedPrecondition("%s exists and is not a cgroup", dir);
            }
            return false;
        } catch (IOException e) {
            throw BerthException.internal("cannot create cgroup " + dir, e);
        }
    }

    /** Enables berth's v2 controllers in {@code dir}'s subtree_control where offered and not yet on. */
    private void enableControllers(Path dir) {
        if (v2Controllers.isEmpty()) {
            return;
        }
        String available = CgroupFiles.readString(dir.resolve("cgroup.controllers"));
        String enabled = CgroupFiles.readString(dir.resolve("cgroup.subtree_control"));
        if (available == null) {
            return;
        }
        Set<String> on = Set.of(enabled == null || enabled.isEmpty() ? new String[0] : enabled.split(" "));
        Set<String> offered = Set.of(available.isEmpty() ? new String[0] : available.split(" "));
        StringBuilder add = new StringBuilder();
        for (String c : v2Controllers) {
            if (offered.contains(c) && !on.contains(c)) {
                add.append(add.length() == 0 ? "+" : " +").append(c);
            }
        }
        if (add.length() > 0) {
            try {
                CgroupFiles.write(dir.resolve("cgroup.subtree_control"), add.toString());
            } catch (BerthException e) {
                throw BerthException.failedPrecondition("cannot enable %s in %s (a cgroup with processes cannot delegate"
                        + " controllers): %s", add, dir, e.getMessage());
            }
        }
    }

    @Override
    public void killAll(String path) {
        String p = driver.resolve(path);
        if ("/".equals(p)) {
            throw BerthException.invalidArgument("refusing to kill every process of the root cgroup");
        }
        Path unifiedDir = layout.unifiedMount() == null ? null : dir(layout.unifiedMount(), p);
        if (useCgroupKill && unifiedDir != null && Files.exists(unifiedDir.resolve("cgroup.kill"))) {
            CgroupFiles.write(unifiedDir.resolve("cgroup.kill"), "1");
        }
        long self = ProcessHandle.current().pid();
        long deadline = System.nanoTime() + DRAIN_TIMEOUT_NANOS;
        long sleep = 1;
        while (true) {
            Set<Long> pids = livePids(p);
            pids.remove(self);
            if (pids.isEmpty()) {
                return;
            }
            LOG.debug("killing {} in cgroup {}", pids, p);
            if (System.nanoTime() > deadline) {
                throw BerthException.deadlineExceeded("processes %s of cgroup %s survived SIGKILL", pids, p);
            }
            boolean frozen = freeze(p, true);
            try {
                for (long pid : livePids(p)) {
                    if (pid != self) {
                        ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
                    }
                }
            } finally {
                if (frozen) {
                    freeze(p, false);
                }
            }
            sleep(sleep);
            sleep = Math.min(sleep * 2, 50);
        }
    }

    /**
     * Freezes (or thaws) the cgroup so no process can fork while it is being killed: v1 freezer
     * when mounted, else v2 cgroup.freeze. Returns whether a freezer was used.
     */
    private boolean freeze(String path, boolean freeze) {
        if (v1Freezer != null) {
            Path state = dir(v1Freezer, path).resolve("freezer.state");
            if (!Files.exists(state)) {
                return false;
            }
            CgroupFiles.write(state, freeze ? "FROZEN" : "THAWED");
            if (freeze) {
                long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(1);
                while (!"FROZEN".equals(CgroupFiles.readString(state)) && System.nanoTime() < until) {
                    sleep(1);
                    CgroupFiles.write(state, "FROZEN");
                }
            }
            return true;
        }
        if (layout.unifiedMount() != null) {
            Path file = dir(layout.unifiedMount(), path).resolve("cgroup.freeze");
            if (Files.exists(file)) {
                CgroupFiles.write(file, freeze ? "1" : "0");
                return true;
            }
        }
        return false;
    }

    /** Every process (not zombie) in the cgroup or its descendants, in any hierarchy. */
    Set<Long> livePids(String path) {
        Set<Long> pids = new LinkedHashSet<>();
        for (Path root : allRoots) {
            collectPids(dir(root, path), pids);
        }
        pids.removeIf(CgroupManager::isZombieOrGone);
        return pids;
    }

    private static void collectPids(Path dir, Set<Long> into) {
        if (!Files.isDirectory(dir)) {
            return;
        }
        String procs = CgroupFiles.readStringIfPresent(dir.resolve("cgroup.procs"));
        if (procs != null && !procs.isEmpty()) {
            for (String line : procs.split("\n")) {
                into.add(Long.parseLong(line.trim()));
            }
        }
        try (DirectoryStream<Path> children = Files.newDirectoryStream(dir, Files::isDirectory)) {
            for (Path child : children) {
                collectPids(child, into);
            }
        } catch (NoSuchFileException e) {
            // removed concurrently
        } catch (IOException e) {
            throw BerthException.internal("cannot list " + dir, e);
        }
    }

    private static boolean isZombieOrGone(long pid) {
        // a process that exits while we look makes the read fail with ESRCH: it is gone
        String stat = CgroupFiles.readStringIfPresent(Path.of("/proc", Long.toString(pid), "stat"));
        if (stat == null) {
            return true;
        }
        int paren = stat.lastIndexOf(')');
        return paren > 0 && paren + 2 < stat.length() && (stat.charAt(paren + 2) == 'Z' || stat.charAt(paren + 2) == 'X');
    }

    @Override
    public void remove(String path) {
        String p = driver.resolve(path);
        if ("/".equals(p)) {
            throw BerthException.invalidArgument("refusing to remove the root cgroup");
        }
        oomMonitor.forget(p);
        long deadline = System.nanoTime() + DRAIN_TIMEOUT_NANOS;
        for (Path root : allRoots) {
            removeTree(dir(root, p), deadline);
        }
    }

    private static void removeTree(Path dir, long deadline) {
        if (!Files.isDirectory(dir)) {
            return;
        }
        try (DirectoryStream<Path> children = Files.newDirectoryStream(dir, Files::isDirectory)) {
            for (Path child : children) {
                removeTree(child, deadline);
            }
        } catch (NoSuchFileException e) {
            return;
        } catch (IOException e) {
            throw BerthException.internal("cannot list " + dir, e);
        }
        long sleep = 1;
        while (true) {
            try {
                Files.deleteIfExists(dir);
                return;
            } catch (FileSystemException e) {
                String reason = String.valueOf(e.getReason());
                if (!reason.contains("busy") || System.nanoTime() > deadline) {
                    throw BerthException.failedPrecondition("cannot remove cgroup %s: %s", dir, reason);
                }
            } catch (IOException e) {
                throw BerthException.internal("cannot remove cgroup " + dir, e);
            }
            // the kernel is still draining exited processes
            sleep(sleep);
            sleep = Math.min(sleep * 2, 100);
        }
    }

    @Override
    public Optional<CgroupStats> stats(String path) {
        String p = driver.resolve(path);
        java.time.Instant clock = java.time.Instant.now();
        long now = clock.getEpochSecond() * 1_000_000_000L + clock.getNano();
        StatsAccumulator acc = new StatsAccumulator();
        boolean any = false;
        for (Bound b : bound) {
            String d = dirString(b.root(), p);
            if (!any) {
                if (!Files.isDirectory(Path.of(d))) {
                    return Optional.empty();
                }
                any = true;
            }
            b.controller().stats(d, acc);
        }
        if (!any) {
            return Optional.empty();
        }
        if (layout.unifiedMount() != null) {
            String d = dirString(layout.unifiedMount(), p);
            acc.pressure("cpu", CgroupFiles.readPressure(d + "cpu.pressure"));
            acc.pressure("memory", CgroupFiles.readPressure(d + "memory.pressure"));
            acc.pressure("io", CgroupFiles.readPressure(d + "io.pressure"));
        }
        return Optional.of(acc.toStats(now));
    }

    @Override
    public long oomKills(String path) {
        return oomKillsResolved(driver.resolve(path));
    }

    long oomKillsResolved(String p) {
        if (layout.onV2("memory")) {
            return dev.berth.cgroups.v2.MemoryController.oomKills(dirString(layout.unifiedMount(), p));
        }
        if (v1Memory != null) {
            return dev.berth.cgroups.v1.MemoryController.oomKills(dirString(v1Memory, p));
        }
        return 0;
    }

    @Override
    public AutoCloseable watchOom(String path, OomListener listener) {
        return oomMonitor.watch(driver.resolve(path), listener);
    }

    @Override
    public void close() {
        oomMonitor.close();
    }

    private static Path dir(Path root, String path) {
        return "/".equals(path) ? root : root.resolve(path.substring(1));
    }

    private static String dirString(Path root, String path) {
        String r = root.toString();
        return "/".equals(path) ? r + "/" : r + path + "/";
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new BerthException(BerthException.Kind.CANCELLED, "interrupted while waiting for a cgroup");
        }
    }
}
