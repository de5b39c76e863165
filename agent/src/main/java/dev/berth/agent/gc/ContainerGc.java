package dev.berth.agent.gc;

import dev.berth.agent.cri.CriClient;
import dev.berth.agent.pod.KubeletKeys;
import dev.berth.cri.v1.Container;
import dev.berth.cri.v1.ContainerState;
import dev.berth.cri.v1.PodSandbox;
import dev.berth.cri.v1.PodSandboxState;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.time.Clock;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.function.Predicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One pass of the kubelet's container garbage collection over the agent's own sandboxes (those
 * with the {@link KubeletKeys#POD_SOURCE} label; a crictl user's are never touched). Dead
 * containers (every state but running, created at least {@code minimumContainerTtl} ago) are
 * grouped by pod uid and container name. A pod that is no longer wanted on the node (neither
 * run nor being stopped by a pod worker) loses all of them; otherwise each group keeps its
 * {@code maxPerPodContainer} newest (so the previous run of a restarted container, the pod's
 * lastState, stays), and when the node holds more than {@code maxContainers} the groups are cut
 * to an even share (at least one each), then the oldest across groups go. A container in
 * unknown state is stopped before it is removed. Sandboxes go when they are not ready and hold
 * no container: all of them for a pod that is not wanted, all but the newest for one that is.
 * A running container and a ready sandbox are never removed.
 */
public final class ContainerGc {
    private static final Logger LOG = LoggerFactory.getLogger(ContainerGc.class);
    /** The grace period of a container in unknown state that has none recorded: the API's default. */
    static final long DEFAULT_GRACE_SECONDS = 30;

    private final CriClient cri;
    private final GcSettings settings;
    private final Predicate<String> podWanted;
    private final Clock clock;

    /** {@code podWanted} answers whether the pod of a uid still belongs on the node (a worker runs or stops it). */
    public ContainerGc(CriClient cri, GcSettings settings, Predicate<String> podWanted, Clock clock) {
        this.cri = cri;
        this.settings = settings;
        this.podWanted = podWanted;
        this.clock = clock;
    }

    /** A dead container considered for removal. */
    private record Dead(String id, String name, long createdAt, int attempt, boolean unknown, long graceSeconds) {
    }

    private record Unit(String podUid, String name) {
    }

    /** Newest first: the higher attempt, then the later creation. */
    private static final Comparator<Dead> NEWEST_FIRST = Comparator.comparingInt(Dead::attempt).reversed()
            .thenComparing(Comparator.comparingLong(Dead::createdAt).reversed());

    /** Runs one pass; a failed CRI listing ends it with the exception, failed removals are logged and left for the next pass. */
    public void collect() {
        Map<String, PodSandbox> sandboxes = new HashMap<>();
        for (PodSandbox s : cri.listPodSandboxes(Map.of())) {
            if (s.containsLabels(KubeletKeys.POD_SOURCE)) {
                sandboxes.put(s.getId(), s);
            }
        }
        evictContainers(sandboxes);
        evictSandboxes(sandboxes);
    }

    private void evictContainers(Map<String, PodSandbox> sandboxes) {
        java.time.Instant cut = clock.instant().minus(settings.minimumContainerTtl());
        long newest = cut.getEpochSecond() * 1_000_000_000L + cut.getNano(); // CRI times are nanoseconds since the epoch
        Map<Unit, List<Dead>> units = new LinkedHashMap<>();
        for (Container c : cri.listAllContainers()) {
            PodSandbox sandbox = sandboxes.get(c.getPodSandboxId());
            if (sandbox == null || c.getState() == ContainerState.CONTAINER_RUNNING || c.getCreatedAt() > newest) {
                continue;
            }
            String uid = c.getLabelsOrDefault(KubeletKeys.POD_UID, sandbox.getLabelsOrDefault(KubeletKeys.POD_UID, sandbox.getMetadata().getUid()));
            units.computeIfAbsent(new Unit(uid, c.getMetadata().getName()), u -> new ArrayList<>())
                    .add(new Dead(c.getId(), c.getMetadata().getName(), c.getCreatedAt(), c.getMetadata().getAttempt(),
                            c.getState() == ContainerState.CONTAINER_UNKNOWN, grace(c)));
        }
        Map<String, Boolean> wanted = new HashMap<>();
        units.entrySet().removeIf(e -> {
            if (!wanted.computeIfAbsent(e.getKey().podUid(), podWanted::test)) {
                removeOldest(e.getValue(), e.getValue().size());
                return true;
            }
            return false;
        });
        if (settings.maxPerPodContainer() >= 0) {
            keepNewest(units, settings.maxPerPodContainer());
        }
        int max = settings.maxContainers();
        if (max >= 0 && count(units) > max) {
            keepNewest(units, Math.max(1, max / Math.max(1, units.size())));
            int left = count(units);
            if (left > max) {
                List<Dead> all = new ArrayList<>();
                units.values().forEach(all::addAll);
                removeOldest(all, left - max);
            }
        }
    }

    private static int count(Map<Unit, List<Dead>> units) {
        return units.values().stream().mapToInt(List::size).sum();
    }

    /** Cuts every group to its {@code keep} newest. */
    private void keepNewest(Map<Unit, List<Dead>> units, int keep) {
        for (Map.Entry<Unit, List<Dead>> e : units.entrySet()) {
            if (e.getValue().size() > keep) {
                e.setValue(removeOldest(e.getValue(), e.getValue().size() - keep));
            }
        }
    }

    /** Removes the {@code n} oldest of {@code dead}; returns the rest (as if every removal worked: the next pass retries). */
    private List<Dead> removeOldest(List<Dead> dead, int n) {
        List<Dead> sorted = new ArrayList<>(dead);
        sorted.sort(NEWEST_FIRST);
        int keep = sorted.size() - n;
        for (Dead d : sorted.subList(keep, sorted.size())) {
            remove(d);
        }
        return new ArrayList<>(sorted.subList(0, keep));
    }

    private void remove(Dead d) {
        try {
            if (d.unknown()) {
                // a container in unknown state may still run: stopped first, as the kubelet kills it before removal
                cri.stopContainerAsync(d.id(), d.graceSeconds()).get();
            }
            cri.removeContainer(d.id());
            LOG.debug("garbage collection removed dead container {} ({})", d.id(), d.name());
        } catch (StatusRuntimeException e) {
            if (e.getStatus().getCode() != Status.Code.NOT_FOUND) {
                LOG.warn("garbage collection cannot remove container {} ({}): {}", d.id(), d.name(), e.getStatus());
            }
        } catch (ExecutionException e) {
            LOG.warn("garbage collection cannot stop container {} ({}) in unknown state: {}", d.id(), d.name(), e.getCause().toString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static long grace(Container c) {
        String g = c.getAnnotationsOrDefault(KubeletKeys.POD_TERMINATION_GRACE_PERIOD, "");
        return g.matches("[0-9]{1,9}") ? Long.parseLong(g) : DEFAULT_GRACE_SECONDS;
    }

    /** A sandbox is active while ready or holding a container; only inactive ones go. */
    private void evictSandboxes(Map<String, PodSandbox> sandboxes) {
        Set<String> holding = new HashSet<>();
        for (Container c : cri.listAllContainers()) {
            holding.add(c.getPodSandboxId());
        }
        Map<String, List<PodSandbox>> byPod = new LinkedHashMap<>();
        for (PodSandbox s : sandboxes.values()) {
            byPod.computeIfAbsent(s.getLabelsOrDefault(KubeletKeys.POD_UID, s.getMetadata().getUid()), u -> new ArrayList<>()).add(s);
        }
        for (Map.Entry<String, List<PodSandbox>> e : byPod.entrySet()) {
            List<PodSandbox> list = new ArrayList<>(e.getValue());
            list.sort(Comparator.comparingInt((PodSandbox s) -> s.getMetadata().getAttempt()).reversed()
                    .thenComparing(Comparator.comparingLong(PodSandbox::getCreatedAt).reversed()));
            // a wanted pod keeps its newest sandbox whatever its state; a gone pod keeps only active ones
            int from = podWanted.test(e.getKey()) ? 1 : 0;
            for (PodSandbox s : list.subList(Math.min(from, list.size()), list.size())) {
                if (s.getState() == PodSandboxState.SANDBOX_READY || holding.contains(s.getId())) {
                    continue;
                }
                try {
                    // normally stopped already; stopped again in case it is not, as the kubelet does
                    cri.stopPodSandbox(s.getId());
                    cri.removePodSandbox(s.getId());
                    LOG.info("garbage collection removed sandbox {} of pod {}/{} ({})", s.getId(), s.getMetadata().getNamespace(),
                            s.getMetadata().getName(), e.getKey());
                } catch (StatusRuntimeException ex) {
                    if (ex.getStatus().getCode() != Status.Code.NOT_FOUND) {
                        LOG.warn("garbage collection cannot remove sandbox {}: {}", s.getId(), ex.getStatus());
                    }
                }
            }
        }
    }
}
