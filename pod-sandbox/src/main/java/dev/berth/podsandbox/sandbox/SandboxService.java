package dev.berth.podsandbox.sandbox;

import dev.berth.cgroups.Cgroups;
import dev.berth.cgroups.Resources;
import dev.berth.common.BerthException;
import dev.berth.common.PrivateFiles;
import dev.berth.common.StepTimer;
import dev.berth.host.HostMounts;
import dev.berth.host.HostNamespaces;
import dev.berth.host.HostProcesses;
import dev.berth.host.LinuxMounts;
import dev.berth.host.LinuxNamespaces;
import dev.berth.host.LinuxProcesses;
import dev.berth.host.ProcessIdentity;
import dev.berth.networking.PodNetwork;
import dev.berth.podsandbox.idmap.IdMapper;
import dev.berth.podsandbox.idmap.IdShift;
import dev.berth.podsandbox.namespaces.NamespacePins;
import dev.berth.podsandbox.namespaces.PodNamespaces;
import dev.berth.podsandbox.namespaces.Sysctls;
import dev.berth.podsandbox.oci.InfraBundle;
import dev.berth.podsandbox.oci.OciRuntime;
import dev.berth.podsandbox.oci.RuntimeHandlers;
import dev.berth.podsandbox.store.SandboxRecord;
import dev.berth.podsandbox.store.SandboxRecord.Phase;
import dev.berth.podsandbox.store.SandboxStore;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The pod sandbox lifecycle: RunPodSandbox, StopPodSandbox, RemovePodSandbox, status and list.
 *
 * <p>Run pins the pod's namespaces, applies its sysctls, mounts its /dev/shm, writes its
 * identity files, creates its cgroup, attaches its network and, for a shared PID namespace,
 * starts its infra process; every completed step is undone in reverse if a later one fails.
 * The record is on disk before the first side effect, so whatever a crash leaves behind is
 * known and RemovePodSandbox releases it.
 *
 * <p>Per sandbox on disk: {@code <stateDir>/<id>/sandbox.json} (persistent) and, under
 * {@code <runDir>/<id>/}: {@code ns/{net,ipc,uts}} (pinned namespaces), {@code shm/} (the pod's
 * /dev/shm), {@code hostname}, {@code hosts}, {@code resolv.conf}, {@code infra/} (OCI bundle of
 * the infra process). A pod in a user namespace of its own also has {@code ns/user}, its files in
 * {@code etc/}, and their idmapped views {@code etc-mapped/} and {@code shm-mapped/} where the
 * filesystem takes idmapped mounts.
 */
public final class SandboxService {
    private static final Logger LOG = LoggerFactory.getLogger(SandboxService.class);
    private static final Pattern HOSTNAME = Pattern.compile("[A-Za-z0-9]([A-Za-z0-9.-]{0,62}[A-Za-z0-9])?");
    private static final SecureRandom RANDOM = new SecureRandom();

    private final Path runDir;
    private final Path infraDir;
    private final RuntimeHandlers handlers;
    private final PodNetwork network;
    private final Cgroups cgroups;
    private final SandboxContainers containers;
    private final SandboxStore store;
    private final HostMounts mounts;
    private final HostProcesses processes;
    private final NamespacePins pins;
    private final IdMapper idMapper;
    /** The largest /dev/shm a pod may ask for (see {@link #checkShmSize}). */
    private final long maxShmSize = halfOfHostMemory();

    /**
     * On the host's own mounts, namespaces and processes.
     *
     * @param stateDir persistent records (e.g. {@code /var/lib/berth/sandboxes})
     * @param runRoot runtime state (e.g. {@code /run/berth}); sandboxes live in its {@code sandboxes/}
     */
    public SandboxService(Path stateDir, Path runRoot, RuntimeHandlers handlers, PodNetwork network, Cgroups cgroups,
            SandboxContainers containers) {
        this(stateDir, runRoot, handlers, network, cgroups, containers, LinuxMounts.INSTANCE, LinuxNamespaces.INSTANCE,
                LinuxProcesses.INSTANCE);
    }

    public SandboxService(Path stateDir, Path runRoot, RuntimeHandlers handlers, PodNetwork network, Cgroups cgroups,
            SandboxContainers containers, HostMounts mounts, HostNamespaces namespaces, HostProcesses processes) {
        this(stateDir, runRoot, handlers, network, cgroups, containers, mounts, namespaces, processes,
                mounts == LinuxMounts.INSTANCE ? IdMapper.HOST : IdMapper.NONE);
    }

