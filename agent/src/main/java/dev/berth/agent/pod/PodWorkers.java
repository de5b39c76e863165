package dev.berth.agent.pod;

import dev.berth.agent.status.PodKnowledge;
import dev.berth.agent.status.PodStatusListener;
import dev.berth.common.DaemonThreads;
import dev.berth.cri.v1.ContainerStatus;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.Pod;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One worker per pod, by uid: each runs its pod's syncs one after the other on a thread of
 * its own (from an unbounded pool), so a slow pull or a long stop of one pod never holds up
 * another. A worker is told the pod's latest desired state ({@link #update}) or that the pod
 * must go ({@link #terminate}); updates that arrive while it works are merged into one next
 * pass. Failed passes are retried with back-off (1 s doubling to 5 min, as the kubelet's image
 * back-off), pending ones after a second, a container's held-back restart when its crash
 * back-off ({@link CrashBackOff}, by {@link RestartSettings}) ends. A running init container is looked at again after a second unless a
 * {@link Pleg} watches the runtime ({@link #plegAttached}): then its exit brings the
 * {@link #resync}. After every pass (done or failed) the {@link PodStatusListener} is told
 * what the pod looks like, with why its containers wait.
 */
public final class PodWorkers implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(PodWorkers.class);
    static final Duration PENDING_RECHECK = Duration.ofSeconds(1);
    static final Duration INITIAL_BACKOFF = Duration.ofSeconds(1);
    static final Duration MAX_BACKOFF = Duration.ofMinutes(5);

    private final PodSync sync;
    private final PodStatusListener listener;
    private final RestartSettings restarts;
    /** Now, in nanoseconds ({@link System#nanoTime} but in tests): when containers exited and may restart. */
    private final LongSupplier clock;
    private volatile boolean pleg;
    private final ExecutorService pool;
    private final ScheduledExecutorService timer;
    private final Map<String, Worker> workers = new HashMap<>();
    private volatile boolean closed;
    private volatile PodAdmitter admitter = PodAdmitter.NONE;

    public PodWorkers(PodSync sync) {
        this(sync, PodStatusListener.NONE);
    }

    public PodWorkers(PodSync sync, PodStatusListener listener) {
        this(sync, listener, RestartSettings.defaults());
    }

    /** @param restarts the crash back-off of the pods' containers */
    public PodWorkers(PodSync sync, PodStatusListener listener, RestartSettings restarts) {
        this(sync, listener, restarts, System::nanoTime);
    }

    PodWorkers(PodSync sync, PodStatusListener listener, RestartSettings restarts, LongSupplier clock) {
        this.sync = sync;
        this.listener = listener;
        this.restarts = restarts;
        this.clock = clock;
        AtomicInteger n = new AtomicInteger();
        this.pool = Executors.newCachedThreadPool(r -> DaemonThreads.named("pod-worker-" + n.incrementAndGet()).newThread(r));
        this.timer = DaemonThreads.scheduler("pod-worker-timer");
    }

    /**
     * New pods (uids without a worker) are started only when {@code admitter} admits them; a
     * refused uid is never started, as an evicted one. Set before the first {@link #update}.
     */
    public PodWorkers withAdmitter(PodAdmitter admitter) {
        this.admitter = admitter;
        return this;
    }

    /** The pod with this uid should run as {@code pod} says (a new pod once the admitter admits it). */
    public synchronized void update(Pod pod) {
        String uid = pod.getMetadata().getUid();
        if (closed || evicted.contains(uid)) {
            return;
        }
        Worker w = workers.get(uid);
        if (w == null) {
            if (!admitter.admit(pod)) {
                evicted.add(uid); // Failed for good: a later update (pressure gone or not) does not start it
                return;
            }
            w = new Worker(uid);
            workers.put(uid, w);
        }
        w.want(pod, null);
    }

    /**
     * The pod with this uid must stop and be removed, its containers with {@code graceSeconds};
     * {@code onTerminated} runs once it is gone (the worker is then forgotten).
     */
    public synchronized void terminate(String uid, long graceSeconds, Runnable onTerminated) {
        if (closed) {
            return;
        }
        Worker w = workers.computeIfAbsent(uid, Worker::new);
        w.want(null, new Termination(graceSeconds, onTerminated));
    }

    /**
     * Something changed in the runtime for the pod with this uid (a container event, a relist):
     * its worker runs a pass now, unless the pod is unknown, terminating, or waiting out the
     * back-off of a failed pass (an event must not defeat it).
     */
    public synchronized void resync(String uid) {
        Worker w = workers.get(uid);
        if (closed || w == null || w.desired == null || w.termination != null || w.failing) {
            return;
        }
        w.kick();
    }

    /** A {@link Pleg} now watches the runtime for these workers: running init containers are not polled. */
    public void plegAttached(boolean attached) {
        this.pleg = attached;
    }

    /** Whether no worker runs a pass or has one due (for tests: the workers have done what they were told). */
    synchronized boolean idle() {
        return workers.values().stream().noneMatch(w -> w.running || w.retry != null);
    }

    /** The uids of the pods that have a worker (running, pending or terminating). */
    public synchronized Set<String> uids() {
        return Set.copyOf(workers.keySet());
    }

    /** The pods the workers run as last told (not the ones being stopped), for the HTTP API's /pods and logs. */
    public synchronized java.util.List<Pod> pods() {
        return workers.values().stream().map(w -> w.desired).filter(java.util.Objects::nonNull).toList();
    }

    /** The pod with this uid as it was last told (also while it is being stopped), if it has a worker. */
    public synchronized Optional<Pod> pod(String uid) {
        Worker w = workers.get(uid);
        return w == null ? Optional.empty() : Optional.ofNullable(w.desired != null ? w.desired : w.last);
    }

    /** Whether the pod with this uid is being stopped. */
    public synchronized boolean terminating(String uid) {
        Worker w = workers.get(uid);
        return w != null && w.termination != null;
    }

    private synchronized void forget(Worker w) {
        if (workers.get(w.uid) == w) {
            workers.remove(w.uid);
        }
    }

    /** Stops the workers; passes in progress are interrupted; the pods stay as they are in the runtime. */
    @Override
    public void close() {
        synchronized (this) {
            closed = true;
        }
        timer.shutdownNow();
        pool.shutdownNow();
        try {
            pool.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private record Termination(long graceSeconds, Runnable onTerminated) {
    }

    /**
     * When a run that the runtime says finished at {@code finishedAt} (wall clock, nanoseconds)
     * ended on the monotonic clock that reads {@code now} while the wall clock reads {@code wallNow}:
     * {@code now} itself when the runtime's time is not plausible (none, in the future, or older than {@code reset}).
     */
    static long exitTime(long finishedAt, long wallNow, long now, Duration reset) {
        long ago = wallNow - finishedAt;
        return finishedAt > 0 && ago >= 0 && ago <= reset.toNanos() ? now - ago : now;
    }

    /** The wall clock in nanoseconds since the epoch, as the CRI gives times. */
    private static long wallNanos() {
        java.time.Instant t = java.time.Instant.now();
        return t.getEpochSecond() * 1_000_000_000L + t.getNano();
    }

    /** A container's ended run, and when it ended (on the workers' clock). */
    private record Exit(String id, long seen) {
    }

    /** One pod's worker: its desired state, and whether a pass runs or is due. */
    private final class Worker implements PodSync.Restarts {
        final String uid;
        Pod desired;
        /** The last pod it was told to run: what it stops, with its hooks, once it must go. */
        Pod last;
        Termination termination;
        boolean running;
        boolean dirty;
        ScheduledFuture<?> retry;
        Duration backoff = INITIAL_BACKOFF;
        /** The last pass failed: its retry waits for the back-off. */
        boolean failing;
        /** The restart back-off of its containers. */
        final CrashBackOff crashes = new CrashBackOff(restarts, clock);
        /** Per container name: its newest ended run's id and when the worker first saw it ended. */
        final Map<String, Exit> exits = new ConcurrentHashMap<>();
        /** What the passes found that the runtime will not tell (for the status). */
        final PodKnowledge knowledge = new PodKnowledge();
        /** The earliest end of a back-off that held a restart back in the current pass (System.nanoTime), or MAX_VALUE. */
        long nextRestart = Long.MAX_VALUE;

        Worker(String uid) {
            this.uid = uid;
        }

        /** Under the workers' lock. */
        void want(Pod pod, Termination t) {
            if (t != null) {
                if (termination == null) {
                    termination = t;
                }
                desired = null;
            } else if (termination == null) {
                if (pod.equals(desired) && (running || retry != null)) {
                    return; // nothing new: the pass under way or its back-off stands
                }
                if (desired != null && !desired.equals(pod)) {
                    backoff = INITIAL_BACKOFF;
                }
                desired = pod;
                last = pod;
            } else {
                return; // a terminating pod is not brought back; its uid is gone for good
            }
            kick();
        }

        /** Under the workers' lock: runs a pass now, or right after the current one. */
        void kick() {
            dirty = true;
            if (retry != null) {
                retry.cancel(false);
                retry = null;
            }
            if (!running && !closed) {
                running = true;
                pool.execute(this::loop);
            }
        }

        private void loop() {
            while (true) {
                Pod pod;
                Termination t;
                synchronized (PodWorkers.this) {
                    if (!dirty || closed) {
                        running = false;
                        return;
                    }
                    dirty = false;
                    pod = desired;
                    t = termination;
                }
                try {
                    if (t != null) {
                        terminate(t);
                    } else if (pod != null) {
                        pass(pod);
                    }
                } catch (RuntimeException | LinkageError e) {
                    // not left "running" for ever: the next update or retry starts the worker again
                    LOG.error("pod {}: worker failed: {}", uid, e.toString());
                    later(nextBackoff());
                }
            }
        }

        private void terminate(Termination t) {
            try {
                Pod pod;
                synchronized (PodWorkers.this) {
                    pod = last;
                }
                if (pod != null) {
                    sync.kill(pod, t.graceSeconds());
                } else {
                    sync.kill(uid, t.graceSeconds());
                }
            } catch (RuntimeException e) {
                LOG.warn("pod {}: stopping it failed, retrying in {}: {}", uid, backoff, e.getMessage());
                later(nextBackoff());
                return;
            }
            LOG.info("pod {}: stopped and removed", uid);
            forget(this);
            try {
                listener.terminated(uid);
            } catch (RuntimeException e) {
                LOG.warn("pod {}: the status listener failed: {}", uid, e.toString());
            }
            if (t.onTerminated() != null) {
                t.onTerminated().run();
            }
        }

        private void pass(Pod pod) {
            PodSync.Outcome outcome;
            nextRestart = Long.MAX_VALUE;
            crashes.forgetStable();
            try {
                outcome = sync.sync(pod, this, knowledge);
            } catch (ContainerConfigException e) {
                LOG.warn("pod {}/{}: {}: {} (retrying in {})", pod.getMetadata().getNamespace(), pod.getMetadata().getName(),
                        e.reason(), e.getMessage(), backoff);
                failed();
                publish(pod);
                return;
            } catch (RuntimeException e) {
                if (Thread.currentThread().isInterrupted() || closed) {
                    return;
                }
                LOG.warn("pod {}/{}: sync failed (retrying in {}): {}", pod.getMetadata().getNamespace(), pod.getMetadata().getName(),
                        backoff, e.getMessage());
                failed();
                publish(pod);
                return;
            }
            synchronized (PodWorkers.this) {
                backoff = INITIAL_BACKOFF;
                failing = false;
            }
            switch (outcome) {
                case PENDING -> later(PENDING_RECHECK);
                case WAITING_FOR_EXIT -> {
                    if (!pleg) {
                        later(PENDING_RECHECK);
                    }
                }
                case BACKING_OFF -> later(Duration.ofNanos(Math.max(0, nextRestart - clock.getAsLong())));
                case SETTLED -> {
                    // nothing until the pod or the runtime changes
                }
            }
            publish(pod);
        }

        private void failed() {
            Duration d = nextBackoff();
            synchronized (PodWorkers.this) {
                failing = true;
            }
            later(d);
        }

        /** Tells the listener what the pod looks like now; a runtime that does not answer leaves it for the next pass. */
        private void publish(Pod pod) {
            if (listener == PodStatusListener.NONE || closed) {
                return;
            }
            try {
                listener.synced(pod, sync.observe(pod, knowledge));
            } catch (RuntimeException e) {
                LOG.debug("pod {}: no status this time: {}", uid, e.toString());
            }
        }

        /**
         * A container may restart once its back-off, counted from its run's end, is over; each
         * restart grows the next one. The end is the run's finishedAt, as the kubelet counts, or
         * when the worker first saw it ended if that was sooner or the runtime's time is not
         * plausible (in the future, or older than the reset period). A container whose spec
         * changed starts a back-off of its own.
         */
        @Override
        public boolean mayRestart(Container c, ContainerStatus ended) {
            String key = key(c);
            long now = clock.getAsLong();
            Exit e = exits.compute(c.getName(), (k, before) -> before != null && before.id().equals(ended.getId()) ? before
                    : new Exit(ended.getId(), exitTime(ended, now)));
            if (crashes.holdBack(key, e.seen())) {
                nextRestart = Math.min(nextRestart, crashes.until(key, e.seen()));
                return false;
            }
            return true;
        }

        @Override
        public Duration backOff(Container c) {
            return crashes.current(key(c));
        }

        private long exitTime(ContainerStatus ended, long now) {
            return PodWorkers.exitTime(ended.getFinishedAt(), wallNanos(), now, restarts.reset());
        }

        private String key(Container c) {
            return c.getName() + "/" + Integer.toHexString(c.hashCode());
        }

        private Duration nextBackoff() {
            synchronized (PodWorkers.this) {
                Duration d = backoff;
                backoff = backoff.multipliedBy(2).compareTo(MAX_BACKOFF) > 0 ? MAX_BACKOFF : backoff.multipliedBy(2);
                return d;
            }
        }

        private void later(Duration delay) {
            synchronized (PodWorkers.this) {
                if (closed) {
                    return;
                }
                if (retry != null) {
                    retry.cancel(false);
                }
                retry = timer.schedule(() -> {
                    synchronized (PodWorkers.this) {
                        retry = null;
                        kick();
                    }
                }, delay.toMillis(), TimeUnit.MILLISECONDS);
            }
        }
    }

    // ---- eviction

    /** The uids of evicted and refused pods: Failed for good, never started (again), whatever a source still says. */
    private final Set<String> evicted = ConcurrentHashMap.newKeySet();

    /** The pods that have a worker and are not being stopped, as their workers last got them. */
    public synchronized java.util.List<Pod> activePods() {
        return workers.values().stream().filter(w -> w.desired != null && w.termination == null).map(w -> w.desired).toList();
    }

    /** Stops the pod as {@link #terminate} does, and never starts its uid again ({@link #update} ignores it). */
    public void evict(String uid, long graceSeconds, Runnable onTerminated) {
        evicted.add(uid);
        terminate(uid, graceSeconds, onTerminated);
    }
}
