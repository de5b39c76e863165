package dev.berth.podsandbox.container;

import dev.berth.common.BerthException;
import dev.berth.common.PrivateFiles;
import dev.berth.host.HostProcesses;
import dev.berth.podsandbox.oci.OciRuntime;
import java.io.IOException;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.function.LongSupplier;
import java.util.function.UnaryOperator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Exit detection and reconciliation of containers: the one place where what happened to a
 * container outside berth's calls (its process ended, its monitor died) becomes a record.
 * conmon writes {@code <exitDir>/<id>} with the exit code when a container ends; a monitor
 * that died without writing it leaves a container nobody watches, which is killed and recorded
 * exited. {@link #watch} does this on its own schedule (an exit file is seen at once, dead
 * monitors every sweep, or as soon as a read noticed one); the lifecycle does it for a
 * container before acting on it. Reads only {@link #observe} (the exit file and the monitor's
 * liveness, never a write), so asking never changes a container.
 * Every change of a record into EXITED is reported once to the listeners.
 */
public final class ContainerExits implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ContainerExits.class);

    private final ContainerStore store;
    private final Path exitDir;
    private final ContainerManager.OomProbe oomProbe;
    private final Function<ContainerRecord, OciRuntime> runtimes;
    /** Where conmon leaves a container's exit file and OOM marker. */
    private final Function<ContainerRecord, OciRuntime.Layout> layouts;
    private final HostProcesses processes;
    private final CopyOnWriteArrayList<Consumer<ContainerRecord>> listeners = new CopyOnWriteArrayList<>();
    private volatile Thread watcher;
    private WatchService watchService;
    /** While watching: reconciles, on a thread of its own, the containers whose dead monitor a read noticed. */
    private volatile ExecutorService reconciler;
    private final Set<String> requested = ConcurrentHashMap.newKeySet();
    /** Waiters of {@link #await} by container id. */
    private final ConcurrentHashMap<String, Wake> wakes = new ConcurrentHashMap<>();
    /** How often a waiter of {@link #await} looks unwoken while the watcher runs. */
    private volatile Duration fallbackPoll = Duration.ofMillis(200);
    /**
     * Containers whose start is in flight: an exit of theirs is the start's to record (with its
     * start time); a read or another reconcile in between would show them EXITED without ever
     * having started.
     */
    private final Set<String> starting = ConcurrentHashMap.newKeySet();
    private static final Object[] RECONCILING = new Object[64];

    static {
        for (int i = 0; i < RECONCILING.length; i++) {
            RECONCILING[i] = new Object();
        }
    }

    ContainerExits(ContainerStore store, Path exitDir, ContainerManager.OomProbe oomProbe,
                   Function<ContainerRecord, OciRuntime> runtimes, Function<ContainerRecord, OciRuntime.Layout> layouts,
                   HostProcesses processes) {
        this.store = store;
        this.exitDir = exitDir;
        this.oomProbe = oomProbe;
        this.runtimes = runtimes;
        this.layouts = layouts;
        this.processes = processes;
    }

    /** Calls {@code listener} once with the record of each container recorded EXITED from now on, however berth noticed. */
    public void listen(Consumer<ContainerRecord> listener) {
        listeners.add(listener);
    }

    /**
     * Starts a watcher thread on the exit directory, so exits are recorded without anyone
     * asking; it also checks every {@code sweep} for monitors that died without an exit file.
     * A second call does nothing.
     */
    public synchronized void watch(Duration sweep) {
        if (watcher != null) {
            return;
        }
        try {
            PrivateFiles.directory(exitDir);
            watchService = exitDir.getFileSystem().newWatchService();
            exitDir.register(watchService, StandardWatchEventKinds.ENTRY_CREATE, StandardWatchEventKinds.ENTRY_MODIFY);
        } catch (IOException e) {
            throw BerthException.internal("cannot watch " + exitDir, e);
        }
        WatchService ws = watchService;
        reconciler = Executors.newSingleThreadExecutor(r -> {
            Thread rt = new Thread(r, "berth-container-reconcile");
            rt.setDaemon(true);
            return rt;
        });
        Thread t = new Thread(() -> watchExits(ws, sweep), "berth-container-exits");
        t.setDaemon(true);
        watcher = t;
        t.start();
    }

    private void watchExits(WatchService ws, Duration sweep) {
        while (!Thread.currentThread().isInterrupted()) {
            try {
                WatchKey key = ws.poll(sweep.toMillis(), TimeUnit.MILLISECONDS);
                if (key != null) {
                    for (java.nio.file.WatchEvent<?> e : key.pollEvents()) {
                        // an exit file (named by the container's id) appeared: its waiters look now
                        if (e.context() instanceof Path file) {
                            wake(file.toString());
                        }
                    }
                    key.reset();
                }
                sweep();
            } catch (InterruptedException | ClosedWatchServiceException e) {
                return;
            } catch (RuntimeException e) {
                LOG.warn("container exit watcher: {}", e.toString());
            }
        }
    }

    /**
     * Writes the records a full disk kept in memory, then reconciles every running container
     * with the system (what the watcher does on each wake-up). One container's failure does not
     * hold up the others.
     */
    void sweep() {
        store.flush();
        for (ContainerRecord r : store.all()) {
            // a CREATED container may be starting: its exit is start()'s to report, with
            // its start time, so listeners never see a started container end unstarted
            if (r.state() != ContainerState.RUNNING || r.creating()) {
                continue;
            }
            try {
                reconcile(r); // an exit found here reaches the listeners through record()
            } catch (BerthException e) {
                LOG.warn("container {}: {}", r.id(), e.getMessage());
            }
        }
    }

    /** Stops the watcher. Containers keep running. */
    @Override
    public synchronized void close() {
        Thread t = watcher;
        watcher = null;
        ExecutorService r = reconciler;
        reconciler = null;
        if (r != null) {
            r.shutdownNow();
        }
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

    /**
     * The container as it is now, without recording anything: ended (with the code and time of
     * its exit file) when conmon wrote one, else as recorded. A running container whose monitor
     * is gone is handed to the reconciler thread while watching, so it is killed and recorded
     * exited at once rather than at the next sweep; the read itself still changes nothing.
     */
    ContainerRecord observe(ContainerRecord rec) {
        if (rec.state() == ContainerState.EXITED || rec.creating()) {
            return rec;
        }
        Optional<ContainerRecord> ended = fromExitFile(rec);
        if (ended.isPresent()) {
            return ended.get();
        }
        ExecutorService r = reconciler;
        if (r != null && rec.state() == ContainerState.RUNNING && !processes.alive(rec.conmonPid(), rec.conmonStartTime())
                && requested.add(rec.id())) {
            try {
                r.execute(() -> {
                    try {
                        reconcile(store.get(rec.id()));
                    } catch (RuntimeException e) {
                        LOG.debug("reconciling container {}: {}", rec.id(), e.getMessage());
                    } finally {
                        requested.remove(rec.id());
                    }
                });
            } catch (RejectedExecutionException e) {
                requested.remove(rec.id()); // closing: the next start-up reconciles it
            }
        }
        return rec;
    }

    /**
     * Brings a record up to date with the system: a conmon exit file means the container
     * ended (code and time from the file); a dead conmon without one means nobody watches
     * the container any more: it is killed and recorded exited.
     */
    ContainerRecord reconcile(ContainerRecord rec) {
        if (rec.creating()) {
            return rec;
        }
        // the watcher, the reconciler thread and the lifecycle may reconcile one container at
        // once: one at a time, each from the record as it is now, so a dead monitor's container
        // is killed and recorded once; and an exit that another thread is recording has reached
        // the listeners when this returns, so what the caller reports next comes after it
        synchronized (RECONCILING[Math.floorMod(rec.id().hashCode(), RECONCILING.length)]) {
            if (rec.state() == ContainerState.EXITED) {
                return rec;
            }
            ContainerRecord now = store.find(rec.id()).orElse(null);
            if (now == null || now.state() == ContainerState.EXITED || now.creating()) {
                return now == null ? rec : now;
            }
            return reconcileNow(now);
        }
    }

    private ContainerRecord reconcileNow(ContainerRecord rec) {
        Optional<ContainerRecord> ended = fromExitFile(rec);
        if (ended.isPresent()) {
            return record(rec.id(), r -> r.state() == ContainerState.EXITED ? r : ended.get());
        }
        if (!processes.alive(rec.conmonPid(), rec.conmonStartTime())) {
            // conmon may have written the file just before exiting
            Optional<ContainerRecord> late = fromExitFile(rec);
            if (late.isPresent()) {
                return record(rec.id(), r -> r.state() == ContainerState.EXITED ? r : late.get());
            }
            String msg = "the container's monitor (conmon, pid " + rec.conmonPid() + ") died; berth killed the"
                    + " container, its real exit status is unknown";
            LOG.warn("container {}: {}", rec.id(), msg);
            try {
                runtimes.apply(rec).kill(rec.id(), "SIGKILL");
            } catch (BerthException e) {
                LOG.warn("cannot kill unmonitored container {}: {}", rec.id(), e.getMessage());
            }
            return record(rec.id(), r -> r.state() == ContainerState.EXITED ? r
                    : r.exited(ContainerManager.now(), 255, ContainerRecord.REASON_ERROR, msg));
        }
        return rec;
    }

    /**
     * Applies a change to the record and persists it; a change into EXITED is reported to the
     * listeners. A change that cannot be written still holds in memory (and is reported): the
     * store writes it later, and the caller hears of the failure.
     *
     * @throws BerthException RESOURCE_EXHAUSTED (full disk) or INTERNAL when the record is not on disk
     */
    ContainerRecord record(String id, UnaryOperator<ContainerRecord> fn) {
        ContainerStore.Change c = store.update(id, fn);
        report(c);
        if (c.unwritten() != null) {
            throw c.unwritten();
        }
        return c.after();
    }

    /**
     * Writes the container's record now if an earlier change of it is still in memory only.
     *
     * @throws BerthException RESOURCE_EXHAUSTED (full disk) or INTERNAL when it still cannot be written
     */
    void written(String id) {
        if (store.unwritten(id)) {
            ContainerStore.Change c = store.update(id, r -> r);
            if (c.unwritten() != null) {
                throw c.unwritten();
            }
        }
    }

    private void report(ContainerStore.Change c) {
        if (c.before().state() != ContainerState.EXITED && c.after().state() == ContainerState.EXITED) {
            wake(c.after().id());
            for (Consumer<ContainerRecord> l : listeners) {
                try {
                    l.accept(c.after());
                } catch (RuntimeException e) {
                    LOG.warn("container exit listener failed: {}", e.toString());
                }
            }
        }
    }

    /**
     * The longest wait a timeout stands for (about 146 years): a deadline of
     * {@link System#nanoTime()} plus this, and the difference of two such deadlines, never
     * overflow.
     */
    static final long MAX_WAIT_NANOS = Long.MAX_VALUE / 2;

    /** Waits until the container has an exit file or its monitor is gone; false when {@code timeout} passed first. */
    boolean await(ContainerRecord rec, Duration timeout) {
        long deadline = System.nanoTime() + waitNanos(timeout);
        return await(rec, () -> deadline);
    }

    /**
     * Waits until the container has an exit file or its monitor is gone; false when the
     * {@link System#nanoTime()} {@code deadline}, asked anew on each look (another caller may
     * bring it forward), passed first. Woken when the container's exit is recorded or its exit
     * file appears; while the watcher runs, a look every {@link #fallbackPoll} only catches
     * what neither signalled (a monitor that died without an exit file), else every 10 ms.
     */
    boolean await(ContainerRecord rec, LongSupplier deadline) {
        Wake w = wakes.compute(rec.id(), (k, v) -> (v == null ? new Wake() : v).enter());
        try {
            while (true) {
                long seen = w.generation();
                if (fromExitFile(rec).isPresent()) {
                    return true;
                }
                if (!processes.alive(rec.conmonPid(), rec.conmonStartTime())) {
                    return true; // reconcile() tells an exit from a dead monitor
                }
                long left = deadline.getAsLong() - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                long poll = watcher != null ? fallbackPoll.toMillis() : 10;
                w.await(seen, Math.min(poll, TimeUnit.NANOSECONDS.toMillis(left) + 1));
            }
        } finally {
            wakes.computeIfPresent(rec.id(), (k, v) -> v.leave() ? null : v);
        }
    }

    /** Wakes the waiters of {@link #await} on container {@code id}, if any. */
    private void wake(String id) {
        Wake w = wakes.get(id);
        if (w != null) {
            w.signal();
        }
    }

    /** Sets how often a waiter looks without being woken while the watcher runs (tests make it long). */
    void fallbackPoll(Duration every) {
        fallbackPoll = every;
    }

    /** The waiters on one container's exit: a count, and a generation each signal moves on. */
    private static final class Wake {
        private int waiters;
        private long generation;

        synchronized Wake enter() {
            waiters++;
            return this;
        }

        /** One waiter fewer; true when it was the last. */
        synchronized boolean leave() {
            return --waiters == 0;
        }

        synchronized long generation() {
            return generation;
        }

        synchronized void signal() {
            generation++;
            notifyAll();
        }

        /** Waits up to {@code ms} unless a signal came after {@code seen} was read. */
        synchronized void await(long seen, long ms) {
            if (generation != seen) {
                return;
            }
            try {
                wait(Math.max(1, ms));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new BerthException(BerthException.Kind.CANCELLED, "interrupted", e);
            }
        }
    }

    /** {@code timeout} in nanoseconds, saturated at {@link #MAX_WAIT_NANOS}; none below zero. */
    static long waitNanos(Duration timeout) {
        if (timeout.isNegative()) {
            return 0;
        }
        return timeout.compareTo(Duration.ofNanos(MAX_WAIT_NANOS)) >= 0 ? MAX_WAIT_NANOS : timeout.toNanos();
    }

    /** The start of {@code id} is in flight until {@link #startEnded}: its exit waits for it. */
    void startBegins(String id) {
        starting.add(id);
    }

    void startEnded(String id) {
        starting.remove(id);
    }

    private Optional<ContainerRecord> fromExitFile(ContainerRecord rec) {
        if (rec.state() == ContainerState.CREATED && starting.contains(rec.id())) {
            return Optional.empty();
        }
        OciRuntime.Layout layout = layouts.apply(rec);
        Path exitFile = layout.exitFile(rec.id());
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
        if (oomProbe.oomKilled(rec) || Files.exists(layout.oomFile())) {
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
}