    /** @param idMapper idmapped mounts for pods in a user namespace (see {@link #ownPodFiles}) */
    public SandboxService(Path stateDir, Path runRoot, RuntimeHandlers handlers, PodNetwork network, Cgroups cgroups,
            SandboxContainers containers, HostMounts mounts, HostNamespaces namespaces, HostProcesses processes,
            IdMapper idMapper) {
        this.idMapper = idMapper;
        this.mounts = mounts;
        this.processes = processes;
        this.pins = new NamespacePins(mounts, namespaces);
        this.runDir = runRoot.resolve("sandboxes");
        this.infraDir = runRoot.resolve("infra");
        this.handlers = handlers;
        this.network = network;
        this.cgroups = cgroups;
        this.containers = containers;
        this.store = new SandboxStore(stateDir);
        // closed to other users, also when an older berth left them open: records hold the pod's
        // config, and the run directories its namespaces, /dev/shm and files
        try {
            PrivateFiles.directory(stateDir);
            PrivateFiles.directory(runDir);
            PrivateFiles.directory(infraDir);
        } catch (IOException e) {
            throw BerthException.failedPrecondition("cannot prepare the sandbox directories %s and %s: %s", stateDir,
                    runDir, e.getMessage());
        }
    }

    /**
     * Reloads the records at start-up. A sandbox whose creation a crash interrupted, or one of
     * whose pinned namespaces is gone (the run root is wiped at reboot), is NOTREADY; the
     * network's leftovers of sandboxes berth no longer knows are garbage-collected.
     */
    public int recover() {
        List<SandboxRecord> records = store.load();
        for (SandboxRecord r : records) {
            boolean lost = Stream.of(r.netns(), r.ipcns(), r.utsns(), r.userns())
                    .anyMatch(pin -> pin != null && !mounts.isMountPoint(Path.of(pin)));
            if (r.phase() == Phase.CREATING || (r.phase() == Phase.READY && lost)) {
                SandboxStore.Entry e = store.get(r.id()).orElseThrow();
                e.lock().lock();
                try {
                    store.update(e, rec -> rec.withPhase(Phase.NOTREADY));
                } catch (BerthException ex) {
                    // e.g. a full disk: the next start finds the same record and decides the same
                    LOG.warn("sandbox {} is NOTREADY but its record cannot be written: {}", r.id(), ex.getMessage());
                    store.updateInMemory(e, rec -> rec.withPhase(Phase.NOTREADY));
                } finally {
                    e.lock().unlock();
                }
            }
        }
        try {
            network.garbageCollect(records.stream().map(SandboxRecord::id).collect(Collectors.toSet()));
        } catch (RuntimeException e) {
            LOG.warn("network garbage collection after restart failed: {}", e.getMessage());
        }
        LOG.info("reloaded {} sandbox record(s)", records.size());
        return records.size();
    }

    // ---------------------------------------------------------------- RunPodSandbox

