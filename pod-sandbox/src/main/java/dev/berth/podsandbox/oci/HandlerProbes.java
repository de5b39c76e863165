package dev.berth.podsandbox.oci;

import dev.berth.common.BerthException;
import dev.berth.common.Trees;
import dev.berth.podsandbox.namespaces.PodNamespaces;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Collection;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
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
 * it out of the handlers it offers and says why.
 */
public final class HandlerProbes {
    private static final Logger LOG = LoggerFactory.getLogger(HandlerProbes.class);

    /** What a handler supports, as Status reports it per handler. */
    public record Features(boolean recursiveReadOnlyMounts, boolean userNamespaces) {
        /** Nothing beyond what every handler does. */
        public static final Features NONE = new Features(false, false);
    }

    public enum State { PROBING, AVAILABLE, UNAVAILABLE }

    /**
     * One handler's probe: still {@code PROBING}; {@code AVAILABLE} with its features;
     * {@code UNAVAILABLE} with the reason it cannot run here.
     */
    public record Result(State state, Features features, String reason) {
        public static final Result PROBING = new Result(State.PROBING, Features.NONE, "");

        public static Result available(Features features) {
            return new Result(State.AVAILABLE, features, "");
        }

        public static Result unavailable(String reason) {
            return new Result(State.UNAVAILABLE, Features.NONE, reason);
        }
    }

    /** Probes one handler by name; never throws (a failure is an {@code UNAVAILABLE} result). */
    @FunctionalInterface
    public interface Probe {
        Result probe(String handler);
    }

    private final Map<String, Result> results = new ConcurrentHashMap<>();

    private HandlerProbes(Collection<String> handlers) {
        handlers.forEach(h -> results.put(h, Result.PROBING));
    }

    /** Starts probing {@code handlers} one after the other on {@code executor}. */
    public static HandlerProbes start(Collection<String> handlers, Probe probe, Executor executor) {
        HandlerProbes probes = new HandlerProbes(handlers);
        executor.execute(() -> {
            for (String h : handlers) {
                Result r;
                try {
                    r = probe.probe(h);
                } catch (RuntimeException e) {
                    r = Result.unavailable("the probe failed: " + e.getMessage());
                }
                probes.results.put(h, r);
                if (r.state() == State.UNAVAILABLE) {
                    LOG.warn("runtime handler {} cannot run containers on this host, not offered: {}", h, r.reason());
                } else {
                    LOG.info("runtime handler {} runs containers here; features {}", h, r.features());
                }
            }
        });
        return probes;
    }

    /** Every handler's result so far, by name. */
    public Map<String, Result> results() {
        return new TreeMap<>(results);
    }

    /** Whether every handler has been probed. */
    public boolean done() {
        return results.values().stream().noneMatch(r -> r.state() == State.PROBING);
    }

    /**
     * The probe berth runs: a minimal container (the infra bundle: catatonit, a read-only root
     * holding nothing else, its own PID and mount namespaces, the host's network) run detached
     * with the handler in a cgroup of its own, {@code /berth-handler-probe-<handler>}, then
     * deleted with the cgroup ({@code removeCgroup} removes what the runtime may leave);
     * working files under {@code dir}. A handler that runs it gets its features from
     * {@code features} (given the runtime binary); one whose runtime fails is unavailable with
     * the runtime's own words. When berth cannot even prepare the container (no catatonit),
     * nothing is learnt of the handler: it stays offered, as before probing.
     */
    public static Probe containers(RuntimeHandlers handlers, Path dir, Consumer<String> removeCgroup,
            Function<String, Features> features) {
        return handler -> {
            OciRuntime runtime = handlers.find(handler).orElse(null);
            if (runtime == null) {
                return Result.unavailable("not configured");
            }
            String name = "berth-handler-probe-" + handler.replaceAll("[^A-Za-z0-9_.-]", "_");
            String cgroup = "/" + name;
            Path bundle = dir.resolve(name);
            try {
                Path rootfs;
                try {
                    rootfs = InfraBundle.ensureRootfs(dir);
                    InfraBundle.write(bundle, rootfs, new PodNamespaces(null, null, null), cgroup);
                } catch (BerthException e) {
                    LOG.warn("cannot probe runtime handler {} (it stays offered): {}", handler, e.getMessage());
                    return Result.available(features.apply(runtime.runtimeBinary().toString()));
                }
                runtime.forceDelete(name); // one a crash left behind
                try {
                    runtime.runDetached(name, bundle, bundle.resolve("output.log"));
                } catch (BerthException e) {
                    return Result.unavailable(e.getMessage());
                }
                runtime.forceDelete(name);
                return Result.available(features.apply(runtime.runtimeBinary().toString()));
            } finally {
                try {
                    runtime.forceDelete(name);
                } catch (RuntimeException e) {
                    LOG.warn("cannot delete the probe container {} of handler {}: {}", name, handler, e.getMessage());
                }
                try {
                    removeCgroup.accept(cgroup);
                } catch (RuntimeException e) {
                    LOG.warn("cannot remove the probe cgroup {}: {}", cgroup, e.getMessage());
                }
                try {
                    Trees.deleteRecursively(bundle);
                } catch (IOException e) {
                    LOG.debug("cannot remove the probe bundle {}: {}", bundle, e.getMessage());
                }
            }
        };
    }
}
