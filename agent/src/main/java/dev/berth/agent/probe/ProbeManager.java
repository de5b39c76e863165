package dev.berth.agent.probe;

import dev.berth.agent.cri.CriClient;
import dev.berth.agent.pod.ContainerHooks;
import dev.berth.agent.pod.PodTranslation;
import dev.berth.agent.status.EventRecorder;
import dev.berth.agent.status.PodSnapshot;
import dev.berth.agent.status.PodStatusListener;
import dev.berth.agent.status.ProbeStates;
import dev.berth.common.DaemonThreads;
import dev.berth.cri.v1.ContainerState;
import dev.berth.cri.v1.ContainerStatus;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Probe;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import java.util.function.LongConsumer;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The containers' startup, liveness and readiness probes, with the kubelet's semantics. It
 * learns the pods' containers from the pod workers' snapshots (it is a {@link PodStatusListener},
 * told before the status is built: {@link #before}) and keeps one worker per running container
 * and probe kind, replaced when the container is replaced and stopped when it no longer runs.
 *
 * <p>A worker probes every periodSeconds from its start (the first period after the agent
 * started, at a random point of it, so an agent restarted with many pods does not probe them
 * all at once), skipping while the container has run less than initialDelaySeconds, and, for
 * liveness and readiness, until the container has started (its startup probe passed; the
 * startup probe stops then). A result counts once it repeated successThreshold (success) or
 * failureThreshold (failure) times. Readiness starts as failed, liveness as passed, startup as
 * unknown. A readiness or startup result that changes asks the pod's worker for a pass
 * ({@code resync}), so the pod's Ready condition follows. A liveness failure, or a startup
 * failure, kills the container: events Unhealthy and Killing, its preStop hook, then the stop
 * with the probe's terminationGracePeriodSeconds (else the pod's) less the hook's time (at
 * least 2 s), then a pass of the pod, whose restart policy and back-off decide the rest. Each
 * failed probe is an Unhealthy event, an HTTP redirect to another host a ProbeWarning.
 *
 * <p>Timing and running are apart: one scheduler thread only hands due probes to a bounded pool,
 * and each worker has at most one probe in flight (a tick that finds it still running is
 * dropped, as a Go ticker drops it), so a slow probe holds up nobody but itself.
 */