    /** Creates and starts a sandbox; returns its id. */
    public String run(SandboxConfig config) {
        StepTimer timer = new StepTimer(LOG.isDebugEnabled());
        SandboxConfig.Metadata md = config.metadata();
        if (md == null || blank(md.name()) || blank(md.namespace()) || blank(md.uid())) {
            throw BerthException.invalidArgument("sandbox metadata needs a name, a namespace and a uid");
        }
        if (md.attempt() < 0) {
            throw BerthException.invalidArgument("sandbox attempt must not be negative");
        }
        SandboxConfig.NamespaceOptions nso = config.namespaces();
        requireMode("network", nso.network(), SandboxConfig.NamespaceMode.POD, SandboxConfig.NamespaceMode.NODE);
        requireMode("ipc", nso.ipc(), SandboxConfig.NamespaceMode.POD, SandboxConfig.NamespaceMode.NODE);
        if (nso.pid() == SandboxConfig.NamespaceMode.TARGET && nso.targetId().isEmpty()) {
            throw BerthException.invalidArgument("pid namespace mode TARGET needs a target_id");
        }
        if (nso.ownUser() && (nso.hostNetwork() || nso.hostIpc() || nso.pid() == SandboxConfig.NamespaceMode.NODE)) {
            // the host's namespaces belong to the host's user namespace: the pod's root could
            // neither mount sysfs nor mqueue in them
            throw BerthException.invalidArgument("a pod with a user namespace of its own needs its own network, IPC and PID namespaces");
        }
        OciRuntime runtime = handlers.resolve(config.runtimeHandler());
        boolean ownNet = !nso.hostNetwork();
        boolean ownIpc = !nso.hostIpc();
        Map<String, String> sysctls = Sysctls.validate(config.sysctls(), ownNet, ownIpc);
        IdentityFiles.validate(config.dns());
        String hostname = !ownNet ? hostHostname()
                : config.hostname().isEmpty() ? md.name().substring(0, Math.min(63, md.name().length())) : config.hostname();
        if (ownNet && !HOSTNAME.matcher(hostname).matches()) {
            throw BerthException.invalidArgument("hostname \"%s\" is not a valid host name (letters, digits, '-' and '.', at most 64)", hostname);
        }
        long shmSize = config.shmSizeBytes() > 0 ? config.shmSizeBytes() : SandboxConfig.DEFAULT_SHM_SIZE;
        checkShmSize(shmSize, config);
        SandboxConfig.checkLogDirectory(config.logDirectory());

        // the pod cgroup's path is known before it exists: the first record names it, so a crash
        // between its creation and any later write leaves a record that says what to remove
        String podCgroup = config.cgroupParent().isEmpty() ? null : cgroups.podPath(config.cgroupParent());

        String id = newId();
        timer.mark("checks");
        store.reserveName(md.key(), id);
        UndoStack undo = new UndoStack();
        SandboxStore.Entry entry;
        try {
            // a pod with its own network gets a synced record before its network is set up, the
            // first thing of it that outlives a reboot (IP lease, CNI cache); until then everything
            // it has is gone after a reboot, and a daemon crash does not lose written pages, so
            // this first write is not flushed to disk; a host-network pod's is
            entry = store.add(SandboxRecord.creating(id, config, nowNanos(), hostname, runtime.handler(), runtime.binary())
                    .withCgroup(podCgroup), !ownNet);
        } catch (RuntimeException e) {
            store.releaseName(md.key(), id);
            throw e;
        }
        try {
            timer.mark("record");
            create(entry, config, runtime, sysctls, shmSize, undo, timer);
            undo.clear();
            LOG.info("sandbox {} ({}) ready", id, md.key());
            LOG.debug("sandbox {} run (wall/cpu): {}", id, timer.summary());
            return id;
        } catch (RuntimeException ex) {
            LOG.warn("RunPodSandbox {} failed, undoing: {}", md.key(), ex.getMessage());
            if (undo.unwind(ex) && forget(entry, ex)) {
                store.releaseName(md.key(), id);
            } else {
                keepForCleanup(entry, ex);
            }
            throw ex;
        } finally {
            entry.lock().unlock();
        }
    }

    /** Deletes the record of a run that was undone; false (the failure attached to {@code cause}) when it stays. */
    private boolean forget(SandboxStore.Entry entry, RuntimeException cause) {
        try {
            store.delete(entry);
            return true;
        } catch (RuntimeException e) {
            cause.addSuppressed(e);
            return false;
        }
    }

    /**
     * Keeps the record of a run whose undoing failed, NOTREADY (and listed), so that what the
     * run left (namespace pins, the pod cgroup, the network attachment, the infra process) is
     * released by StopPodSandbox and RemovePodSandbox, which work from the sandbox's id and
     * record; its name stays taken until then.
     */
    private void keepForCleanup(SandboxStore.Entry entry, RuntimeException cause) {
        try {
            store.update(entry, r -> r.withPhase(Phase.NOTREADY));
            LOG.warn("sandbox {} is kept NOTREADY: undoing its run failed; RemovePodSandbox releases what it left",
                    entry.record().id());
        } catch (RuntimeException e) {
            // the record on disk still says CREATING, which the next start turns into NOTREADY;
            // until then it is listed NOTREADY all the same, so that the kubelet removes it
            cause.addSuppressed(e);
            store.updateInMemory(entry, r -> r.withPhase(Phase.NOTREADY));
        }
    }

    /**
     * A /dev/shm larger than the default may be at most the pod's memory limit, when it has one,
     * and at most half of the host's memory: its pages are the pod's memory (or the host's, for
     * whoever fills it), and a tmpfs the size of the machine lets one pod exhaust it.
     *
     * @throws BerthException INVALID_ARGUMENT for a larger size
     */
    void checkShmSize(long shmSize, SandboxConfig config) {
        if (shmSize <= SandboxConfig.DEFAULT_SHM_SIZE) {
            return;
        }
        if (shmSize > maxShmSize) {
            throw BerthException.invalidArgument("/dev/shm of %d bytes is more than half of the host's memory (at most %d)",
                    shmSize, maxShmSize);
        }
        Long podLimit = podResources(config.resources(), config.overhead()).memoryLimitBytes();
        if (podLimit != null && podLimit > 0 && shmSize > podLimit) {
            throw BerthException.invalidArgument("/dev/shm of %d bytes is more than the pod's memory limit of %d bytes",
                    shmSize, podLimit);
        }
    }

