package dev.berth.podsandbox.container;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.berth.cgroups.Resources;
import dev.berth.common.AtomicFiles;
import dev.berth.common.BerthException;
import dev.berth.common.Json;
import dev.berth.host.HostProcesses;
import dev.berth.host.LinuxProcesses;
import dev.berth.podsandbox.container.conmon.ConmonRuntime;
import dev.berth.podsandbox.container.spec.ContainerConfig;
import dev.berth.podsandbox.container.spec.ContainerSpecs;
import dev.berth.podsandbox.container.spec.HostFacts;
import dev.berth.podsandbox.container.spec.OciSpec;
import dev.berth.podsandbox.container.spec.SpecOptions;
import dev.berth.podsandbox.container.stdio.ContainerAttachment;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The container lifecycle: create (spec + bundle + conmon), start, stop, remove, status,
 * exec, live resource updates and log reopening, with a crash-safe record per container under
 * {@code <stateDir>/containers/<id>/record.json}. A new manager over the same directories
 * adopts what an earlier berth process left: running containers keep running, containers that
 * ended meanwhile report conmon's exit code and time, and a container whose conmon died is
 * reported exited.
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

    private final Path recordsDir;
    private final Path bundlesDir;
    private final Path exitDir;
    private final Path socketDir;
    private final Map<String, ConmonRuntime> handlers;
    private final String defaultHandler;
    private final HostFacts host;
    private final OomProbe oomProbe;
    private final Options options;
    private final HostProcesses processes;
    private final ConcurrentHashMap<String, ContainerRecord> records = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<String, Object> opLocks = new ConcurrentHashMap<>();
    private final java.util.concurrent.CopyOnWriteArrayList<java.util.function.Consumer<ContainerRecord>> exitListeners =
            new java.util.concurrent.CopyOnWriteArrayList<>();
    private volatile Thread exitWatcher;
    private volatile java.nio.file.WatchService watchService;

    /**
     * @param stateDir persistent state (records)
     * @param runDir   runtime state (bundles, exit files, attach sockets)
     * @param handlers runtime handlers by name
     */
    public ContainerManager(Path stateDir, Path runDir, Map<String, ConmonRuntime> handlers, String defaultHandler,
                            HostFacts host, OomProbe oomProbe, Options options) {
        this(stateDir, runDir, handlers, defaultHandler, host, oomProbe, options, LinuxProcesses.INSTANCE);
    }

    /** With {@code processes} the seam through which conmon processes are checked and killed. */
    public ContainerManager(Path stateDir, Path runDir, Map<String, ConmonRuntime> handlers, String defaultHandler,
                            HostFacts host, OomProbe oomProbe, Options options, HostProcesses processes) {
        this.processes = processes;
        this.recordsDir = stateDir.resolve("containers");
        this.bundlesDir = runDir.resolve("containers");
        this.exitDir = runDir.resolve("exits");
        this.socketDir = runDir.resolve("sockets");
        this.handlers = Map.copyOf(handlers);
        this.defaultHandler = defaultHandler;
        this.host = host;
        this.oomProbe = oomProbe;
        this.options = options;
        if (!handlers.containsKey(defaultHandler)) {
            throw BerthException.invalidArgument("default runtime handler %s is not configured", defaultHandler);
        }
        recover();
    }

    // ---------------------------------------------------------------- create

    public ContainerRecord create(CreateRequest req) {
        return create(newId(), req);
    }

    /**
     * Creates a container under an id the caller chose beforehand (64 lowercase hex digits,
     * e.g. from {@link #newContainerId()}), so that what it prepared for the container (root
     * filesystem, cgroup) can carry the same id.
     */
    public ContainerRecord create(String id, CreateRequest req) {
        if (id == null || !id.matches("[0-9a-f]{64}")) {
            throw BerthException.invalidArgument("invalid container id \"%s\"", id);
        }
        ContainerConfig config = req.config();
        if (config.name() == null || config.name().isEmpty()) {
            throw BerthException.invalidArgument("container name is empty");
        }
        String handlerName = req.handler() == null || req.handler().isEmpty() ? defaultHandler : req.handler();
        ConmonRuntime runtime = handlers.get(handlerName);
        if (runtime == null) {
            throw BerthException.invalidArgument("unknown runtime handler %s", handlerName);
        }
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
        ContainerRecord rec = new ContainerRecord(id, config.name(), config.attempt(), req.sandbox().sandboxId(),
                handlerName, req.imageRef(), config, req.image(), req.rootfs().toString(), bundle.toString(), logPath,
                req.sandbox().cgroupsPath(), ContainerState.CREATED, true, now(), 0, 0, 0, "", "", 0, 0, 0,
                config.labels(), config.annotations());
        synchronized (this) {
            if (records.containsKey(id)) {
                throw BerthException.alreadyExists("container %s already exists", id);
            }
            for (ContainerRecord r : records.values()) {
                if (r.sandboxId().equals(rec.sandboxId()) && r.name().equals(rec.name()) && r.attempt() == rec.attempt()) {
                    throw BerthException.alreadyExists("container %s (attempt %d) already exists in sandbox %s as %s",
                            rec.name(), rec.attempt(), rec.sandboxId(), r.id());
                }
            }
            records.put(id, rec);
        }
        try {
            persist(rec);
            Files.createDirectories(bundle);
            // runtime state: no fsync needed, a create cut short by a crash is rolled back
            Files.write(bundle.resolve("config.json"), Json.mapper().writeValueAsBytes(spec));
            ConmonRuntime.Created created = runtime.create(id, layout(rec), config.tty(), config.stdin(), config.stdinOnce(),
                    options.createTimeout());
            long conmonStart = processes.startTime(created.conmonPid());
            ContainerRecord done = rec.created(created.pid(), created.conmonPid(), conmonStart);
            persist(done);
            records.put(id, done);
            LOG.info("created container {} ({}) with {}, pid {}, conmon {}", config.name(), id, handlerName,
                    created.pid(), created.conmonPid());
            return done;
        } catch (RuntimeException | IOException e) {
            try {
                cleanup(rec);
            } catch (RuntimeException c) {
                e.addSuppressed(c);
            }
            records.remove(id);
            if (e instanceof BerthException be) {
                throw be;
            }
            throw BerthException.internal("cannot create container " + config.name(), e);
        }
    }

    // ---------------------------------------------------------------- start / stop / remove

    public ContainerRecord start(String id) {
        synchronized (opLock(id)) {
            ContainerRecord rec = refresh(get(id));
            if (rec.state() != ContainerState.CREATED) {
                throw BerthException.failedPrecondition("container %s is %s, not CREATED", id, rec.state());
            }
            long startedAt = now();
            try {
                runtime(rec).start(id);
            } catch (BerthException e) {
                ContainerRecord failed = update(id, r -> r.exited(now(), 128, ContainerRecord.REASON_CANNOT_RUN,
                        e.getMessage()));
                LOG.warn("container {} could not start: {}", failed.id(), e.getMessage());
                throw e;
            }
            // a container that ended at once may already be EXITED here: it still started
            ContainerRecord running = update(id, r -> r.state() == ContainerState.CREATED ? r.running(startedAt)
                    : r.startedAt() == 0 ? r.withStart(startedAt) : r);
            // the exit watcher leaves CREATED containers alone: an exit during the start is reported here
            return refresh(running);
        }
    }

    /**
     * Sends the image's stop signal (or SIGTERM), waits up to {@code timeoutSeconds}, then
     * SIGKILL. A container that is not running is left as it is.
     */
    public ContainerRecord stop(String id, long timeoutSeconds) {
        synchronized (opLock(id)) {
            ContainerRecord rec = refresh(get(id));
            if (rec.state() == ContainerState.EXITED) {
                return rec;
            }
            ConmonRuntime runtime = runtime(rec);
            if (timeoutSeconds > 0 && rec.state() == ContainerState.RUNNING) {
                String signal = stopSignal(rec.image().stopSignal());
                if (runtime.kill(id, signal) && waitExit(rec, Duration.ofSeconds(timeoutSeconds))) {
                    return refresh(get(id));
                }
            }
            runtime.kill(id, "SIGKILL");
            if (!waitExit(rec, KILL_WAIT)) {
                throw BerthException.deadlineExceeded("container %s did not exit within %s of SIGKILL", id, KILL_WAIT);
            }
            return refresh(get(id));
        }
    }

    /** Kills the container if it runs, deletes it from the runtime and frees everything. Unknown id: nothing to do. */
    public void remove(String id) {
        synchronized (opLock(id)) {
            ContainerRecord rec = records.get(id);
            if (rec == null) {
                return;
            }
            rec = refresh(rec);
            if (rec.state() != ContainerState.EXITED) {
                runtime(rec).kill(id, "SIGKILL");
                if (!waitExit(rec, KILL_WAIT)) {
                    LOG.warn("container {} did not exit within {} of SIGKILL; deleting it by force", id, KILL_WAIT);
                }
            }
            cleanup(rec);
            records.remove(id);
            opLocks.remove(id);
            LOG.info("removed container {} ({})", rec.name(), id);
        }
    }

    /** Undoes everything a (possibly half-done) create left: runtime state, conmon, files, record. */
    private void cleanup(ContainerRecord rec) {
        ConmonRuntime runtime = handlers.get(rec.handler());
        if (runtime != null) {
            runtime.delete(rec.id());
        }
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
            deleteTree(bundle);
            Files.deleteIfExists(exitDir.resolve(rec.id()));
            Files.deleteIfExists(socketDir.resolve(rec.id()));
            deleteTree(recordsDir.resolve(rec.id()));
            AtomicFiles.syncDirectory(recordsDir);
        } catch (IOException e) {
            throw BerthException.internal("cannot remove the files of container " + rec.id(), e);
        }
    }

    // ---------------------------------------------------------------- status and lists

    public ContainerRecord status(String id) {
        return refresh(get(id));
    }

    public Optional<ContainerRecord> find(String id) {
        ContainerRecord r = records.get(id);
        return r == null ? Optional.empty() : Optional.of(refresh(r));
    }

    public List<ContainerRecord> list() {
        List<ContainerRecord> out = new ArrayList<>();
        for (ContainerRecord r : records.values()) {
            out.add(refresh(r));
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
        ConmonRuntime rt = handlers.get(rec.handler());
        if (rt != null) {
            info.put("runtimeBinary", rt.runtimeBinary().toString());
        }
        info.put("sandboxId", rec.sandboxId());
        try {
            info.set("runtimeSpec", Json.mapper().readTree(runtimeSpec(id)));
        } catch (IOException | BerthException e) {
            info.putNull("runtimeSpec");
        }
        return Json.write(info);
    }

    /** The container's runtime spec as written to its bundle (for verbose status). */
    public String runtimeSpec(String id) {
        ContainerRecord rec = get(id);
        try {
            return Files.readString(Path.of(rec.bundle(), "config.json"));
        } catch (IOException e) {
            throw BerthException.notFound("runtime spec of container %s is gone", id);
        }
    }

    /**
     * Brings a record up to date with the system: a conmon exit file means the container
     * ended (code and time from the file); a dead conmon without one means nobody watches
     * the container any more: it is killed and reported exited.
     */
    private ContainerRecord refresh(ContainerRecord rec) {
        if (rec.state() == ContainerState.EXITED || rec.creating()) {
            return rec;
        }
        Path exitFile = exitDir.resolve(rec.id());
        Optional<ContainerRecord> ended = fromExitFile(rec, exitFile);
        if (ended.isPresent()) {
            return update(rec.id(), r -> r.state() == ContainerState.EXITED ? r : ended.get());
        }
        if (!processes.alive(rec.conmonPid(), rec.conmonStartTime())) {
            // conmon may have written the file just before exiting
            Optional<ContainerRecord> late = fromExitFile(rec, exitFile);
            if (late.isPresent()) {
                return update(rec.id(), r -> r.state() == ContainerState.EXITED ? r : late.get());
            }
            String msg = "the container's monitor (conmon, pid " + rec.conmonPid() + ") died; berth killed the"
                    + " container, its real exit status is unknown";
            LOG.warn("container {}: {}", rec.id(), msg);
            try {
                runtime(rec).kill(rec.id(), "SIGKILL");
            } catch (BerthException e) {
                LOG.warn("cannot kill unmonitored container {}: {}", rec.id(), e.getMessage());
            }
            return update(rec.id(), r -> r.state() == ContainerState.EXITED ? r
                    : r.exited(now(), 255, ContainerRecord.REASON_ERROR, msg));
        }
        return rec;
    }

    private Optional<ContainerRecord> fromExitFile(ContainerRecord rec, Path exitFile) {
        String text;
        FileTime mtime;
        try {
            text = Files.readString(exitFile).trim();
            mtime = Files.getLastModifiedTime(exitFile);
        } catch (NoSuchFileException e) {
            return Optional.empty();
        } catch (IOException e) {
            LOG.warn("cannot read exit file {}: {}", exitFile, e.getMessage());
            return Optional.empty();
        }
        if (text.isEmpty()) {
            return Optional.empty(); // conmon is still writing it
        }
        int code;
        try {
            code = Integer.parseInt(text);
        } catch (NumberFormatException e) {
            code = 255;
        }
        Instant at = mtime.toInstant();
        // the file time comes from the kernel's coarse clock: never before the start we recorded
        long finished = Math.max(at.getEpochSecond() * 1_000_000_000L + at.getNano(), rec.startedAt());
        String reason;
        String message = "";
        // the cgroup's OOM kill count, or conmon's marker of an OOM event (which outlives the
        // cgroup, should the runtime have removed it already)
        if (oomProbe.oomKilled(rec) || Files.exists(layout(rec).oomFile())) {
            reason = ContainerRecord.REASON_OOM_KILLED;
        } else if (code == 0) {
            reason = ContainerRecord.REASON_COMPLETED;
        } else {
            reason = ContainerRecord.REASON_ERROR;
        }
        if (rec.state() == ContainerState.CREATED && rec.startedAt() == 0 && code != 0) {
            message = "container exited before it was started";
        }
        return Optional.of(rec.exited(finished, code, reason, message));
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
            return new ExecProcess(exec.argv(), exec.pidFile(), options.execOutputCap()).run(timeout, id, cmd);
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
        ContainerRecord rec = refresh(get(id));
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
            ObjectNode process = (ObjectNode) spec.get("process").deepCopy();
            process.set("args", Json.mapper().valueToTree(cmd));
            process.put("terminal", tty);
            process.remove("consoleSize");
            if (tty) {
                withTerm(process);
                if (width > 0 && height > 0) {
                    process.putObject("consoleSize").put("height", height).put("width", width);
                }
            }
            process.remove("oomScoreAdj");
            AtomicFiles.write(processJson, Json.mapper().writeValueAsBytes(process));
            return new PreparedExec(runtime(rec).execCommand(id, processJson, pidFile), processJson, pidFile, tty);
        } catch (IOException e) {
            try {
                Files.deleteIfExists(processJson);
            } catch (IOException ignored) {
                // best effort
            }
            throw BerthException.internal("cannot exec in container " + id, e);
        }
    }

    /** A terminal program needs TERM: the process gets {@code xterm} unless its environment names one. */
    private static void withTerm(ObjectNode process) {
        com.fasterxml.jackson.databind.node.ArrayNode env = process.has("env") && process.get("env").isArray()
                ? (com.fasterxml.jackson.databind.node.ArrayNode) process.get("env") : process.putArray("env");
        for (JsonNode e : env) {
            if (e.asText().startsWith("TERM=")) {
                return;
            }
        }
        env.add("TERM=xterm");
    }

    /**
     * Connects to the standard streams of the running container {@code id} through its conmon's
     * attach socket. Detaching leaves the container running; its exit ends the attachment with
     * its exit code.
     */
    public ContainerAttachment attach(String id) {
        ContainerRecord rec = refresh(get(id));
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
            ContainerRecord rec = refresh(get(id));
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
            return update(id, r -> r.withConfig(r.config().withResources(resources)));
        }
    }

    /**
     * Asks conmon to reopen the container's log file (after the caller renamed it away) and
     * waits until the new file exists. Output written meanwhile stays in conmon's pipe.
     */
    public void reopenLog(String id) {
        ContainerRecord rec = refresh(get(id));
        if (rec.state() != ContainerState.RUNNING) {
            throw BerthException.failedPrecondition("container %s is %s, not RUNNING", id, rec.state());
        }
        Path ctl = Path.of(rec.bundle(), "ctl");
        // read+write open of a FIFO never blocks, even if conmon were gone
        try (FileChannel ch = FileChannel.open(ctl, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ch.write(java.nio.ByteBuffer.wrap("2 0 0\n".getBytes(StandardCharsets.US_ASCII)));
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

    // ---------------------------------------------------------------- exit events

    /**
     * Calls {@code listener} once with the record of each container that berth sees exit,
     * however it notices (the source for CRI container events). Starts a watcher thread on the
     * exit directory on first use, so exits are noticed without anyone asking; it also checks
     * every {@code sweep} for monitors that died without an exit file.
     */
    public synchronized void onExit(java.util.function.Consumer<ContainerRecord> listener, Duration sweep) {
        exitListeners.add(listener);
        if (exitWatcher != null) {
            return;
        }
        try {
            Files.createDirectories(exitDir);
            watchService = exitDir.getFileSystem().newWatchService();
            exitDir.register(watchService, java.nio.file.StandardWatchEventKinds.ENTRY_CREATE,
                    java.nio.file.StandardWatchEventKinds.ENTRY_MODIFY);
        } catch (IOException e) {
            throw BerthException.internal("cannot watch " + exitDir, e);
        }
        Thread t = new Thread(() -> watchExits(sweep), "berth-container-exits");
        t.setDaemon(true);
        exitWatcher = t;
        t.start();
    }

    private void watchExits(Duration sweep) {
        java.nio.file.WatchService ws = watchService;
        while (!Thread.currentThread().isInterrupted()) {
            try {
                java.nio.file.WatchKey key = ws.poll(sweep.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
                if (key != null) {
                    key.pollEvents();
                    key.reset();
                }
                for (ContainerRecord r : records.values()) {
                    // a CREATED container may be starting: its exit is start()'s to report, with
                    // its start time, so listeners never see a started container end unstarted
                    if (r.state() != ContainerState.RUNNING || r.creating()) {
                        continue;
                    }
                    refresh(r); // an exit found here reaches the listeners through update()
                }
            } catch (InterruptedException | java.nio.file.ClosedWatchServiceException e) {
                return;
            } catch (RuntimeException e) {
                LOG.warn("container exit watcher: {}", e.toString());
            }
        }
    }

    /** Stops the exit watcher. Containers keep running. */
    @Override
    public synchronized void close() {
        Thread t = exitWatcher;
        exitWatcher = null;
        if (t != null) {
            t.interrupt();
            try {
                watchService.close();
                t.join(5000);
            } catch (IOException e) {
                LOG.debug("closing the exit watch: {}", e.getMessage());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    // ---------------------------------------------------------------- recovery

    private void recover() {
        if (!Files.isDirectory(recordsDir)) {
            return;
        }
        try (Stream<Path> dirs = Files.list(recordsDir)) {
            for (Path dir : dirs.toList()) {
                Path file = dir.resolve("record.json");
                if (!Files.isRegularFile(file)) {
                    continue;
                }
                ContainerRecord rec;
                try {
                    rec = Json.mapper().readValue(file.toFile(), ContainerRecord.class);
                } catch (IOException e) {
                    LOG.error("ignoring unreadable container record {}: {}", file, e.getMessage());
                    continue;
                }
                if (rec.creating()) {
                    LOG.info("rolling back container {} whose creation was interrupted", rec.id());
                    try {
                        cleanup(rec);
                    } catch (RuntimeException e) {
                        LOG.error("cannot roll back container {}: {}", rec.id(), e.getMessage());
                    }
                    continue;
                }
                records.put(rec.id(), rec);
                refresh(rec);
            }
        } catch (IOException e) {
            throw BerthException.internal("cannot read container records in " + recordsDir, e);
        }
    }

    // ---------------------------------------------------------------- helpers

    private ContainerRecord get(String id) {
        ContainerRecord r = records.get(id);
        if (r == null) {
            throw BerthException.notFound("container %s not found", id);
        }
        return r;
    }

    private Object opLock(String id) {
        return opLocks.computeIfAbsent(id, k -> new Object());
    }

    private ConmonRuntime runtime(ContainerRecord rec) {
        ConmonRuntime r = handlers.get(rec.handler());
        if (r == null) {
            throw BerthException.failedPrecondition("runtime handler %s of container %s is no longer configured",
                    rec.handler(), rec.id());
        }
        return r;
    }

    private ConmonRuntime.Layout layout(ContainerRecord rec) {
        return new ConmonRuntime.Layout(Path.of(rec.bundle()), Path.of(rec.logPath()), exitDir, socketDir);
    }

    /** Applies a change to the record under the store's lock and persists it. */
    private ContainerRecord update(String id, UnaryOperator<ContainerRecord> fn) {
        ContainerRecord[] out = new ContainerRecord[1];
        boolean[] exited = new boolean[1];
        records.computeIfPresent(id, (k, r) -> {
            ContainerRecord n = fn.apply(r);
            if (n != r) {
                persist(n);
            }
            exited[0] = r.state() != ContainerState.EXITED && n.state() == ContainerState.EXITED;
            out[0] = n;
            return n;
        });
        if (out[0] == null) {
            throw BerthException.notFound("container %s not found", id);
        }
        if (exited[0]) {
            for (java.util.function.Consumer<ContainerRecord> l : exitListeners) {
                try {
                    l.accept(out[0]);
                } catch (RuntimeException e) {
                    LOG.warn("container exit listener failed: {}", e.toString());
                }
            }
        }
        return out[0];
    }

    private void persist(ContainerRecord rec) {
        try {
            AtomicFiles.write(recordsDir.resolve(rec.id()).resolve("record.json"),
                    Json.mapper().writeValueAsBytes(rec));
        } catch (IOException e) {
            throw BerthException.internal("cannot persist the record of container " + rec.id(), e);
        }
    }

    private boolean waitExit(ContainerRecord rec, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        Path exitFile = exitDir.resolve(rec.id());
        while (true) {
            if (fromExitFile(rec, exitFile).isPresent()) {
                return true;
            }
            if (!processes.alive(rec.conmonPid(), rec.conmonStartTime())) {
                return true; // refresh() tells an exit from a dead monitor
            }
            if (System.nanoTime() > deadline) {
                return false;
            }
            sleep(10);
        }
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
    public static String newContainerId() {
        return newId();
    }

    private static String newId() {
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

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new BerthException(BerthException.Kind.CANCELLED, "interrupted", e);
        }
    }

    private static void deleteTree(Path root) throws IOException {
        if (!Files.exists(root, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        Files.walkFileTree(root, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                Files.deleteIfExists(file);
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult postVisitDirectory(Path dir, IOException exc) throws IOException {
                Files.deleteIfExists(dir);
                return FileVisitResult.CONTINUE;
            }
        });
    }
}
