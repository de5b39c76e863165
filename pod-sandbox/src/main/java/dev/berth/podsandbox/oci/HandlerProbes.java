package dev.berth.podsandbox.oci;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import dev.berth.common.AtomicFiles;
import dev.berth.common.BerthException;
import dev.berth.common.Json;
import dev.berth.common.PrivateFiles;
import dev.berth.common.Trees;
import dev.berth.host.HostMounts;
import dev.berth.host.LinuxMounts;
import dev.berth.podsandbox.container.spec.ContainerConfig;
import dev.berth.podsandbox.namespaces.NamespacePins;
import dev.berth.podsandbox.namespaces.PodNamespaces;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Whether each configured runtime handler can run a container on this host, and what it
 * supports: probed once per handler at start-up, in the background so that start-up does not
 * wait for it. A handler whose binary is there but refuses this host (crun 1.8 on a hybrid
 * cgroup host fails every create: "cgroups in hybrid mode not supported") is found by running
 * a minimal container with it, not guessed from versions or cgroup layouts; Status then leaves
 * it out of the handlers it offers and says why. Its features are likewise what its containers
 * were seen to do, not what its features document claims (see {@link #containers}).
 */
public final class HandlerProbes implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(HandlerProbes.class);
    /** The key of recursive read-only mounts in {@link Result#unsupported()}. */
    public static final String RECURSIVE_READ_ONLY_MOUNTS = "recursiveReadOnlyMounts";
    /** The key of user namespaces in {@link Result#unsupported()}. */
    public static final String USER_NAMESPACES = "userNamespaces";
    /** How long {@link #close()} waits for the probe under way to end and clean up (its runtime commands time out sooner or later). */
    private static final long CLOSE_WAIT_SECONDS = 30;

    /** What a handler supports, as Status reports it per handler. */
    public record Features(boolean recursiveReadOnlyMounts, boolean userNamespaces) {
        /** Nothing beyond what every handler does. */
        public static final Features NONE = new Features(false, false);
    }

    public enum State { PROBING, AVAILABLE, UNAVAILABLE }

    /**
     * One handler's probe: still {@code PROBING}; {@code AVAILABLE} with its features and, per
     * feature it lacks ({@link #RECURSIVE_READ_ONLY_MOUNTS}, {@link #USER_NAMESPACES}), why;
     * {@code UNAVAILABLE} with the reason it cannot run here.
     */
    public record Result(State state, Features features, String reason, Map<String, String> unsupported) {
        public static final Result PROBING = new Result(State.PROBING, Features.NONE, "", Map.of());

        public Result {
            unsupported = Map.copyOf(unsupported);
        }

        public static Result available(Features features) {
            return available(features, Map.of());
        }

        public static Result available(Features features, Map<String, String> unsupported) {
            return new Result(State.AVAILABLE, features, "", unsupported);
        }

        public static Result unavailable(String reason) {
            return new Result(State.UNAVAILABLE, Features.NONE, reason, Map.of());
        }
    }

    /** Probes one handler by name; never throws (a failure is an {@code UNAVAILABLE} result). */
    @FunctionalInterface
    public interface Probe {
        Result probe(String handler);
    }

    private final Map<String, Result> results = new ConcurrentHashMap<>();
    private final CountDownLatch finished = new CountDownLatch(1);
    private volatile boolean closing;

    private HandlerProbes(Collection<String> handlers) {
        handlers.forEach(h -> results.put(h, Result.PROBING));
    }

    /** Starts probing {@code handlers} one after the other on {@code executor}. */
    public static HandlerProbes start(Collection<String> handlers, Probe probe, Executor executor) {
        HandlerProbes probes = new HandlerProbes(handlers);
        executor.execute(() -> {
            try {
                for (String h : handlers) {
                    if (probes.closing) {
                        return;
                    }
                    long began = System.nanoTime();
                    Result r;
                    try {
                        r = probe.probe(h);
                    } catch (RuntimeException e) {
                        r = Result.unavailable("the probe failed: " + e.getMessage());
                    }
                    long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - began);
                    probes.results.put(h, r);
                    if (r.state() == State.UNAVAILABLE) {
                        LOG.warn("runtime handler {} cannot run containers on this host, not offered (probed in {} ms): {}",
                                h, ms, r.reason());
                    } else {
                        LOG.info("runtime handler {} runs containers here (probed in {} ms); features {}{}", h, ms,
                                r.features(), r.unsupported().isEmpty() ? "" : ", lacking " + r.unsupported());
                    }
                }
            } finally {
                probes.finished.countDown();
            }
        });
        return probes;
    }

    /**
     * Starts no further probe and waits (at most 30 s) for the one under way to end, which
     * releases what it made: a daemon that stops during a probe leaves no probe container,
     * cgroup, mount or namespace behind. What a killed daemon leaves, the next start's probe
     * removes first.
     */
    @Override
    public void close() {
        closing = true;
        try {
            if (!finished.await(CLOSE_WAIT_SECONDS, TimeUnit.SECONDS)) {
                LOG.warn("the runtime handler probe did not end within {} s; the next start removes what it leaves", CLOSE_WAIT_SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Every handler's result so far, by name. */
    public Map<String, Result> results() {
        return new TreeMap<>(results);
    }

    /**
     * Whether {@code handler}'s probe found it makes recursive read-only mounts: empty while it
     * is being probed (or is not configured); false when it cannot run here.
     */
    public Optional<Boolean> recursiveReadOnlyMounts(String handler) {
        Result r = results.get(handler);
        return r == null || r.state() == State.PROBING ? Optional.empty()
                : Optional.of(r.features().recursiveReadOnlyMounts());
    }

    /** Whether every handler has been probed. */
    public boolean done() {
        return results.values().stream().noneMatch(r -> r.state() == State.PROBING);
    }

    /**
     * The probe berth runs, with the handler's runtime, each container detached in a cgroup of
     * its own ({@code /berth-handler-probe-<handler>[-userns]-<hash of dir>}) and deleted with it
     * ({@code removeCgroup} removes what the runtime may leave); working files under
     * {@code dir}. Each container is the infra bundle (catatonit, a read-only root holding
     * nothing else, its own PID and mount namespaces, the host's network):
     * <ol>
     * <li>with a recursive read-only bind ({@code rbind,ro,rro}) of a directory that holds a
     * tmpfs submount: the handler supports recursive read-only mounts when the submount is
     * read-only in the container's mount table, read from the host
     * ({@code /proc/<pid>/mountinfo}); a runtime that refuses or ignores {@code rro} does not;
     * </li>
     * <li>when that container fails (or rro is ruled out), the same without the bind: one that
     * fails too means the handler is unavailable, with the runtime's own words;</li>
     * <li>joined, as a pod's infra process is, to a user namespace made and pinned as a pod's
     * ({@link NamespacePins}, with a mapping of 65536 ids at {@link #PROBE_HOST_ID}) and given
     * its maps: the handler supports user namespaces when the container's process is in that
     * very namespace ({@code /proc/<pid>/ns/user}) with that uid map.</li>
     * </ol>
     * A feature that {@code claims} (given the runtime binary) rules out, the kernel lacking it
     * or the runtime's features document not listing it, is not tried. When berth cannot even
     * prepare a container (no catatonit), nothing is learnt of the handler: it stays offered,
     * without either feature, as before probing. Everything a probe makes is released when it
     * ends, however it ends; what a crash left is released before it starts.
     */
    public static Probe containers(RuntimeHandlers handlers, Path dir, Consumer<String> removeCgroup,
            Function<String, RuntimeFeatures> claims) {
        return handler -> {
            OciRuntime runtime = handlers.find(handler).orElse(null);
            if (runtime == null) {
                return Result.unavailable("not configured");
            }
            return new ContainerProbe(runtime, handler, dir, removeCgroup).run(claims);
        };
    }

    /**
     * The cgroup of probe container {@code id} of the probes in {@code dir}: named after both,
     * so that daemons with different run roots on one host never share (nor remove) each
     * other's.
     */
    static String cgroup(Path dir, String id) {
        return "/" + id + "-" + Integer.toHexString(dir.toAbsolutePath().normalize().toString().hashCode());
    }

    /** The first host id of the user namespace the probe's container joins (ids 0..65535 inside). */
    static final long PROBE_HOST_ID = 0xFFFE0000L;
    static final long PROBE_IDS = 65536;
    /** Where the recursive read-only bind is in the probe's container: below its /dev tmpfs, so nothing is created in the shared root. */
    static final String RRO_TARGET = "/dev/berth-rro";

    /** One handler's probe containers and everything they need, released by {@link #release()}. */
    private static final class ContainerProbe {
        private final OciRuntime runtime;
        private final String handler;
        private final Path dir;
        private final Consumer<String> removeCgroup;
        private final HostMounts mounts = LinuxMounts.INSTANCE;
        private final NamespacePins pins = new NamespacePins();
        private final String plain;
        private final String userns;
        private final Path rroSource;
        private final Path nsDir;

        ContainerProbe(OciRuntime runtime, String handler, Path dir, Consumer<String> removeCgroup) {
            this.runtime = runtime;
            this.handler = handler;
            this.dir = dir;
            this.removeCgroup = removeCgroup;
            this.plain = "berth-handler-probe-" + handler.replaceAll("[^A-Za-z0-9_.-]", "_");
            this.userns = plain + "-userns";
            this.rroSource = dir.resolve(plain + "-rro");
            this.nsDir = dir.resolve(userns + "-ns");
        }

        Result run(Function<String, RuntimeFeatures> claims) {
            release(); // what a crash left behind
            try {
                Path rootfs;
                try {
                    // traversable: the runtime resolves the root from inside the probe's user namespace
                    PrivateFiles.directory(dir, PrivateFiles.TRAVERSABLE);
                    rootfs = InfraBundle.ensureRootfs(dir);
                } catch (IOException | BerthException e) {
                    LOG.warn("cannot probe runtime handler {} (it stays offered): {}", handler, e.getMessage());
                    String why = "berth cannot prepare a probe container: " + e.getMessage();
                    return Result.available(Features.NONE, Map.of(RECURSIVE_READ_ONLY_MOUNTS, why, USER_NAMESPACES, why));
                }
                RuntimeFeatures claimed = claims.apply(runtime.runtimeBinary().toString());
                Map<String, String> unsupported = new LinkedHashMap<>();

                Optional<String> rroRuledOut = claimed.recursiveReadOnlyRuledOut();
                boolean rro = false;
                boolean ran = false;
                if (rroRuledOut.isPresent()) {
                    unsupported.put(RECURSIVE_READ_ONLY_MOUNTS, rroRuledOut.get());
                } else {
                    try {
                        prepareRecursiveReadOnlySource();
                        long pid = start(plain, rootfs, PodNamespaces.host(), List.of(), rroSource);
                        ran = true;
                        Optional<String> fault = recursiveReadOnlyFault(Files.readAllLines(Path.of("/proc", Long.toString(pid), "mountinfo")));
                        rro = fault.isEmpty();
                        fault.ifPresent(f -> unsupported.put(RECURSIVE_READ_ONLY_MOUNTS, f));
                    } catch (BerthException | IOException e) {
                        unsupported.put(RECURSIVE_READ_ONLY_MOUNTS, (ran ? "cannot read the probe container's mount table: "
                                : "a container with a recursive read-only mount failed: ") + e.getMessage());
                    } finally {
                        delete(plain);
                        mounts.unmountAllUnder(rroSource);
                    }
                }
                if (!ran) {
                    try {
                        start(plain, rootfs, PodNamespaces.host(), List.of(), null);
                    } catch (BerthException e) {
                        return Result.unavailable(e.getMessage());
                    } finally {
                        delete(plain);
                    }
                }

                Optional<String> usernsRuledOut = claimed.userNamespacesRuledOut();
                boolean user = false;
                if (usernsRuledOut.isPresent()) {
                    unsupported.put(USER_NAMESPACES, usernsRuledOut.get());
                } else {
                    Optional<String> fault = userNamespaceFault(rootfs);
                    user = fault.isEmpty();
                    fault.ifPresent(f -> unsupported.put(USER_NAMESPACES, f));
                }
                return Result.available(new Features(rro, user), unsupported);
            } finally {
                release();
            }
        }

        /** Why a container joined to a pod-like user namespace did not run in it; empty when it did. */
        private Optional<String> userNamespaceFault(Path rootfs) {
            String map = "0 " + PROBE_HOST_ID + " " + PROBE_IDS + "\n";
            List<ContainerConfig.IdMapping> ids = List.of(new ContainerConfig.IdMapping(0, PROBE_HOST_ID, PROBE_IDS));
            try {
                PodNamespaces ns = pins.create(nsDir, false, false, false, null, null, new NamespacePins.UserMaps(map, map));
                long pid;
                try {
                    pid = start(userns, rootfs, ns, ids, null);
                } catch (BerthException e) {
                    return Optional.of("a container in a user namespace failed: " + e.getMessage());
                }
                Path proc = Path.of("/proc", Long.toString(pid));
                String joined = Files.readSymbolicLink(proc.resolve("ns/user")).toString();
                String given = "user:[" + Files.getAttribute(ns.user(), "unix:ino") + "]";
                if (!joined.equals(given)) {
                    return Optional.of("the container did not run in the user namespace it was given (" + given
                            + "), but in " + joined + " with uid map \"" + words(Files.readString(proc.resolve("uid_map"))) + "\"");
                }
                String uidMap = words(Files.readString(proc.resolve("uid_map")));
                if (!uidMap.equals(words(map))) {
                    return Optional.of("the container's uid map is \"" + uidMap + "\", not \"" + words(map) + "\"");
                }
                return Optional.empty();
            } catch (IOException | BerthException e) {
                return Optional.of("cannot probe user namespaces: " + e.getMessage());
            } finally {
                delete(userns);
                try {
                    pins.release(nsDir);
                } catch (RuntimeException e) {
                    LOG.warn("cannot release the probe's user namespace in {}: {}", nsDir, e.getMessage());
                }
            }
        }

        /** A private bind of a directory onto itself holding a tmpfs at {@code sub}: nothing of it propagates. */
        private void prepareRecursiveReadOnlySource() throws IOException {
            PrivateFiles.directory(rroSource);
            mounts.bindPrivate(rroSource);
            Files.createDirectories(rroSource.resolve("sub"));
            mounts.tmpfs("berth-probe", rroSource.resolve("sub"), "size=4k,mode=755");
        }

        /**
         * Runs container {@code id} (its bundle {@code dir/id}, its cgroup {@code /id}) detached
         * in {@code ns}, given the id maps {@code ids} when in a user namespace and a recursive
         * read-only bind of {@code rroSource} when not null; returns its pid.
         */
        private long start(String id, Path rootfs, PodNamespaces ns, List<ContainerConfig.IdMapping> ids, Path rroSource) {
            Path bundle = dir.resolve(id);
            InfraBundle.write(bundle, rootfs, ns, cgroup(dir, id), ids, ids);
            if (rroSource != null) {
                Path config = bundle.resolve("config.json");
                try {
                    JsonNode spec = Json.mapper().readTree(config.toFile());
                    ((ArrayNode) spec.get("mounts")).add(Json.mapper().valueToTree(Map.of("destination", RRO_TARGET,
                            "type", "bind", "source", rroSource.toString(), "options", List.of("rbind", "rprivate", "ro", "rro"))));
                    AtomicFiles.writeString(config, Json.write(spec));
                } catch (IOException | RuntimeException e) {
                    throw BerthException.internal("cannot add a mount to the probe bundle " + bundle + ": " + e.getMessage(), e);
                }
            }
            return runtime.runDetached(id, bundle, bundle.resolve("output.log"));
        }

        private void delete(String id) {
            try {
                runtime.forceDelete(id);
            } catch (RuntimeException e) {
                LOG.warn("cannot delete the probe container {} of handler {}: {}", id, handler, e.getMessage());
            }
        }

        /** Releases every container, cgroup, mount, namespace pin and file of this handler's probe; never throws. */
        void release() {
            for (String id : List.of(plain, userns)) {
                delete(id);
                try {
                    removeCgroup.accept(cgroup(dir, id));
                } catch (RuntimeException e) {
                    LOG.warn("cannot remove the probe cgroup {}: {}", cgroup(dir, id), e.getMessage());
                }
            }
            try {
                mounts.unmountAllUnder(rroSource);
                if (Files.exists(nsDir)) {
                    pins.release(nsDir);
                }
            } catch (RuntimeException e) {
                LOG.warn("cannot unmount what the probe of handler {} mounted: {}", handler, e.getMessage());
                return; // never delete below a mount
            }
            for (Path p : List.of(dir.resolve(plain), dir.resolve(userns), rroSource, nsDir)) {
                try {
                    Trees.deleteRecursively(p);
                } catch (IOException e) {
                    LOG.debug("cannot remove the probe's {}: {}", p, e.getMessage());
                }
            }
        }
    }

    /**
     * Why the probe container's mount table ({@code /proc/<pid>/mountinfo}, mount points as the
     * container sees them) does not show the recursive read-only bind at {@link #RRO_TARGET}
     * read-only with its submount {@code sub}; empty when it does.
     */
    static Optional<String> recursiveReadOnlyFault(List<String> mountinfo) {
        String top = null;
        String sub = null;
        for (String line : mountinfo) {
            String[] f = line.split(" ");
            if (f.length < 6) {
                continue;
            }
            // the last of mounts stacked on one point is the one seen
            if (f[4].equals(RRO_TARGET)) {
                top = f[5];
            } else if (f[4].equals(RRO_TARGET + "/sub")) {
                sub = f[5];
            }
        }
        if (top == null) {
            return Optional.of("the recursive read-only mount is missing from the probe container");
        }
        if (!List.of(top.split(",")).contains("ro")) {
            return Optional.of("the recursive read-only mount is writable in the probe container");
        }
        if (sub == null) {
            return Optional.of("the submount of the recursive read-only mount is missing from the probe container");
        }
        if (!List.of(sub.split(",")).contains("ro")) {
            return Optional.of("the runtime left a submount of a recursive read-only mount writable (it ignored rro)");
        }
        return Optional.empty();
    }

    private static String words(String s) {
        return s.strip().replaceAll("\\s+", " ");
    }
}