    /** Half of the host's memory (MemTotal of /proc/meminfo); the default /dev/shm size if it cannot be read. */
    static long halfOfHostMemory() {
        try {
            return dev.berth.host.HostMemory.totalBytes() / 2;
        } catch (IOException e) {
            LOG.warn("cannot read the host's memory size from /proc/meminfo: {}", e.getMessage());
        }
        return SandboxConfig.DEFAULT_SHM_SIZE;
    }

    private void create(SandboxStore.Entry entry, SandboxConfig config, OciRuntime runtime, Map<String, String> sysctls,
            long shmSize, UndoStack undo, StepTimer timer) {
        SandboxRecord rec = entry.record();
        String id = rec.id();
        Path dir = runDir.resolve(id);
        SandboxConfig.NamespaceOptions nso = config.namespaces();
        if (nso.ownUser()) {
            // the runtime resolves its root filesystems (below the run root) as the pod's root: refused
            // now with the reason, not at the first container with a bare "permission denied"
            dev.berth.podsandbox.container.ContainerRootfs.requireTraversable(runDir.getParent());
        }
        try {
            PrivateFiles.directory(dir);
        } catch (IOException e) {
            throw BerthException.fromIo("cannot create " + dir, dir, e);
        }
        undo.push("run directory", () -> deleteRunDirectory(dir));
        timer.mark("run directory");

        Path shm = dir.resolve("shm");
        SandboxConfig.UserNamespace userns = nso.user();
        PodNamespaces ns = pins.create(dir.resolve("ns"), !nso.hostNetwork(), !nso.hostIpc(), !nso.hostNetwork(),
                rec.hostname(), nso.hostIpc() ? null : new NamespacePins.Shm(shm, shmSize),
                nso.ownUser() ? new NamespacePins.UserMaps(mapText(userns.uids()), mapText(userns.gids())) : null);
        undo.push("namespaces and shm", () -> {
            // the idmapped views of the pod's files and shm too, all below the run directory
            mounts.unmountAllUnder(dir);
            pins.release(dir.resolve("ns"));
        });
        // kept in memory here; on disk with the next write (the paths follow from the id, so a
        // crash before that write is still cleaned up by RemovePodSandbox)
        rec = entry.record().withNamespaces(str(ns.net()), str(ns.ipc()), str(ns.uts())).withUserns(str(ns.user()));
        timer.mark("namespaces");

        pins.applySysctls(ns, sysctls);
        timer.mark("sysctls");

        Path files = podFilesDir(dir, ns.user() != null);
        IdentityFiles.write(files, config, rec.hostname(), List.of());
        if (ns.user() != null) {
            ownPodFiles(dir, userns, ns.user(), !nso.hostIpc());
        }
        timer.mark("identity files");

        if (!config.cgroupParent().isEmpty()) {
            // the record names the cgroup already (see run)
            String path = cgroups.createPod(config.cgroupParent(), podResources(config.resources(), config.overhead()));
            undo.push("cgroup", () -> cgroups.remove(path));
            rec = rec.withCgroup(path);
            timer.mark("cgroup");
        }

        if (!nso.hostNetwork()) {
            // on disk (with the cgroup just created) before the attach: a crash from here on
            // leaves a record that says what to detach and remove
            SandboxRecord beforeAttach = rec.withNetwork(true, List.of());
            rec = store.update(entry, r -> beforeAttach);
            timer.mark("record before network");
            PodNetwork.PodAttachment attachment = attachment(rec);
            undo.push("network", () -> network.detach(attachment));
            PodNetwork.PodNetworkStatus net = network.attach(attachment);
            timer.mark("network");
            // the IPs reach the disk with the READY record: what a crash before that needs (detach)
            // is already there
            rec = rec.withNetwork(true, net.ips());
            IdentityFiles.write(files, config, rec.hostname(), net.ips());
            if (ns.user() != null && !Files.isDirectory(dir.resolve(MAPPED_FILES))) {
                // replaced, so root's again
                shiftOwners(userns, files.resolve("hostname"), files.resolve("hosts"), files.resolve("resolv.conf"));
            }
            timer.mark("hosts file");
        }

        if (nso.pid() == SandboxConfig.NamespaceMode.POD) {
            Path rootfs = InfraBundle.ensureRootfs(nso.ownUser() ? usernsInfraDir() : infraDir);
            Path bundle = dir.resolve("infra");
            String cgroupsPath = rec.cgroupPath() != null ? cgroups.containerPath(rec.cgroupPath(), "infra-" + id)
                    : "/berth-infra-" + id;
            InfraBundle.write(bundle, rootfs, ns, cgroupsPath, userns.uids(), userns.gids());
            undo.push("infra process", () -> runtime.forceDelete(id));
            long pid = runtime.runDetached(id, bundle, bundle.resolve("output.log"));
            InfraBundle.awaitExec(pid, processes);
            ProcessIdentity proc = processes.identify(pid)
                    .orElseThrow(() -> BerthException.internal("the infra process " + pid + " of sandbox " + id + " exited at once", null));
            rec = rec.withInfra(proc.pid(), proc.startTime());
            timer.mark("infra process");
        }

        // not synced: lost only by a power failure, after which the pod is NOTREADY anyway (its
        // namespaces, mounts and cgroup do not survive a reboot) and is found as CREATING, which
        // start-up turns into NOTREADY
        SandboxRecord ready = rec.withPhase(Phase.READY);
        store.update(entry, r -> ready, false);
        timer.mark("record ready");
    }

