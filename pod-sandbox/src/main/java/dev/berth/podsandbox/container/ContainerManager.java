package dev.berth.podsandbox.container;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.berth.cgroups.Resources;
import dev.berth.common.AtomicFiles;
import dev.berth.common.BerthException;
import dev.berth.common.Json;
import dev.berth.common.PrivateFiles;
import dev.berth.common.StepTimer;
import dev.berth.common.Trees;
import dev.berth.host.HostProcesses;
import dev.berth.host.LinuxProcesses;
import dev.berth.podsandbox.container.conmon.ConmonControl;
import dev.berth.podsandbox.container.spec.ContainerConfig;
import dev.berth.podsandbox.container.spec.ContainerSpecs;
import dev.berth.podsandbox.container.spec.HostFacts;
import dev.berth.podsandbox.container.spec.OciSpec;
import dev.berth.podsandbox.container.spec.SpecOptions;
import dev.berth.podsandbox.container.stdio.ContainerAttachment;
import dev.berth.podsandbox.oci.OciRuntime;
import dev.berth.podsandbox.oci.RuntimeFeatures;
import dev.berth.podsandbox.oci.RuntimeHandlers;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The container lifecycle: create (spec + bundle + conmon), start, stop, remove, status,
 * exec, live resource updates and log reopening. Records live in a {@link ContainerStore}
 * under {@code <stateDir>/containers}; what happens to containers between calls (exits, dead
 * monitors) is recorded by {@link #exits()}, so status and lists only read. A new manager over
 * the same directories adopts what an earlier berth process left: running containers keep
 * running, containers that ended meanwhile report conmon's exit code and time, and a container
 * whose conmon died is killed and reported exited.
 */
public final class ContainerManager implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ContainerManager.class);
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final Duration KILL_WAIT = Duration.ofSeconds(30);

    /** Tells whether the kernel OOM-killed something in a container's cgroup. */
    @FunctionalInterface
    public interface OomProbe {
        boolean oomKilled(ContainerRecord container);
    }

    /**
     * Knobs of the manager.
     *
     * @param execOutputCap  most bytes of each ExecSync stream kept
     * @param createTimeout  bound on the runtime's create (via conmon)
     */
    public record Options(long execOutputCap, Duration createTimeout) {
        public static Options defaults() {
            return new Options(16L * 1024 * 1024, Duration.ofMinutes(2));
        }
    }

    private final ContainerStore store;
    private final ContainerExits exits;
    private final Path bundlesDir;
    private final Path exitDir;
    private final Path socketDir;
    private final RuntimeHandlers handlers;
    private final HostFacts host;
    private final Options options;
    private final HostProcesses processes;
    private final IdmappedMountStaging idmapped;
    private final ConcurrentHashMap<String, Object> opLocks = new ConcurrentHashMap<>();
    /**
     * The runtime's deletes of containers whose exit was recorded, by container id: run on a
     * thread of their own as soon as the exit is recorded, so that a removal finds the
     * runtime's state gone and only waits for a delete still under way.
     */
    private final ConcurrentHashMap<String, java.util.concurrent.CompletableFuture<Boolean>> runtimeDeletes =
            new ConcurrentHashMap<>();
    private final java.util.concurrent.ExecutorService ownDeleter;
    /** Where those deletes run (the tests' runs them at once, on the thread that recorded the exit). */
    private final java.util.concurrent.Executor deleter;
    /** The user of each container's process, from its runtime spec (read once; see {@link #user}). */
    private final ConcurrentHashMap<String, Optional<ContainerView.User>> users = new ConcurrentHashMap<>();
    /** Stops under way, by container id (see {@link #stop}). */
    private final ConcurrentHashMap<String, Stopping> stopping = new ConcurrentHashMap<>();
    /** The records start-up rolled back or finished removing (their cgroups are the caller's to remove). */
    private final List<ContainerRecord> removedAtStart = new ArrayList<>();
    /**
     * Whether a handler (by name, with its runtime binary) makes recursive read-only mounts;
     * until {@link #useRecursiveReadOnlySupport} says otherwise, what the runtime's features
     * document and the kernel say.
     */
    private volatile java.util.function.BiPredicate<String, String> recursiveReadOnly =
            (handler, binary) -> RuntimeFeatures.probe(binary).recursiveReadOnlyMounts();

    /**
     * @param stateDir persistent state (records)
     * @param runDir   runtime state (bundles, exit files, attach sockets)
     * @param handlers the runtime handlers (the same registry the sandboxes use)
     */
    public ContainerManager(Path stateDir, Path runDir, RuntimeHandlers handlers,
                            HostFacts host, OomProbe oomProbe, Options options) {
        this(stateDir, runDir, handlers, host, oomProbe, options, LinuxProcesses.INSTANCE);
    }

    /** With {@code processes} the seam through which conmon and exec'd processes are checked and killed. */
    public ContainerManager(Path stateDir, Path runDir, RuntimeHandlers handlers,
                            HostFacts host, OomProbe oomProbe, Options options, HostProcesses processes) {
        this(stateDir, runDir, handlers, host, oomProbe, options, processes, ContainerStore.FILES);
    }

    /** With {@code writer} the way records reach the disk (the tests' full disk). */
    ContainerManager(Path stateDir, Path runDir, RuntimeHandlers handlers, HostFacts host, OomProbe oomProbe,
                     Options options, HostProcesses processes, ContainerStore.Writer writer) {
        this(stateDir, runDir, handlers, host, oomProbe, options, processes, writer, null);
    }

    /** With {@code deletes} where the runtime's deletes of exited containers run (null: a thread of the manager's own). */
    ContainerManager(Path stateDir, Path runDir, RuntimeHandlers handlers, HostFacts host, OomProbe oomProbe,
                     Options options, HostProcesses processes, ContainerStore.Writer writer,
                     java.util.concurrent.Executor deletes) {
        if (deletes == null) {
            this.ownDeleter = java.util.concurrent.Executors.newSingleThreadExecutor(r -> {
                Thread t = new Thread(r, "berth-container-delete");
                t.setDaemon(true);
                return t;
            });
            this.deleter = ownDeleter;
        } else {
            this.ownDeleter = null;
            this.deleter = deletes;
        }
        this.processes = processes;
        this.store = new ContainerStore(stateDir.resolve("containers"), writer);
        this.bundlesDir = runDir.resolve("containers");
        this.exitDir = runDir.resolve("exits");
        this.socketDir = runDir.resolve("sockets");
        this.idmapped = new IdmappedMountStaging(runDir.resolve("idmapped"));
        this.handlers = handlers;
        this.host = host;
        this.options = options;
        this.exits = new ContainerExits(store, exitDir, oomProbe, this::runtime, this::layout, processes);
        exits.listen(this::deleteFromRuntime);
        try {
            // closed to other users, also when an older berth left them open: records and
            // bundles hold the container's config and environment, the sockets its stdio
            for (Path d : List.of(store.dir(), bundlesDir, exitDir, socketDir)) {
                PrivateFiles.directory(d);
            }
        } catch (IOException e) {
            throw BerthException.failedPrecondition("cannot prepare the container directories: %s", e.getMessage());
        }
        recover();
    }

    /**
     * Decides by {@code supports} (given a handler's name and runtime binary) whether a
     * container of that handler may have recursive read-only mounts: the daemon asks its handler
     * probes, so that creation refuses what Status does not offer and accepts what it does.
     */
    public void useRecursiveReadOnlySupport(java.util.function.BiPredicate<String, String> supports) {
        this.recursiveReadOnly = supports;
    }

    // ---------------------------------------------------------------- create

    /**
     * Creates a container under an id the caller chose beforehand (64 lowercase hex digits,
     * e.g. from {@link #newId()}), so that what it prepared for the container (root
     * filesystem, cgroup) can carry the same id.
     */
    public ContainerRecord create(String id, CreateRequest req) {
        return create(id, req, new StepTimer(false));
    }

    /** As {@link #create(String, CreateRequest)}, marking its steps on {@code timer}. */
    public ContainerRecord create(String id, CreateRequest req, StepTimer timer) {
        if (id == null || !id.matches("[0-9a-f]{64}")) {
            throw BerthException.invalidArgument("invalid container id \"%s\"", id);
        }
        ContainerConfig config = req.config();
        if (config.name() == null || config.name().isEmpty()) {
            throw BerthException.invalidArgument("container name is empty");
        }
        String handlerName = req.handler() == null || req.handler().isEmpty() ? handlers.defaultHandler() : req.handler();
        OciRuntime runtime = handlers.find(handlerName)
                .orElseThrow(() -> BerthException.invalidArgument("unknown runtime handler %s", handlerName));
        SpecOptions.requireRecursiveReadOnly(config.mounts(), handlerName,
                () -> recursiveReadOnly.test(handlerName, runtime.binary()));
        if (!Files.isDirectory(req.rootfs())) {
            throw BerthException.invalidArgument("root filesystem %s is not a directory", req.rootfs());
        }
        String logPath = config.logPath();
        Path bundle = bundlesDir.resolve(id);
        if (logPath.isEmpty()) {
            logPath = bundle.resolve("container.log").toString();
        } else if (!logPath.startsWith("/")) {
            throw BerthException.invalidArgument("log path %s is not absolute", logPath);
        }
        List<String> warnings = new ArrayList<>();
        OciSpec spec = ContainerSpecs.generate(config, req.image(), req.sandbox(), req.rootfs(), host, w -> {
            LOG.warn("container {} ({}): {}", config.name(), id, w);
            warnings.add(w);
        });
        idmapped.validate(config);
        timer.mark("spec");
        ContainerRecord rec = new ContainerRecord(id, config.name(), config.attempt(), req.sandbox().sandboxId(),
                handlerName, req.imageRef(), config, req.image(), req.rootfs().toString(), bundle.toString(), logPath,
                req.sandbox().cgroupsPath(), ContainerState.CREATED, true, now(), 0, 0, 0, "", "", 0, 0, 0,
                config.labels(), config.annotations());
        store.add(rec);
        try {
            // not synced: a crash of berth leaves it readable, a power loss nothing else of the create
            store.persistCreating(rec);
            timer.mark("record");
            PrivateFiles.directory(bundle);
            idmapped.stage(id, config, req.sandbox(), spec);
            // runtime state: no fsync needed, a create cut short by a crash is rolled back; 0600
            // from its creation on, as it holds the container's environment (its secrets)
            PrivateFiles.write(bundle.resolve("config.json"), Json.mapper().writeValueAsBytes(spec));
            timer.mark("bundle");
            OciRuntime.Created created = runtime.create(id, layout(rec), config.tty(), config.stdin(), config.stdinOnce(),
                    options.createTimeout());
            timer.mark("conmon and runtime create");
            long conmonStart = processes.startTime(created.conmonPid());
            ContainerRecord done = rec.created(created.pid(), created.conmonPid(), conmonStart);
            store.put(done);
            timer.mark("record created");
            users.put(id, Optional.of(new ContainerView.User(spec.process.user.uid, spec.process.user.gid,
                    spec.process.user.additionalGids == null ? List.of() : spec.process.user.additionalGids)));
            LOG.info("created container {} ({}) with {}, pid {}, conmon {}", config.name(), id, handlerName,
                    created.pid(), created.conmonPid());
            return done;
        } catch (RuntimeException | IOException e) {
            try {
                cleanup(rec);
            } catch (RuntimeException c) {
                e.addSuppressed(c);
            }
            store.forget(id);
            if (e instanceof BerthException be) {
                throw be;
            }
            throw BerthException.internal("cannot create container " + config.name(), e);
        }
    }

    // ---------------------------------------------------------------- start / stop / remove

    public ContainerRecord start(String id) {
        synchronized (opLock(id)) {
            ContainerRecord rec = exits.reconcile(store.get(id));
            if (rec.state() != ContainerState.CREATED) {
                throw BerthException.failedPrecondition("container %s is %s, not CREATED", id, rec.state());
            }
            long startedAt = now();
            exits.startBegins(id);
            try {
                runtime(rec).start(id);
            } catch (BerthException e) {
                exits.startEnded(id);
                // asked only when the start fails, so a start costs no extra runtime call
                ContainerRecord seen = catchUpStart(rec);
                if (seen != rec) {
                    // an earlier start went through before berth stopped: that start is this one
                    exits.written(id);
                    return exits.reconcile(seen);
                }
                ContainerRecord failed = exits.record(id, r -> r.exited(now(), 128, ContainerRecord.REASON_CANNOT_RUN,
                        e.getMessage()));
                LOG.warn("container {} could not start: {}", failed.id(), e.getMessage());
                throw e;
            } catch (RuntimeException | Error e) {
                exits.startEnded(id);
                throw e;
            }
            // a container that ended at once may already be EXITED here: it still started. A
            // record the disk cannot take stays RUNNING in memory (the container runs: berth
            // must not report it CREATED nor start it again) and is written by the next sweep;
            // the caller hears RESOURCE_EXHAUSTED
            ContainerRecord running;
            try {
                running = exits.record(id, r -> r.state() == ContainerState.CREATED ? r.running(startedAt)
                        : r.startedAt() == 0 ? r.withStart(startedAt) : r);
            } finally {
                exits.startEnded(id);
            }
            // the exit watcher leaves CREATED containers alone: an exit during the start is reported here
            return exits.reconcile(running);
        }
    }

    /**
     * Sends the image's stop signal (or SIGTERM), waits up to {@code timeoutSeconds}, then
     * SIGKILL. A container that is not running is left as it is. Stops of one container
     * coalesce: a call while another is under way joins it, brings its SIGKILL forward to the
     * earlier of the two deadlines, and returns when the container has stopped. Waiting holds
     * no lock, so a forced stop or a removal is never held up by a long grace period.
     *
     * @throws BerthException NOT_FOUND for an unknown container (or one removed meanwhile),
     *         DEADLINE_EXCEEDED when it outlived SIGKILL by {@link #KILL_WAIT}
     */
    public ContainerRecord stop(String id, long timeoutSeconds) {
        ContainerRecord rec;
        Stopping s;
        synchronized (opLock(id)) {
            rec = exits.reconcile(store.get(id));
            if (rec.state() == ContainerState.EXITED) {
                return rec;
            }
            long now = System.nanoTime();
            long killAt = now + waitNanos(timeoutSeconds);
            s = stopping.compute(id, (k, v) -> (v == null ? new Stopping(killAt) : v).join(killAt));
            try {
                if (timeoutSeconds > 0 && rec.state() == ContainerState.RUNNING && s.claimSignal()
                        && !runtime(rec).kill(id, stopSignal(rec.image().stopSignal()))) {
                    s.killBy(now); // not running (any more): SIGKILL at once, as for a created container
                }
            } catch (RuntimeException e) {
                leave(id, s);
                throw e;
            }
        }
        try {
            awaitStopped(id, rec, s);
        } finally {
            leave(id, s);
        }
        // the exit holds in memory even when the disk cannot take it (it is written later),
        // and the caller hears that the record is not written
        ContainerRecord stopped = exits.reconcile(store.get(id));
        exits.written(id);
        return stopped;
    }

    /**
     * Waits until the container ended: through the grace period (which a later stop may
     * shorten), then after a SIGKILL, sent once for all callers of a stop, up to
     * {@link #KILL_WAIT}.
     */
    private void awaitStopped(String id, ContainerRecord rec, Stopping s) {
        if (exits.await(rec, s::killAt)) {
            return;
        }
        while (true) {
            if (s.claimKill()) {
                try {
                    runtime(rec).kill(id, "SIGKILL");
                } catch (RuntimeException e) {
                    s.killFailed(); // another caller, or the next stop, tries again
                    throw e;
                }
            }
            if (exits.await(rec, s::killWaitEnd)) {
                return;
            }
            if (s.killSent()) {
                throw BerthException.deadlineExceeded("container %s did not exit within %s of SIGKILL", id, KILL_WAIT);
            }
        }
    }

    private void leave(String id, Stopping s) {
        stopping.computeIfPresent(id, (k, v) -> v == s && s.leave() ? null : v);
    }

    /**
     * Notes durably that the container's removal begins, before anything of it goes: a crash
     * after this leaves a container that start-up removes to the end rather than lists half gone.
     */
    public void markRemoving(String id) {
        synchronized (opLock(id)) {
            if (store.find(id).isPresent()) {
                store.markRemoving(id);
            }
        }
    }

    /**
     * Kills the container if it runs (joining a stop under way), deletes it from the runtime and
     * frees everything. Unknown id: nothing to do.
     */
    public void remove(String id) {
        ContainerRecord found = store.find(id).orElse(null);
        if (found == null) {
            return;
        }
        if (exits.reconcile(found).state() != ContainerState.EXITED) {
            try {
                stop(id, 0);
            } catch (BerthException e) {
                if (e.kind() == BerthException.Kind.NOT_FOUND) {
                    return; // removed meanwhile
                }
                if (e.kind() != BerthException.Kind.DEADLINE_EXCEEDED) {
                    throw e;
                }
                LOG.warn("container {} did not exit within {} of SIGKILL; deleting it by force", id, KILL_WAIT);
            }
        }
        synchronized (opLock(id)) {
            ContainerRecord rec = store.find(id).orElse(null);
            if (rec == null) {
                return;
            }
            cleanup(rec);
            store.forget(id);
            opLocks.remove(id);
            LOG.info("removed container {} ({})", rec.name(), id);
        }
    }

    /**
     * A stop under way, shared by every caller stopping the same container: the earliest
     * SIGKILL deadline any of them asked for ({@link System#nanoTime()} based) and what was
     * sent.
     */
    private static final class Stopping {
        private long killAt;
        private boolean signalled;
        private boolean killClaimed;
        private boolean killSent;
        private long killedAt;
        private int callers;

        Stopping(long killAt) {
            this.killAt = killAt;
        }

        /** One more caller, whose deadline counts if it is earlier. */
        synchronized Stopping join(long deadline) {
            callers++;
            killBy(deadline);
            return this;
        }

        /** SIGKILL no later than {@code deadline}. */
        synchronized void killBy(long deadline) {
            if (deadline - killAt < 0) {
                killAt = deadline;
            }
        }

        /** One caller fewer; true when it was the last. */
        synchronized boolean leave() {
            return --callers == 0;
        }

        synchronized long killAt() {
            return killAt;
        }

        /** True for the one caller that sends the stop signal. */
        synchronized boolean claimSignal() {
            boolean first = !signalled;
            signalled = true;
            return first;
        }

        /** True for the one caller that sends SIGKILL. */
        synchronized boolean claimKill() {
            if (killClaimed) {
                return false;
            }
            killClaimed = true;
            killSent = true;
            killedAt = System.nanoTime();
            return true;
        }

        synchronized void killFailed() {
            killClaimed = false;
            killSent = false;
        }

        synchronized boolean killSent() {
            return killSent;
        }

        /** Until when to wait for the exit after SIGKILL; now while none was sent. */
        synchronized long killWaitEnd() {
            return killSent ? killedAt + KILL_WAIT.toNanos() : System.nanoTime();
        }
    }

    /**
     * A stop timeout in nanoseconds, saturated at {@link ContainerExits#MAX_WAIT_NANOS} (a
     * timeout of {@code Long.MAX_VALUE} seconds overflows a {@link Duration}'s nanoseconds);
     * none below zero.
     */
    static long waitNanos(long timeoutSeconds) {
        if (timeoutSeconds <= 0) {
            return 0;
        }
        return timeoutSeconds >= ContainerExits.MAX_WAIT_NANOS / 1_000_000_000L ? ContainerExits.MAX_WAIT_NANOS
                : timeoutSeconds * 1_000_000_000L;
    }

    /** Undoes everything a (possibly half-done) create left: runtime state, conmon, files, record. */
    private void cleanup(ContainerRecord rec) {
        idmapped.release(rec.id()); // first: a staged mount that will not go keeps the record, for a retry
        if (!deletedFromRuntime(rec.id())) {
            handlers.find(rec.handler()).ifPresent(runtime -> runtime.delete(rec.id()));
        }
        runtimeDeletes.remove(rec.id());
        users.remove(rec.id());
        Path bundle = Path.of(rec.bundle());
        long conmonPid = rec.conmonPid();
        long conmonStart = rec.conmonStartTime();
        if (conmonPid <= 0) {
            conmonPid = readLong(bundle.resolve("conmon.pid"), -1);
            conmonStart = processes.startTime(conmonPid);
        }
        if (processes.alive(conmonPid, conmonStart)) {
            processes.signal(conmonPid, 9);
        }
        try {
            Trees.deleteRecursively(bundle);
            Files.deleteIfExists(layout(rec).exitFile(rec.id()));
            Files.deleteIfExists(socketDir.resolve(rec.id()));
            store.delete(rec.id());
        } catch (IOException e) {
            throw BerthException.internal("cannot remove the files of container " + rec.id(), e);
        }
    }

    /**
     * Deletes the runtime's state of a container whose exit was just recorded (its cgroup, the
     * runtime's state directory), on the deleter thread: nothing of an exited container needs
     * it, and RemoveContainer is left with berth's own bookkeeping. A delete that fails is
     * tried again by the removal.
     */
    private void deleteFromRuntime(ContainerRecord rec) {
        java.util.concurrent.CompletableFuture<Boolean> f = new java.util.concurrent.CompletableFuture<>();
        if (runtimeDeletes.putIfAbsent(rec.id(), f) != null) {
            return;
        }
        try {
            deleter.execute(() -> {
                try {
                    OciRuntime rt = handlers.find(rec.handler()).orElse(null);
                    if (rt != null && rt.exists(rec.id())) {
                        rt.delete(rec.id());
                    }
                    f.complete(rt != null);
                } catch (RuntimeException e) {
                    LOG.warn("cannot delete exited container {} from the runtime (its removal tries again): {}", rec.id(),
                            e.getMessage());
                    f.complete(false);
                }
            });
        } catch (java.util.concurrent.RejectedExecutionException e) {
            f.complete(false); // closing: the removal deletes it
        }
    }

    /** Whether the runtime's state of the container went with its exit (waiting for a delete under way). */
    private boolean deletedFromRuntime(String id) {
        java.util.concurrent.CompletableFuture<Boolean> f = runtimeDeletes.get(id);
        if (f == null) {
            return false;
        }
        try {
            return f.get(commandWait().toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            return false;
        }
    }

    /** How long a removal waits for the deleter before it deletes the container itself. */
    private static Duration commandWait() {
        return Duration.ofSeconds(30);
    }

    /**
     * The user of the container's process as its runtime spec says: kept from the create, read
     * from the bundle once for a container an earlier berth created; empty when the spec is
     * gone or unreadable.
     */
    Optional<ContainerView.User> user(String id) {
        Optional<ContainerView.User> known = users.get(id);
        if (known != null) {
            return known;
        }
        ContainerRecord rec = store.find(id).orElse(null);
        if (rec == null) {
            return Optional.empty(); // removed meanwhile
        }
        Optional<ContainerView.User> read = readUser(Path.of(rec.bundle(), "config.json"));
        if (read.isPresent()) {
            users.put(id, read); // a spec not found now may still appear: only what was read is kept
        }
        return read;
    }

    private static Optional<ContainerView.User> readUser(Path spec) {
        JsonNode specJson;
        try {
            specJson = Json.mapper().readTree(spec.toFile());
        } catch (IOException e) {
            return Optional.empty(); // the bundle is gone (e.g. the run root was wiped) or unreadable
        }
        if (specJson == null) {
            return Optional.empty();
        }
        JsonNode user = specJson.path("process").path("user");
        List<Long> gids = new ArrayList<>();
        user.path("additionalGids").forEach(g -> gids.add(g.asLong()));
        return Optional.of(new ContainerView.User(user.path("uid").asLong(), user.path("gid").asLong(), gids));
    }

    // ---------------------------------------------------------------- status and lists

    /**
     * The container as it is now. Reads change nothing: a container whose exit file conmon
     * wrote is reported EXITED with its code and time at once; recording it is
     * {@link #exits()}' job.
     *
     * @throws BerthException NOT_FOUND for an unknown id
     */
    public ContainerRecord status(String id) {
        return exits.observe(store.get(id));
    }

    /** The record as berth holds it, without a look at exit files (what the next write puts on disk). */
    ContainerRecord recorded(String id) {
        return store.get(id);
    }

    /** The container as it is now, if berth has it (see {@link #status}). */
    public Optional<ContainerRecord> find(String id) {
        return store.find(id).map(exits::observe);
    }

    /** Every container as it is now, oldest first (see {@link #status}). */
    public List<ContainerRecord> list() {
        List<ContainerRecord> out = new ArrayList<>();
        for (ContainerRecord r : store.all()) {
            out.add(exits.observe(r));
        }
        out.sort(Comparator.comparingLong(ContainerRecord::createdAt));
        return out;
    }

    /** The containers matching a CRI filter, oldest first. */
    public List<ContainerRecord> list(ContainerFilter filter) {
        return list().stream().filter(filter::matches).toList();
    }

    /**
     * The verbose status info of CRI ContainerStatus: pid, bundle, runtime handler and binary,
     * the runtime spec, as one JSON object.
     */
    public String verboseInfo(String id) {
        ContainerRecord rec = status(id);
        ObjectNode info = Json.mapper().createObjectNode();
        info.put("pid", rec.pid());
        info.put("conmonPid", rec.conmonPid());
        info.put("bundle", rec.bundle());
        info.put("runtimeHandler", rec.handler());
        handlers.find(rec.handler()).ifPresent(rt -> info.put("runtimeBinary", rt.runtimeBinary().toString()));
        info.put("sandboxId", rec.sandboxId());
        try {
            info.set("runtimeSpec", Json.mapper().readTree(runtimeSpec(id)));
        } catch (IOException | BerthException e) {
            info.putNull("runtimeSpec");
        }
        return Json.write(info);
    }

    /** The container's runtime spec as written to its bundle (for status and verbose status). */
    String runtimeSpec(String id) {
        ContainerRecord rec = store.get(id);
        try {
            return Files.readString(Path.of(rec.bundle(), "config.json"));
        } catch (IOException e) {
            throw BerthException.notFound("runtime spec of container %s is gone", id);
        }
    }

    // ---------------------------------------------------------------- exec, update, logs

    /**
     * Runs a command in the running container like its main process (same user, env,
     * capabilities), capturing each stream up to the configured cap. With a timeout (> 0) the
     * command is killed when it passes and DEADLINE_EXCEEDED is thrown.
     */
    public ExecResult execSync(String id, List<String> cmd, Duration timeout) {
        PreparedExec exec = prepareExec(id, cmd, false, 0, 0);
        try {
            return new ExecProcess(exec.argv(), exec.pidFile(), options.execOutputCap(), processes).run(timeout, id, cmd);
        } finally {
            exec.release();
        }
    }

    /**
     * The runtime's {@code exec} command line for a streaming exec of {@code cmd} in the running
     * container, with the process spec and pid file it needs; the caller runs it with its own
     * pipes and calls {@link PreparedExec#release()} when the process has ended. With
     * {@code tty} the runtime gives the process a terminal of its own and relays it to the
     * runtime's standard streams, which must then be a terminal too (the runtime puts it in raw
     * mode and copies its size to the process's terminal on SIGWINCH). The runtime's other
     * way, sending the terminal over a console socket, works only with a detached exec, whose
     * exit status then reaches nobody but a subreaper. A TTY process starts with a terminal of
     * {@code width} x {@code height} characters when both are positive.
     */
    public PreparedExec prepareExec(String id, List<String> cmd, boolean tty, int width, int height) {
        ContainerRecord rec = exits.reconcile(store.get(id));
        if (rec.state() != ContainerState.RUNNING) {
            throw BerthException.failedPrecondition("container %s is %s, not RUNNING", id, rec.state());
        }
        if (cmd.isEmpty()) {
            throw BerthException.invalidArgument("exec command is empty");
        }
        Path bundle = Path.of(rec.bundle());
        String tag = Long.toHexString(RANDOM.nextLong());
        Path processJson = bundle.resolve("exec-" + tag + ".json");
        Path pidFile = bundle.resolve("exec-" + tag + ".pid");
        try {
            JsonNode spec = Json.mapper().readTree(bundle.resolve("config.json").toFile());
            ObjectNode process = ExecSpec.process(spec, cmd, tty, width, height);
            AtomicFiles.write(processJson, Json.mapper().writeValueAsBytes(process));
            return new PreparedExec(runtime(rec).execCommand(id, processJson, pidFile), processJson, pidFile, tty, processes);
        } catch (IOException e) {
            try {
                Files.deleteIfExists(processJson);
            } catch (IOException ignored) {
                // best effort
            }
            throw BerthException.internal("cannot exec in container " + id, e);
        }
    }

    /**
     * Connects to the standard streams of the running container {@code id} through its conmon's
     * attach socket. Detaching leaves the container running; its exit ends the attachment with
     * its exit code.
     */
    public ContainerAttachment attach(String id) {
        ContainerRecord rec = exits.reconcile(store.get(id));
        if (rec.state() != ContainerState.RUNNING) {
            throw BerthException.failedPrecondition("container %s is %s, not RUNNING", id, rec.state());
        }
        return ContainerAttachment.connect(id, Path.of(rec.bundle()), () -> {
            ContainerRecord now = find(id).orElse(null);
            if (now == null) {
                return OptionalInt.of(255); // removed meanwhile
            }
            return now.state() == ContainerState.EXITED ? OptionalInt.of(now.exitCode()) : OptionalInt.empty();
        });
    }

    /** Applies new resources to the running container's cgroup and records them. */
    public ContainerRecord updateResources(String id, Resources resources) {
        synchronized (opLock(id)) {
            ContainerRecord rec = exits.reconcile(store.get(id));
            if (rec.state() == ContainerState.EXITED) {
                throw BerthException.failedPrecondition("container %s has exited", id);
            }
            OciSpec.Resources oci = new OciSpec.Resources();
            SpecOptions.applyResources(oci, resources);
            oci.devices = null;
            Path file = Path.of(rec.bundle(), "resources-update.json");
            try {
                AtomicFiles.write(file, Json.mapper().writeValueAsBytes(oci));
                runtime(rec).update(id, file);
            } catch (IOException e) {
                throw BerthException.internal("cannot write resources of container " + id, e);
            } finally {
                try {
                    Files.deleteIfExists(file);
                } catch (IOException e) {
                    LOG.debug("cannot remove {}: {}", file, e.getMessage());
                }
            }
            return exits.record(id, r -> r.withConfig(r.config().withResources(resources)));
        }
    }

    /**
     * Asks conmon to reopen the container's log file (after the caller renamed it away) and
     * waits until the new file exists. Output written meanwhile stays in conmon's pipe.
     */
    public void reopenLog(String id) {
        ContainerRecord rec = exits.reconcile(store.get(id));
        if (rec.state() != ContainerState.RUNNING) {
            throw BerthException.failedPrecondition("container %s is %s, not RUNNING", id, rec.state());
        }
        try {
            ConmonControl.reopenLog(layout(rec).ctlFifo());
        } catch (IOException e) {
            throw BerthException.unavailable("cannot reach conmon of container %s: %s", id, e.getMessage());
        }
        Path log = Path.of(rec.logPath());
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (!Files.exists(log)) {
            if (System.nanoTime() > deadline) {
                throw BerthException.deadlineExceeded("conmon did not reopen the log of container %s", id);
            }
            sleep(5);
        }
    }

    // ---------------------------------------------------------------- exits

    /** Exit detection and reconciliation of this manager's containers (its watcher is started by the caller). */
    public ContainerExits exits() {
        return exits;
    }

    /** Stops the exit watcher. Containers keep running. */
    @Override
    public void close() {
        exits.close();
        if (ownDeleter != null) {
            ownDeleter.shutdown();
        }
    }

    // ---------------------------------------------------------------- recovery

    /**
     * Adopts the records an earlier berth process left: a create it did not finish is rolled
     * back, a removal it began is finished, every other container is reconciled with the system
     * (a start the record missed, exits recorded, containers without a monitor killed). Records
     * it cannot write stay in memory for the sweep to write: a full disk never stops berth.
     * Bundles without a record and conmon launchers left blocked on their sync FIFO go.
     */
    private void recover() {
        killStrandedLaunchers();
        java.util.Set<String> recorded = new java.util.HashSet<>();
        for (ContainerRecord rec : store.load()) {
            recorded.add(rec.id());
            if (rec.creating() || store.removing(rec.id())) {
                LOG.info("{} container {} whose {} was interrupted", rec.creating() ? "rolling back" : "removing",
                        rec.id(), rec.creating() ? "creation" : "removal");
                try {
                    cleanup(rec);
                    removedAtStart.add(rec);
                } catch (RuntimeException e) {
                    LOG.error("cannot roll back container {}: {}", rec.id(), e.getMessage());
                }
                continue;
            }
            store.adopt(rec);
            // a failed write must not stop berth: the record holds in memory and the sweep writes it
            try {
                if (exits.reconcile(catchUpStart(rec)).state() == ContainerState.EXITED) {
                    // an exit recorded before berth stopped, whose runtime delete may not have run
                    deleteFromRuntime(rec);
                }
            } catch (RuntimeException e) {
                LOG.warn("container {}: {}", rec.id(), e.getMessage());
            }
        }
        removeUnrecordedBundles(recorded);
        idmapped.releaseAllBut(store.all().stream().map(ContainerRecord::id).collect(java.util.stream.Collectors.toSet()));
    }

    /**
     * A CREATED record of a container the runtime reports started (berth stopped between the
     * runtime's start and the RUNNING record, or could not write it): recorded RUNNING, started
     * when berth noticed it, so that it is neither reported CREATED nor started again. Else the
     * record as it is.
     */
    private ContainerRecord catchUpStart(ContainerRecord rec) {
        if (rec.state() != ContainerState.CREATED || rec.creating()) {
            return rec;
        }
        Optional<String> status;
        try {
            status = runtime(rec).status(rec.id());
        } catch (BerthException e) {
            LOG.warn("cannot ask the runtime about container {}: {}", rec.id(), e.getMessage());
            return rec;
        }
        // "stopped" is left to the exit file: the container may have died before any start
        if (status.isEmpty() || !(status.get().equals("running") || status.get().equals("paused"))) {
            return rec;
        }
        LOG.warn("container {} is {} though its record says CREATED (berth stopped while starting it); recording it"
                + " started", rec.id(), status.get());
        long at = now();
        return exits.record(rec.id(), r -> r.state() == ContainerState.CREATED ? r.running(at) : r);
    }

    /**
     * The bundles of containers without a record (a create whose record never reached the disk,
     * or a removal past its record): their runtime state and monitor go with them.
     */
    private void removeUnrecordedBundles(java.util.Set<String> recorded) {
        List<Path> bundles;
        try (java.util.stream.Stream<Path> s = Files.list(bundlesDir)) {
            bundles = s.toList();
        } catch (IOException e) {
            LOG.warn("cannot list {}: {}", bundlesDir, e.getMessage());
            return;
        }
        for (Path b : bundles) {
            String id = b.getFileName().toString();
            if (recorded.contains(id) || !id.matches("[0-9a-f]{64}")) {
                continue;
            }
            LOG.info("removing the bundle of container {}, which has no record", id);
            try {
                handlers.find(handlers.defaultHandler()).ifPresent(rt -> rt.delete(id));
                long conmonPid = readLong(b.resolve("conmon.pid"), -1);
                if (conmonPid > 0 && processes.command(conmonPid).map(c -> c.equals("conmon")).orElse(false)) {
                    processes.signal(conmonPid, 9);
                }
                Trees.deleteRecursively(b);
                Files.deleteIfExists(exitDir.resolve(id));
                Files.deleteIfExists(socketDir.resolve(id));
            } catch (IOException | RuntimeException e) {
                LOG.warn("cannot remove the bundle of container {}: {}", id, e.getMessage());
            }
        }
    }

    /**
     * Kills the shells that start conmon (see {@code ConmonRuntime#create}) which an earlier
     * berth left blocked opening a sync FIFO under this run root: the reader went with that
     * berth, so they would wait forever. No create of this manager runs yet.
     */
    private void killStrandedLaunchers() {
        String prefix = bundlesDir.toAbsolutePath() + "/";
        for (long pid : processes.pids()) {
            List<String> argv = processes.commandLine(pid).orElse(List.of());
            // berth's launcher: a shell given the FIFO of a container of this run root and conmon's arguments
            boolean stranded = argv.contains("--api-version") && argv.stream().anyMatch(a -> a.startsWith(prefix)
                    && a.endsWith("/sync.fifo")
                    && a.substring(prefix.length(), a.length() - "/sync.fifo".length()).matches("[0-9a-f]{64}"));
            if (stranded) {
                LOG.warn("killing process {} ({}), left blocked on a container's sync FIFO by an earlier berth", pid,
                        argv.get(0));
                processes.signal(pid, 9);
            }
        }
    }

    /** The records start-up rolled back or removed to the end; their cgroups may be left (see ContainerService#recover). */
    public List<ContainerRecord> removedAtStart() {
        return List.copyOf(removedAtStart);
    }

    /** The id-mapped mounts of containers (where pods' user namespaces are found is set there). */
    public IdmappedMountStaging idmappedMounts() {
        return idmapped;
    }

    // ---------------------------------------------------------------- helpers

    private Object opLock(String id) {
        return opLocks.computeIfAbsent(id, k -> new Object());
    }

    OciRuntime runtime(ContainerRecord rec) {
        return handlers.find(rec.handler()).orElseThrow(() -> BerthException.failedPrecondition(
                "runtime handler %s of container %s is no longer configured", rec.handler(), rec.id()));
    }

    private OciRuntime.Layout layout(ContainerRecord rec) {
        return new OciRuntime.Layout(Path.of(rec.bundle()), Path.of(rec.logPath()), exitDir, socketDir);
    }

    /**
     * The signal, in the "SIGNAME" form both runc and crun accept, for an image StopSignal
     * ("SIGQUIT", "quit", "3"); SIGTERM if unset.
     */
    static String stopSignal(String imageSignal) {
        if (imageSignal == null || imageSignal.isBlank()) {
            return "SIGTERM";
        }
        String s = imageSignal.trim().toUpperCase(java.util.Locale.ROOT);
        if (s.chars().allMatch(Character::isDigit)) {
            return s;
        }
        return s.startsWith("SIG") ? s : "SIG" + s;
    }

    /** A fresh random container id. */
    static String newId() {
        byte[] b = new byte[32];
        RANDOM.nextBytes(b);
        return HexFormat.of().formatHex(b);
    }

    static long now() {
        Instant i = Instant.now();
        return i.getEpochSecond() * 1_000_000_000L + i.getNano();
    }

    private static long readLong(Path p, long dflt) {
        try {
            return Long.parseLong(Files.readString(p).trim());
        } catch (IOException | NumberFormatException e) {
            return dflt;
        }
    }

    static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new BerthException(BerthException.Kind.CANCELLED, "interrupted", e);
        }
    }
}