public final class ProbeManager implements PodStatusListener, ProbeStates, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ProbeManager.class);
    /** The probes running at once at most; more wait in the pool's queue. */
    public static final int DEFAULT_THREADS = 16;
    /** Attempts of a probe whose action could not run (unknown) before its result is thrown away, as the kubelet retries. */
    static final int MAX_ATTEMPTS = 3;
    /** A container is given at least this long to stop after its preStop hook, as the kubelet gives it. */
    static final long MIN_GRACE_SECONDS = 2;

    /** The three probes, with the kubelet's names. */
    public enum Kind {
        STARTUP("Startup"), LIVENESS("Liveness"), READINESS("Readiness");

        final String label;

        Kind(String label) {
            this.label = label;
        }

        Probe of(Container c) {
            return switch (this) {
                case STARTUP -> c.getStartupProbe();
                case LIVENESS -> c.getLivenessProbe();
                case READINESS -> c.getReadinessProbe();
            };
        }
    }

    private record Key(String uid, String container, Kind kind) {
    }

    private final Actions actions;
    private final ContainerHooks hooks;
    private final CriClient cri;
    private final EventRecorder events;
    private final ProbeMetrics metrics;
    private final Consumer<String> resync;
    private final Supplier<List<String>> hostIps;
    private final ScheduledThreadPoolExecutor timer;
    private final ThreadPoolExecutor runners;
    private final ExecutorService killers;
    private final long started = System.nanoTime();
    private final Map<Key, Worker> workers = new ConcurrentHashMap<>();
    private final Map<Key, ProbeMetrics.Meters> meters = new ConcurrentHashMap<>();
    private volatile boolean closed;
    /** For measurements: told how late each probe started against its schedule, in nanoseconds. */
    volatile LongConsumer lateness;

    /**
     * @param hooks run the preStop hook of a container killed for a failed probe
     * @param registry where the probe counters and durations go
     * @param resync asks the pod's worker (by pod uid) for a pass: its status, a restart
     * @param hostIps the node's addresses: a host-network pod's address
     * @param threads how many probes run at once at most
     */
    public ProbeManager(Actions actions, ContainerHooks hooks, CriClient cri, EventRecorder events, MeterRegistry registry,
            Consumer<String> resync, Supplier<List<String>> hostIps, int threads) {
        this.actions = actions;
        this.hooks = hooks;
        this.cri = cri;
        this.events = events;
        this.metrics = new ProbeMetrics(registry);
        this.resync = resync;
        this.hostIps = hostIps;
        this.timer = new ScheduledThreadPoolExecutor(1, DaemonThreads.named("probe-timer"));
        this.timer.setRemoveOnCancelPolicy(true);
        AtomicInteger n = new AtomicInteger();
        this.runners = new ThreadPoolExecutor(threads, threads, 30, TimeUnit.SECONDS, new LinkedBlockingQueue<>(),
                r -> DaemonThreads.named("prober-" + n.incrementAndGet()).newThread(r));
        this.runners.allowCoreThreadTimeOut(true);
        AtomicInteger k = new AtomicInteger();
        this.killers = Executors.newCachedThreadPool(r -> DaemonThreads.named("probe-kill-" + k.incrementAndGet()).newThread(r));
    }

    /** A listener that tells this manager first, then {@code next} (the status): the probes know a container before its status is built. */
    public PodStatusListener before(PodStatusListener next) {
        return new PodStatusListener() {
            @Override
            public void synced(Pod pod, PodSnapshot snapshot) {
                ProbeManager.this.synced(pod, snapshot);
                next.synced(pod, snapshot);
            }

            @Override
            public void terminated(String uid) {
                ProbeManager.this.terminated(uid);
                next.terminated(uid);
            }
        };
    }

    @Override
    public void synced(Pod pod, PodSnapshot snapshot) {
        if (closed) {
            return;
        }
        String uid = pod.getMetadata().getUid();
        String podIp = podIp(pod, snapshot);
        Set<Key> wanted = new HashSet<>();
        for (Container c : probed(pod)) {
            List<ContainerStatus> runs = snapshot.runs(c.getName());
            ContainerStatus latest = runs.isEmpty() ? null : runs.get(0);
            boolean running = latest != null && latest.getState() == ContainerState.CONTAINER_RUNNING && podIp != null;
            for (Kind kind : Kind.values()) {
                Probe probe = kind.of(c);
                if (probe == null || !running) {
                    continue;
                }
                Key key = new Key(uid, c.getName(), kind);
                wanted.add(key);
                Worker w = workers.get(key);
                if (w != null && w.containerId.equals(latest.getId())) {
                    w.pod = pod;
                    w.podIp = podIp;
                    continue;
                }
                if (w != null) {
                    w.stop();
                }
                Worker fresh = new Worker(key, pod, c, probe, latest.getId(), latest.getStartedAt() / 1_000_000, podIp);
                workers.put(key, fresh);
                fresh.start();
            }
        }
        for (Map.Entry<Key, Worker> e : workers.entrySet()) {
            if (e.getKey().uid().equals(uid) && !wanted.contains(e.getKey())) {
                e.getValue().stop();
                workers.remove(e.getKey(), e.getValue());
            }
        }
    }

    @Override
    public void terminated(String uid) {
        for (Map.Entry<Key, Worker> e : workers.entrySet()) {
            if (e.getKey().uid().equals(uid)) {
                e.getValue().stop();
                workers.remove(e.getKey(), e.getValue());
            }
        }
        for (Map.Entry<Key, ProbeMetrics.Meters> e : meters.entrySet()) {
            if (e.getKey().uid().equals(uid)) {
                meters.remove(e.getKey());
                e.getValue().remove();
            }
        }
    }

    /** The app containers and the sidecars (init containers that restart always): those the probes watch. */
    private static List<Container> probed(Pod pod) {
        List<Container> out = new ArrayList<>();
        for (Container c : pod.getSpec().getInitContainers()) {
            if ("Always".equals(c.getRestartPolicy())) {
                out.add(c);
            }
        }
        out.addAll(pod.getSpec().getContainers());
        return out;
    }

    private String podIp(Pod pod, PodSnapshot snapshot) {
        if (Boolean.TRUE.equals(pod.getSpec().getHostNetwork())) {
            List<String> hosts = hostIps.get();
            return hosts.isEmpty() ? "127.0.0.1" : hosts.get(0);
        }
        var sandbox = snapshot.sandbox();
        if (sandbox != null && sandbox.hasNetwork() && !sandbox.getNetwork().getIp().isEmpty()) {
            return sandbox.getNetwork().getIp();
        }
        return pod.getStatus() != null && pod.getStatus().getPodIP() != null && !pod.getStatus().getPodIP().isEmpty()
                ? pod.getStatus().getPodIP() : null;
    }

    @Override
    public boolean started(String podUid, Container spec, String containerId) {
        if (spec.getStartupProbe() == null) {
            return true;
        }
        Worker w = workers.get(new Key(podUid, spec.getName(), Kind.STARTUP));
        return w != null && w.containerId.equals(containerId) && Boolean.TRUE.equals(w.result);
    }

    @Override
    public boolean ready(String podUid, Container spec, String containerId) {
        if (spec.getReadinessProbe() == null) {
            return true;
        }
        Worker w = workers.get(new Key(podUid, spec.getName(), Kind.READINESS));
        return w != null && w.containerId.equals(containerId) && Boolean.TRUE.equals(w.result);
    }

    /** How many probe workers run (for tests). */
    int workerCount() {
        return workers.size();
    }

    @Override
    public void close() {
        closed = true;
        workers.values().forEach(Worker::stop);
        workers.clear();
        timer.shutdownNow();
        runners.shutdownNow();
        killers.shutdownNow();
    }

    /** One probe of one container (by id): its schedule, its run of equal results, its result. */
    private final class Worker {
        final Key key;
        final Container spec;
        final Probe probe;
        final String containerId;
        /** When the container started (ms since the epoch), for initialDelaySeconds. */
        final long containerStartedMillis;
        final long periodNanos;
        final ProbeMetrics.Meters meters;
        volatile Pod pod;
        volatile String podIp;
        /** The current result: null unknown (startup at first), else passed or not. */
        volatile Boolean result;
        volatile boolean stopped;
        final AtomicBoolean inFlight = new AtomicBoolean();
        ScheduledFuture<?> ticks;
        /** Touched by the timer thread only. */
        long firstDue;
        long tickCount;
        /** Touched by the probe in flight only (one at a time). */
        Boolean lastPassed;
        int run;
        boolean onHold;

        Worker(Key key, Pod pod, Container spec, Probe probe, String containerId, long containerStartedMillis, String podIp) {
            this.key = key;
            this.pod = pod;
            this.spec = spec;
            this.probe = probe;
            this.containerId = containerId;
            this.containerStartedMillis = containerStartedMillis;
            this.podIp = podIp;
            this.periodNanos = Duration.ofSeconds(positive(probe.getPeriodSeconds(), 10)).toNanos();
            this.result = switch (key.kind()) {
                case READINESS -> false;
                case LIVENESS -> true;
                case STARTUP -> null;
            };
            this.meters = ProbeManager.this.meters.computeIfAbsent(key, k -> metrics.forWorker(k.kind().label, k.container(),
                    pod.getMetadata().getName(), pod.getMetadata().getNamespace(), k.uid()));
        }

        void start() {
            long delay = System.nanoTime() - started < periodNanos ? (long) (ThreadLocalRandom.current().nextDouble() * periodNanos) : 0;
            firstDue = System.nanoTime() + delay;
            try {
                ticks = timer.scheduleAtFixedRate(this::tick, delay, periodNanos, TimeUnit.NANOSECONDS);
            } catch (RejectedExecutionException e) {
                stopped = true; // closing
            }
        }

        void stop() {
            stopped = true;
            ScheduledFuture<?> t = ticks;
            if (t != null) {
                t.cancel(false);
            }
        }

        /** On the timer thread: hands the probe to the pool unless the last one still runs. */
        private void tick() {
            long due = firstDue + tickCount++ * periodNanos;
            if (stopped || !inFlight.compareAndSet(false, true)) {
                return;
            }
            try {
                runners.execute(() -> run(due));
            } catch (RejectedExecutionException e) {
                inFlight.set(false);
            }
        }

        private void run(long due) {
            try {
                LongConsumer l = lateness;
                if (l != null) {
                    l.accept(System.nanoTime() - due);
                }
                if (!stopped) {
                    probeOnce();
                }
            } catch (RuntimeException e) {
                LOG.warn("pod {}: {} probe of {} broke: {}", key.uid(), key.kind().label, key.container(), e.toString());
            } finally {
                inFlight.set(false);
            }
        }

        private void probeOnce() {
            if (onHold) {
                return;
            }
            int initialDelay = positive(probe.getInitialDelaySeconds(), 0);
            if (initialDelay > 0 && (System.currentTimeMillis() - containerStartedMillis) / 1000 < initialDelay) {
                return;
            }
            if (key.kind() == Kind.STARTUP) {
                if (Boolean.TRUE.equals(result)) {
                    return; // started: the startup probe has done its work
                }
            } else if (!started(key.uid(), spec, containerId)) {
                return; // liveness and readiness wait for the startup probe
            }
            Pod p = pod;
            long began = System.nanoTime();
            ProbeResult r = null;
            for (int i = 0; i < MAX_ATTEMPTS && !stopped; i++) {
                r = actions.probe(probe, spec, containerId, podIp);
                if (r.outcome() != ProbeResult.Outcome.UNKNOWN) {
                    break;
                }
            }
            if (r == null || stopped) {
                return;
            }
            meters.record(r.outcome(), System.nanoTime() - began);
            var ref = EventRecorder.podReference(p, key.container());
            switch (r.outcome()) {
                case UNKNOWN -> {
                    events.event(ref, EventRecorder.WARNING, "Unhealthy", key.kind().label + " probe errored and resulted in unknown state: "
                            + r.message());
                    return; // thrown away, as the kubelet throws it away
                }
                case WARNING -> events.event(ref, EventRecorder.WARNING, "ProbeWarning", key.kind().label + " probe warning: " + r.message());
                case FAILURE -> events.event(ref, EventRecorder.WARNING, "Unhealthy", key.kind().label + " probe failed: " + r.message());
                case SUCCESS -> {
                }
            }
            boolean passed = r.passed();
            if (lastPassed != null && lastPassed == passed) {
                run++;
            } else {
                lastPassed = passed;
                run = 1;
            }
            if (!passed && run < positive(probe.getFailureThreshold(), 3) || passed && run < positive(probe.getSuccessThreshold(), 1)) {
                return; // not yet: the result stands
            }
            Boolean before = result;
            result = passed;
            if (key.kind() != Kind.LIVENESS && !Boolean.valueOf(passed).equals(before)) {
                LOG.info("pod {}/{}: container {} {} probe: {}", p.getMetadata().getNamespace(), p.getMetadata().getName(),
                        key.container(), key.kind().label.toLowerCase(), passed ? "passed" : "failed");
                resync.accept(key.uid());
            }
            if (!passed && key.kind() != Kind.READINESS) {
                onHold = true; // no more probing of a container being killed; its successor gets a worker of its own
                run = 0;
                kill(p);
            }
        }

        /** The container failed its liveness or startup probe: it is stopped (preStop first) for the pod's worker to restart. */
        private void kill(Pod p) {
            String what = key.kind() == Kind.LIVENESS ? "liveness" : "startup";
            boolean restarts = !"Never".equals(p.getSpec().getRestartPolicy());
            String message = "Container " + key.container() + " failed " + what + " probe" + (restarts ? ", will be restarted" : "");
            LOG.info("pod {}/{}: {}", p.getMetadata().getNamespace(), p.getMetadata().getName(), message);
            try {
                killers.execute(() -> {
                    events.event(EventRecorder.podReference(p, key.container()), EventRecorder.NORMAL, "Killing", message);
                    long grace = probe.getTerminationGracePeriodSeconds() != null ? Math.max(0, probe.getTerminationGracePeriodSeconds())
                            : PodTranslation.gracePeriodSeconds(p);
                    long began = System.nanoTime();
                    try {
                        hooks.preStop(p, spec, containerId, Duration.ofSeconds(grace));
                    } catch (RuntimeException e) {
                        LOG.warn("pod {}: the preStop hook of {} broke: {}", key.uid(), key.container(), e.toString());
                    }
                    long left = Math.max(MIN_GRACE_SECONDS, grace - Duration.ofNanos(System.nanoTime() - began).toSeconds());
                    try {
                        cri.stopContainerAsync(containerId, left).get(left + 120, TimeUnit.SECONDS);
                    } catch (ExecutionException | TimeoutException e) {
                        LOG.warn("pod {}: stopping container {} after its failed {} probe: {}", key.uid(), key.container(), what,
                                e.toString());
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        return;
                    }
                    resync.accept(key.uid());
                });
            } catch (RejectedExecutionException e) {
                // closing
            }
        }
    }

    private static int positive(Integer value, int fallback) {
        return value == null || value < 1 ? fallback : value;
    }
}