    // ---------------------------------------------------------------- StopPodSandbox

    /**
     * Stops the sandbox: its containers, its infra process, its network. Idempotent; an unknown
     * id is success. A failed network teardown is an error and is retried by the next call.
     */
    public void stop(String idOrPrefix) {
        requireId(idOrPrefix);
        SandboxStore.Entry entry = store.find(idOrPrefix).orElse(null);
        if (entry == null) {
            return;
        }
        entry.lock().lock();
        try {
            if (!entry.removed()) {
                StepTimer timer = new StepTimer(LOG.isDebugEnabled());
                stopLocked(entry, timer);
                LOG.debug("sandbox {} stop (wall/cpu): {}", entry.record().id(), timer.summary());
            }
        } finally {
            entry.lock().unlock();
        }
    }

    private void stopLocked(SandboxStore.Entry entry, StepTimer timer) {
        SandboxRecord rec = entry.record();
        containers.stopAll(rec.id());
        timer.mark("containers");
        if (rec.phase() != Phase.NOTREADY) {
            rec = store.update(entry, r -> r.withPhase(Phase.NOTREADY));
            timer.mark("record notready");
        }
        OciRuntime runtime = handlers.recorded(rec.handler(), rec.runtimeBinary());
        if (runtime.exists(rec.id())) {
            killInfra(rec);
            runtime.forceDelete(rec.id());
            timer.mark("infra process");
        }
        if (rec.networkAttached()) {
            network.detach(attachment(rec));
            timer.mark("network");
            store.update(entry, r -> r.withNetwork(false, List.of()));
            timer.mark("record detached");
        }
    }

    /**
     * Ends the infra process itself (SIGKILL, to that very process: pid and start time) and waits
     * until it is gone, so that the runtime's forced delete finds its container stopped and only
     * forgets it: a forced delete of a running container kills it and then sleeps 100 ms before
     * it looks again (runc), most of StopPodSandbox's time. Catatonit holds nothing that needs a
     * gentler end, and the pod's containers are stopped by then. A process that outlives the wait
     * is left to the runtime, as before.
     */
    private void killInfra(SandboxRecord rec) {
        long pid = rec.infraPid();
        long start = rec.infraStartTime();
        if (pid <= 0 || !processes.alive(pid, start)) {
            return;
        }
        processes.signal(pid, SIGKILL);
        long deadline = System.nanoTime() + INFRA_EXIT_WAIT_NANOS;
        while (processes.alive(pid, start) && System.nanoTime() < deadline) {
            try {
                Thread.sleep(1);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return; // the runtime's delete still ends it
            }
        }
    }

    private static final int SIGKILL = 9;
    /** How long a killed infra process may take to be gone before the runtime's delete takes over. */
    private static final long INFRA_EXIT_WAIT_NANOS = 2_000_000_000L;

    // ---------------------------------------------------------------- RemovePodSandbox

    /** Releases every resource of the sandbox and forgets it. Idempotent; an unknown id is success. */
    public void remove(String idOrPrefix) {
        requireId(idOrPrefix);
        SandboxStore.Entry entry = store.find(idOrPrefix).orElse(null);
        if (entry == null) {
            return;
        }
        entry.lock().lock();
        try {
            if (entry.removed()) {
                return;
            }
            StepTimer timer = new StepTimer(LOG.isDebugEnabled());
            stopLocked(entry, timer);
            SandboxRecord rec = entry.record();
            containers.removeAll(rec.id());
            timer.mark("containers removed");
            Path dir = runDir.resolve(rec.id());
            mounts.unmountAllUnder(dir); // shm and namespace pins, in one umount
            pins.release(dir.resolve("ns"));
            timer.mark("unmount");
            if (rec.cgroupPath() != null) {
                cgroups.remove(rec.cgroupPath());
                timer.mark("cgroup");
            }
            deleteRunDirectory(dir);
            timer.mark("run directory");
            store.delete(entry);
            timer.mark("record");
            LOG.info("sandbox {} removed", rec.id());
            LOG.debug("sandbox {} remove (wall/cpu): {}", rec.id(), timer.summary());
        } finally {
            entry.lock().unlock();
        }
    }

    // ---------------------------------------------------------------- UpdatePodSandboxResources

    /**
     * Records new pod-level resources and overhead (an in-place pod resize) and applies their sum
     * to the pod cgroup berth created, so that the pod cgroup never holds the pod's containers
     * below the size the kubelet gave them. Null leaves that part as it was. A pod without a
     * pod cgroup only records them.
     *
     * @throws BerthException NOT_FOUND for an unknown sandbox, FAILED_PRECONDITION for a stopped one,
     *         INVALID_ARGUMENT for resources the cgroup rejects (nothing is recorded then)
     */
    public void updateResources(String idOrPrefix, Resources resources, Resources overhead) {
        requireId(idOrPrefix);
        SandboxStore.Entry entry = store.find(idOrPrefix)
                .filter(e -> e.record().phase() != Phase.CREATING)
                .orElseThrow(() -> BerthException.notFound("sandbox %s not found", idOrPrefix));
        entry.lock().lock();
        try {
            if (entry.removed()) {
                throw BerthException.notFound("sandbox %s not found", idOrPrefix);
            }
            SandboxRecord rec = entry.record();
            if (rec.phase() != Phase.READY) {
                throw BerthException.failedPrecondition("sandbox %s is not ready", rec.id());
            }
            SandboxConfig updated = rec.config().withResources(
                    resources != null ? resources : rec.config().resources(),
                    overhead != null ? overhead : rec.config().overhead());
            if (rec.cgroupPath() != null) {
                cgroups.update(rec.cgroupPath(), podResources(updated.resources(), updated.overhead()));
            }
            store.update(entry, r -> r.withConfig(updated));
            LOG.info("sandbox {} resources updated", rec.id());
        } finally {
            entry.lock().unlock();
        }
    }

    // ---------------------------------------------------------------- status and list

    /** @throws BerthException NOT_FOUND for an unknown sandbox */
    public SandboxStatus status(String idOrPrefix, boolean verbose) {
        requireId(idOrPrefix);
        SandboxRecord rec = store.find(idOrPrefix).map(SandboxStore.Entry::record)
                .filter(r -> r.phase() != Phase.CREATING)
                .orElseThrow(() -> BerthException.notFound("sandbox %s not found", idOrPrefix));
        return toStatus(rec, verbose);
    }

    /** The sandboxes that match {@code filter}, oldest first; sandboxes still being created are not listed. */
    public List<SandboxStatus> list(SandboxFilter filter) {
        Stream<SandboxStore.Entry> entries;
        if (!filter.id().isEmpty()) {
            SandboxStore.Entry one;
            try {
                one = store.find(filter.id()).orElse(null);
            } catch (BerthException ambiguous) {
                one = null;
            }
            entries = one == null ? Stream.empty() : Stream.of(one);
        } else {
            entries = store.all().stream();
        }
        return entries.map(SandboxStore.Entry::record)
                .filter(r -> r.phase() != Phase.CREATING)
                .map(r -> toStatus(r, false))
                .filter(s -> filter.state() == null || s.state() == filter.state())
                .filter(s -> filter.labelSelector().entrySet().stream()
                        .allMatch(l -> l.getValue().equals(s.labels().get(l.getKey()))))
                .sorted(Comparator.comparingLong(SandboxStatus::createdAtNanos))
                .toList();
    }

    /** Every sandbox id berth holds a record of, in any phase (for garbage collection elsewhere). */
    public java.util.Set<String> ids() {
        return store.all().stream().map(e -> e.record().id()).collect(java.util.stream.Collectors.toUnmodifiableSet());
    }

    /** The pinned namespaces of a sandbox, for containers to join. */
    public PodNamespaces namespaces(String id) {
        requireId(id);
        SandboxRecord r = store.find(id).map(SandboxStore.Entry::record).filter(rec -> rec.phase() != Phase.CREATING)
                .orElseThrow(() -> BerthException.notFound("sandbox %s not found", id));
        return new PodNamespaces(path(r.netns()), path(r.ipcns()), path(r.utsns()), path(r.userns()));
    }

    /**
     * What a container of the sandbox takes from it (namespaces, infra process, cgroup, pod
     * files, config); the same facts a verbose status reports.
     *
     * @throws BerthException NOT_FOUND for an unknown sandbox
     */
    public PodContext podContext(String idOrPrefix) {
        requireId(idOrPrefix);
        SandboxRecord rec = store.find(idOrPrefix).map(SandboxStore.Entry::record)
                .filter(r -> r.phase() != Phase.CREATING)
                .orElseThrow(() -> BerthException.notFound("sandbox %s not found", idOrPrefix));
        return podContext(rec, state(rec));
    }

    private PodContext podContext(SandboxRecord r, SandboxState state) {
        Path dir = runDir.resolve(r.id());
        boolean user = r.userns() != null;
        // a pod in a user namespace sees its files through their idmapped views where there are some
        Path files = user && Files.isDirectory(dir.resolve(MAPPED_FILES)) ? dir.resolve(MAPPED_FILES) : podFilesDir(dir, user);
        Path shm = user && Files.isDirectory(dir.resolve(MAPPED_SHM)) ? dir.resolve(MAPPED_SHM) : dir.resolve("shm");
        return new PodContext(r.id(), state, r.infraPid(), blankIfNull(r.netns()), blankIfNull(r.ipcns()),
                blankIfNull(r.utsns()), blankIfNull(r.cgroupPath()), r.handler(), r.runtimeBinary(), r.hostname(),
                r.config().namespaces().hostIpc() ? "" : shm.toString(),
                files.resolve("hostname").toString(), files.resolve("hosts").toString(),
                files.resolve("resolv.conf").toString(), r.config(), blankIfNull(r.userns()));
    }

    /** The directory of a pod's identity files: its run directory, or for a pod in a user namespace {@code etc/} in it (a directory to idmap alone). */
    private static Path podFilesDir(Path dir, boolean user) {
        return user ? dir.resolve("etc") : dir;
    }

    /** The idmapped views of a user-namespaced pod's {@code etc/} and {@code shm/}. */
    private static final String MAPPED_FILES = "etc-mapped";
    private static final String MAPPED_SHM = "shm-mapped";

    /**
     * Makes the files berth made for a pod in a user namespace ({@code etc/}: hostname, hosts,
     * resolv.conf; and its /dev/shm) owned by the pod's root inside the namespace: through an
     * idmapped bind mount of each ({@code etc-mapped/}, {@code shm-mapped/}), which containers
     * mount instead, where the filesystem takes one (the files on disk stay the host root's);
     * elsewhere (tmpfs before Linux 6.3) by shifting their owners on disk into the pod's range.
     */
    private void ownPodFiles(Path dir, SandboxConfig.UserNamespace userns, Path usernsPin, boolean shm) {
        Path files = podFilesDir(dir, true);
        try {
            if (idMapper.supported(files)) {
                Path at = PrivateFiles.directory(dir.resolve(MAPPED_FILES));
                idMapper.bind(files, at, usernsPin, false);
            } else {
                shiftOwners(userns, files.resolve("hostname"), files.resolve("hosts"), files.resolve("resolv.conf"));
            }
            if (shm) {
                Path shmDir = dir.resolve("shm");
                if (idMapper.supported(shmDir)) {
                    Path at = PrivateFiles.directory(dir.resolve(MAPPED_SHM));
                    idMapper.bind(shmDir, at, usernsPin, false);
                } else {
                    shiftOwners(userns, shmDir);
                }
            }
        } catch (IOException e) {
            throw BerthException.fromIo("cannot prepare the pod's files for its user namespace in " + dir, dir, e);
        }
    }

    private static void shiftOwners(SandboxConfig.UserNamespace userns, Path... paths) {
        for (Path p : paths) {
            try {
                IdShift.one(p, userns::hostUid, userns::hostGid);
            } catch (IOException e) {
                throw BerthException.internal("cannot give " + p + " to the pod's user namespace", e);
            }
        }
    }

    /** A uid or gid map as {@code /proc/PID/uid_map} takes it. */
    private static String mapText(List<dev.berth.podsandbox.container.spec.ContainerConfig.IdMapping> map) {
        StringBuilder b = new StringBuilder();
        map.forEach(m -> b.append(m.containerId()).append(' ').append(m.hostId()).append(' ').append(m.length()).append('\n'));
        return b.toString();
    }

    /** READY while the record says so and its infra process (if any) lives. */
    private SandboxState state(SandboxRecord r) {
        boolean ready = r.phase() == Phase.READY
                && (r.infraPid() == 0 || processes.alive(r.infraPid(), r.infraStartTime()));
        return ready ? SandboxState.READY : SandboxState.NOTREADY;
    }

    private SandboxStatus toStatus(SandboxRecord r, boolean verbose) {
        SandboxState state = state(r);
        Map<String, Object> info = verbose ? podContext(r, state).verboseInfo() : Map.of();
        SandboxConfig c = r.config();
        return new SandboxStatus(r.id(), c.metadata(), state, r.createdAtNanos(), r.ips(), c.namespaces(), c.labels(),
                c.annotations(), c.runtimeHandler(), info);
    }

    // ---------------------------------------------------------------- helpers

    /**
     * The pod cgroup's resources: the pod-level resources plus the sandbox overhead (CPU shares,
     * CPU quota and memory add up; the rest comes from the pod-level resources).
     */
    static Resources podResources(Resources pod, Resources overhead) {
        if (pod == null) {
            return overhead == null ? Resources.none() : overhead;
        }
        if (overhead == null) {
            return pod;
        }
        return new Resources(add(pod.cpuShares(), overhead.cpuShares()),
                pod.cpuQuota() == null ? null : add(pod.cpuQuota(), overhead.cpuQuota()),
                pod.cpuPeriod(), pod.cpusetCpus(), pod.cpusetMems(),
                pod.memoryLimitBytes() == null ? null : add(pod.memoryLimitBytes(), overhead.memoryLimitBytes()),
                pod.memorySwapLimitBytes(), pod.oomScoreAdj(), pod.pidsLimit(), pod.hugepageLimits(), pod.unified());
    }

    private static Long add(Long a, Long b) {
        return a == null ? b : b == null ? a : a + b;
    }

    private PodNetwork.PodAttachment attachment(SandboxRecord r) {
        SandboxConfig c = r.config();
        return new PodNetwork.PodAttachment(r.id(), c.metadata().name(), c.metadata().namespace(), c.metadata().uid(),
                r.netns() == null ? runDir.resolve(r.id()).resolve("ns/net") : Path.of(r.netns()),
                c.portMappings(), c.annotations(), c.cgroupParent());
    }

    /**
     * The infra root filesystem for pods in a user namespace: the OCI runtime resolves it from
     * inside the namespace, as any user of the host, so its directory is traversable ({@code 0711};
     * it holds nothing but catatonit), unlike {@code infra/}.
     */
    private Path usernsInfraDir() {
        Path d = infraDir.resolveSibling("infra-userns");
        try {
            Path made = PrivateFiles.directory(d, java.nio.file.attribute.PosixFilePermissions.fromString("rwx--x--x"));
            dev.berth.podsandbox.container.ContainerRootfs.requireTraversable(made);
            return made;
        } catch (IOException e) {
            throw BerthException.fromIo("cannot create " + d, d, e);
        }
    }

    /** Deletes a sandbox's run directory, refusing while anything is still mounted below it. */
    private void deleteRunDirectory(Path dir) {
        if (!Files.exists(dir)) {
            return;
        }
        List<Path> mounted = mounts.mountPointsUnder(dir);
        if (!mounted.isEmpty()) {
            throw BerthException.internal("refusing to delete " + dir + ": still mounted there: " + mounted, null);
        }
        try (Stream<Path> walk = Files.walk(dir)) {
            List<Path> paths = new ArrayList<>(walk.toList());
            paths.sort(Comparator.comparingInt(Path::getNameCount).reversed());
            for (Path p : paths) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            throw BerthException.internal("cannot delete " + dir, e);
        }
    }

    private static void requireMode(String what, SandboxConfig.NamespaceMode mode, SandboxConfig.NamespaceMode... allowed) {
        if (!Set.of(allowed).contains(mode)) {
            throw BerthException.invalidArgument("%s namespace mode %s is not supported for a pod (use POD or NODE)", what, mode);
        }
    }

    private static void requireId(String id) {
        if (id == null || id.isEmpty()) {
            throw BerthException.invalidArgument("a pod sandbox id is required");
        }
    }

    private static String hostHostname() {
        try {
            return Files.readString(Path.of("/proc/sys/kernel/hostname"), StandardCharsets.UTF_8).strip();
        } catch (IOException e) {
            throw BerthException.internal("cannot read the host's hostname", e);
        }
    }

    private static long nowNanos() {
        Instant now = Instant.now();
        return now.getEpochSecond() * 1_000_000_000L + now.getNano();
    }

    private static String newId() {
        byte[] b = new byte[32];
        RANDOM.nextBytes(b);
        return HexFormat.of().formatHex(b);
    }

    private static boolean blank(String s) {
        return s == null || s.isBlank();
    }

    private static String blankIfNull(String s) {
        return s == null ? "" : s;
    }

    private static String str(Path p) {
        return p == null ? null : p.toString();
    }

    private static Path path(String s) {
        return s == null ? null : Path.of(s);
    }
}
