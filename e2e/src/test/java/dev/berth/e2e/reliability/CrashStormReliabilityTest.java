package dev.berth.e2e.reliability;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.berth.cri.v1.Container;
import dev.berth.cri.v1.ContainerState;
import dev.berth.cri.v1.ContainerStatusRequest;
import dev.berth.cri.v1.ContainerStatusResponse;
import dev.berth.cri.v1.ListContainersRequest;
import dev.berth.cri.v1.ListPodSandboxRequest;
import dev.berth.cri.v1.PodSandbox;
import dev.berth.cri.v1.PodSandboxConfig;
import dev.berth.cri.v1.PodSandboxState;
import dev.berth.cri.v1.RemoveContainerRequest;
import dev.berth.cri.v1.RemovePodSandboxRequest;
import dev.berth.cri.v1.RunPodSandboxRequest;
import dev.berth.cri.v1.StartContainerRequest;
import dev.berth.cri.v1.StopContainerRequest;
import dev.berth.cri.v1.StopPodSandboxRequest;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Reliability (b): berth is killed with SIGKILL at random moments of a storm of clients that
 * run and remove pods and create, start, stop and remove containers, and restarted over the
 * same state each time. After every restart each pod and container the daemon lists must be
 * whole (its status answers; a running container has its process, conmon and root filesystem;
 * a ready pod its network namespace, cgroup and address; a container's pod is listed), what
 * the clients saw succeed before the kill must still hold (a running container runs on, with
 * the same process, under the same conmon), and what the daemon does not list must have left
 * nothing (no mount, state file, image hold, conmon, cgroup or IP lease names it). At the end
 * everything is removed and the leak census must find nothing.
 *
 * <p>{@code -Dberth.reliability.killPoints} (default 8; 20+ for a full run),
 * {@code -Dberth.reliability.stormThreads} (4), {@code -Dberth.reliability.seed} (random;
 * printed so that a run can be repeated). Figures on a line starting {@code RELIABILITY b:}.
 */
@Tag("root")
class CrashStormReliabilityTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    /** What one client thread believes about the pods it owns, from the calls it saw succeed. */
    static final class Owned {
        final int worker;
        final Map<String, PodM> pods = new LinkedHashMap<>();
        /** Pods and containers a call was working on when berth died: their state is whatever the daemon says. */
        final Set<String> uncertain = new HashSet<>();
        /** Removed with success since the last restart: must not be listed again. */
        final Set<String> gone = new HashSet<>();
        int seq;

        Owned(int worker) {
            this.worker = worker;
        }

        String prefix() {
            return "b-w" + worker + "-";
        }
    }

    static final class PodM {
        final String name;
        final PodSandboxConfig config;
        boolean ready = true;
        final Map<String, ContainerM> containers = new LinkedHashMap<>();

        PodM(String name, PodSandboxConfig config) {
            this.name = name;
            this.config = config;
        }
    }

    static final class ContainerM {
        final String id;
        ContainerState state = ContainerState.CONTAINER_CREATED;
        long pid;
        long conmonPid;

        ContainerM(String id) {
            this.id = id;
        }
    }

    /** Calls of all storms: tried, succeeded, cut short by the kill, failed otherwise. */
    static final class Counts {
        final AtomicInteger tried = new AtomicInteger();
        final AtomicInteger succeeded = new AtomicInteger();
        final AtomicInteger cutByKill = new AtomicInteger();
        final AtomicInteger triedAfterARestart = new AtomicInteger();
        final AtomicInteger succeededAfterARestart = new AtomicInteger();
        final List<String> unexpected = Collections.synchronizedList(new ArrayList<>());
    }

    /** Thrown to end a client thread's storm once berth was killed. */
    static final class Killed extends RuntimeException {
        Killed() {
            super(null, null, false, false);
        }
    }

    @Test
    void sigkillsDuringACreateRemoveStormLeaveEveryObjectWholeOrGoneAndNothingLeaks() throws Exception {
        int killPoints = Integer.getInteger("berth.reliability.killPoints", 8);
        int threads = Integer.getInteger("berth.reliability.stormThreads", 4);
        long seed = Long.getLong("berth.reliability.seed", System.nanoTime());
        Random random = new Random(seed);
        try (ReliabilityHarness h = ReliabilityHarness.start(dir, "b")) {
            h.importImage();
            h.warmUp();
            LeakCensus census = h.census(Set.of());
            LeakCensus.Snapshot before = census.take();
            List<Owned> owned = new ArrayList<>();
            for (int w = 0; w < threads; w++) {
                owned.add(new Owned(w));
            }
            Counts counts = new Counts();
            // each client starts with a pod and a running container, so that every kill has some to keep
            boolean[] notYet = {false};
            for (Owned o : owned) {
                if (!counts.unexpected.isEmpty()) {
                    throw new AssertionError("a call failed before any kill: " + counts.unexpected);
                }
                runPod(h, o, random, counts, notYet, false);
                String podId = o.pods.keySet().iterator().next();
                PodM pod = o.pods.get(podId);
                String id = op(o, Set.of(), counts, notYet, false, "CreateContainer", () -> h.rt().createContainer(
                        ReliabilityHarness.container(podId, pod.config, "steady")).getContainerId());
                ContainerM c = new ContainerM(id);
                pod.containers.put(id, c);
                try {
                    start(h, o, c, counts, notYet, false);
                } catch (Killed e) {
                    throw new AssertionError("a call failed before any kill: " + counts.unexpected);
                }
            }
            // each distinct problem, with the kill points after which it was seen (a leftover stays until removed)
            Map<String, List<Integer>> inconsistencies = new LinkedHashMap<>();
            List<Long> delays = new ArrayList<>();
            int podsChecked = 0;
            int containersChecked = 0;
            int runningKept = 0;
            long t0 = System.nanoTime();
            for (int k = 0; k < killPoints; k++) {
                long delay = 500 + random.nextInt(4500);
                delays.add(delay);
                boolean[] killed = {false};
                List<Thread> storm = new ArrayList<>();
                boolean afterRestart = k > 0;
                for (Owned o : owned) {
                    Random r = new Random(random.nextLong());
                    Thread t = new Thread(() -> storm(h, o, r, counts, killed, afterRestart), "storm-" + o.worker);
                    t.start();
                    storm.add(t);
                }
                Thread.sleep(delay);
                synchronized (killed) {
                    killed[0] = true;
                }
                h.berth.kill();
                for (Thread t : storm) {
                    t.join();
                }
                h.berth.restart();
                int[] checked = check(h, owned, inconsistencies, k + 1);
                podsChecked += checked[0];
                containersChecked += checked[1];
                runningKept += checked[2];
            }
            long t1 = System.nanoTime();

            ReliabilityHarness.Ledger cleanup = new ReliabilityHarness.Ledger();
            int leftPods = h.rt().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsCount();
            int leftContainers = h.rt().listContainers(ListContainersRequest.getDefaultInstance()).getContainersCount();
            for (Container c : h.rt().listContainers(ListContainersRequest.getDefaultInstance()).getContainersList()) {
                cleanup.call("RemoveContainer", () -> h.rt().removeContainer(RemoveContainerRequest.newBuilder()
                        .setContainerId(c.getId()).build()));
            }
            for (PodSandbox p : h.rt().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsList()) {
                cleanup.call("StopPodSandbox", () -> h.rt().stopPodSandbox(StopPodSandboxRequest.newBuilder()
                        .setPodSandboxId(p.getId()).build()));
                cleanup.call("RemovePodSandbox", () -> h.rt().removePodSandbox(RemovePodSandboxRequest.newBuilder()
                        .setPodSandboxId(p.getId()).build()));
            }
            Map<String, List<String>> leaks = census.take().leaksSince(before);

            System.out.printf("RELIABILITY b: seed %d, %d kill points (ms into each storm: %s), %d client threads, %.1f s;"
                            + " ops tried %d, succeeded %d,"
                            + " cut short by the kill %d, failed otherwise %d; ops after a restart tried %d, succeeded %d;"
                            + " checked after restarts %d pods, %d containers, running containers kept %d; inconsistencies %d;"
                            + " cleanup of %d pods %d containers: calls %d/%d; leaks %d %s%n",
                    seed, killPoints, delays, threads, (t1 - t0) / 1e9, counts.tried.get(), counts.succeeded.get(), counts.cutByKill.get(),
                    counts.unexpected.size(), counts.triedAfterARestart.get(), counts.succeededAfterARestart.get(), podsChecked,
                    containersChecked, runningKept, inconsistencies.size(), leftPods, leftContainers, cleanup.tried(),
                    cleanup.succeeded(), LeakCensus.total(leaks), leaks);
            inconsistencies.forEach((problem, kills) -> System.out.println("RELIABILITY b: inconsistency (after kill "
                    + kills.get(0) + (kills.size() > 1 ? ", seen at " + kills.size() + " checks" : "") + "): " + problem));
            counts.unexpected.forEach(u -> System.out.println("RELIABILITY b: failed call: " + u));

            assertEquals(Map.of(), inconsistencies, "every object whole or gone after each restart (seed " + seed + ")");
            assertEquals(List.of(), counts.unexpected, "no call fails but by the kill (seed " + seed + ")");
            assertEquals(List.of(), cleanup.failures, "removing what is left succeeds");
            assertEquals(Map.of(), leaks, "nothing leaks (seed " + seed + ")");
        }
    }

    // ---------------------------------------------------------------- the storm

    /** One client thread: random calls on the pods it owns until berth is killed. */
    private static void storm(ReliabilityHarness h, Owned o, Random r, Counts counts, boolean[] killed, boolean afterRestart) {
        try {
            while (true) {
                List<PodM> pods = new ArrayList<>();
                List<String> podIds = new ArrayList<>();
                o.pods.forEach((id, p) -> {
                    if (!o.uncertain.contains(id)) {
                        pods.add(p);
                        podIds.add(id);
                    }
                });
                if (pods.size() < 2 || (pods.size() < 4 && r.nextInt(10) == 0)) {
                    runPod(h, o, r, counts, killed, afterRestart);
                    continue;
                }
                int i = r.nextInt(pods.size());
                String podId = podIds.get(i);
                PodM pod = pods.get(i);
                int dice = r.nextInt(100);
                if (dice < 8 || (!pod.ready && pod.containers.isEmpty())) {
                    removePod(h, o, podId, pod, counts, killed, afterRestart);
                } else if (pod.ready && pod.containers.size() < 3 && (dice < 40 || pod.containers.isEmpty())) {
                    String name = "c" + (o.seq++);
                    String id = op(o, Set.of(podId), counts, killed, afterRestart, "CreateContainer " + name + " in " + podId,
                            () -> h.rt().createContainer(ReliabilityHarness.container(podId, pod.config, name)).getContainerId());
                    pod.containers.put(id, new ContainerM(id));
                } else if (pod.containers.isEmpty()) {
                    removePod(h, o, podId, pod, counts, killed, afterRestart);
                } else {
                    List<ContainerM> cs = new ArrayList<>(pod.containers.values());
                    ContainerM c = cs.get(r.nextInt(cs.size()));
                    if (o.uncertain.contains(c.id)) {
                        continue;
                    }
                    int d2 = r.nextInt(100);
                    switch (c.state) {
                        case CONTAINER_CREATED -> start(h, o, c, counts, killed, afterRestart);
                        case CONTAINER_RUNNING -> {
                            if (d2 < 40) {
                                op(o, Set.of(c.id), counts, killed, afterRestart, "StopContainer " + c.id,
                                        () -> h.rt().stopContainer(StopContainerRequest.newBuilder().setContainerId(c.id)
                                                .setTimeout(2).build()));
                                c.state = ContainerState.CONTAINER_EXITED;
                            } else if (d2 < 60) {
                                removeContainer(h, o, pod, c, counts, killed, afterRestart);
                            } else {
                                op(o, Set.of(), counts, killed, afterRestart, "ContainerStatus " + c.id, () -> containerStatus(h, c.id));
                            }
                        }
                        default -> removeContainer(h, o, pod, c, counts, killed, afterRestart);
                    }
                }
            }
        } catch (Killed expected) {
            // the storm ends with the daemon
        }
    }

    private static void start(ReliabilityHarness h, Owned o, ContainerM c, Counts counts, boolean[] killed, boolean afterRestart) {
        op(o, Set.of(c.id), counts, killed, afterRestart, "StartContainer " + c.id,
                () -> h.rt().startContainer(StartContainerRequest.newBuilder().setContainerId(c.id).build()));
        c.state = ContainerState.CONTAINER_RUNNING;
        JsonNode info = info(op(o, Set.of(), counts, killed, afterRestart, "ContainerStatus " + c.id, () -> containerStatus(h, c.id)));
        c.pid = info.path("pid").asLong();
        c.conmonPid = info.path("conmonPid").asLong();
    }

    private static void runPod(ReliabilityHarness h, Owned o, Random r, Counts counts, boolean[] killed, boolean afterRestart) {
        String name = o.prefix() + (o.seq++);
        PodSandboxConfig cfg = h.podConfig(name, r.nextBoolean());
        String id = op(o, Set.of(), counts, killed, afterRestart, "RunPodSandbox " + name,
                () -> h.rt().runPodSandbox(RunPodSandboxRequest.newBuilder().setConfig(cfg).build()).getPodSandboxId());
        o.pods.put(id, new PodM(name, cfg));
    }

    private static void removePod(ReliabilityHarness h, Owned o, String podId, PodM pod, Counts counts, boolean[] killed,
            boolean afterRestart) {
        Set<String> touched = new HashSet<>(pod.containers.keySet());
        touched.add(podId);
        op(o, touched, counts, killed, afterRestart, "StopPodSandbox " + podId,
                () -> h.rt().stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(podId).build()));
        pod.ready = false;
        pod.containers.values().forEach(c -> c.state = c.state == ContainerState.CONTAINER_CREATED
                ? ContainerState.CONTAINER_CREATED : ContainerState.CONTAINER_EXITED);
        op(o, touched, counts, killed, afterRestart, "RemovePodSandbox " + podId,
                () -> h.rt().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(podId).build()));
        o.pods.remove(podId);
        o.gone.addAll(touched);
    }

    private static void removeContainer(ReliabilityHarness h, Owned o, PodM pod, ContainerM c, Counts counts, boolean[] killed,
            boolean afterRestart) {
        op(o, Set.of(c.id), counts, killed, afterRestart, "RemoveContainer " + c.id,
                () -> h.rt().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(c.id).build()));
        pod.containers.remove(c.id);
        o.gone.add(c.id);
    }

    /**
     * One call: counted; when it fails after the kill, what it worked on becomes uncertain and
     * the client's storm ends ({@link Killed}); a failure before the kill is a finding, and it
     * ends that client's storm too (what it worked on uncertain), so one failure does not cascade.
     */
    private static <T> T op(Owned o, Set<String> touches, Counts counts, boolean[] killed, boolean afterRestart, String what,
            Supplier<T> call) {
        synchronized (killed) {
            if (killed[0]) {
                throw new Killed();
            }
        }
        counts.tried.incrementAndGet();
        if (afterRestart) {
            counts.triedAfterARestart.incrementAndGet();
        }
        try {
            T result = call.get();
            counts.succeeded.incrementAndGet();
            if (afterRestart) {
                counts.succeededAfterARestart.incrementAndGet();
            }
            return result;
        } catch (StatusRuntimeException e) {
            o.uncertain.addAll(touches);
            boolean byKill;
            synchronized (killed) {
                byKill = killed[0];
            }
            if (byKill) {
                counts.cutByKill.incrementAndGet();
            } else {
                counts.unexpected.add(what + ": " + e.getStatus());
            }
            throw new Killed();
        }
    }

    private static ContainerStatusResponse containerStatus(ReliabilityHarness h, String id) {
        return h.rt().containerStatus(ContainerStatusRequest.newBuilder().setContainerId(id).setVerbose(true).build());
    }

    private static JsonNode info(ContainerStatusResponse s) {
        try {
            return JSON.readTree(s.getInfoOrDefault("info", "{}"));
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    // ---------------------------------------------------------------- after a restart

    /**
     * Checks the restarted daemon against its host state ({@link ReliabilityHarness#view()}) and
     * against what the clients saw succeed before the kill, adds each problem to {@code out}
     * with the kill points after which it was seen, and hands each client the daemon's view of
     * its pods for the next storm. Returns {pods checked, containers checked, running containers kept}.
     */
    private static int[] check(ReliabilityHarness h, List<Owned> owned, Map<String, List<Integer>> out, int kill) throws Exception {
        ReliabilityHarness.View view = h.view();
        List<String> problems = new ArrayList<>(view.problems());
        Map<String, PodSandbox> pods = view.pods();
        Map<String, Container> containers = view.containers();
        Map<String, JsonNode> containerInfo = view.containerInfo();
        Map<String, Boolean> sharedPids = view.sharedPids();

        // what the clients saw succeed still holds
        int running = 0;
        for (Owned o : owned) {
            for (Map.Entry<String, PodM> e : o.pods.entrySet()) {
                String podId = e.getKey();
                PodM pm = e.getValue();
                if (o.uncertain.contains(podId)) {
                    continue;
                }
                PodSandbox listed = pods.get(podId);
                PodSandboxState want = pm.ready ? PodSandboxState.SANDBOX_READY : PodSandboxState.SANDBOX_NOTREADY;
                if (listed == null) {
                    problems.add("pod " + podId + " (" + pm.name + ") was " + want + " before the kill and is gone");
                    continue;
                }
                if (listed.getState() != want) {
                    problems.add("pod " + podId + " (" + pm.name + ") was " + want + " before the kill, is " + listed.getState());
                }
                for (ContainerM cm : pm.containers.values()) {
                    if (o.uncertain.contains(cm.id)) {
                        continue;
                    }
                    Container c = containers.get(cm.id);
                    if (c == null) {
                        problems.add("container " + cm.id + " was " + cm.state + " before the kill and is gone");
                        continue;
                    }
                    if (c.getState() != cm.state) {
                        problems.add("container " + cm.id + " was " + cm.state + " before the kill, is " + c.getState());
                    } else if (cm.state == ContainerState.CONTAINER_RUNNING && cm.pid > 0) {
                        JsonNode info = containerInfo.get(cm.id);
                        if (info == null || info.path("pid").asLong() != cm.pid || info.path("conmonPid").asLong() != cm.conmonPid) {
                            problems.add("running container " + cm.id + " had pid " + cm.pid + " conmon " + cm.conmonPid
                                    + " before the kill, now " + info);
                        } else {
                            running++;
                        }
                    }
                }
            }
            for (String id : o.gone) {
                if (pods.containsKey(id) || containers.containsKey(id)) {
                    problems.add(id + " was removed before the kill and is listed again");
                }
            }
        }

        problems.forEach(p -> out.computeIfAbsent(p, x -> new ArrayList<>()).add(kill));

        // the daemon's view is the clients' view from now on
        for (Owned o : owned) {
            o.pods.clear();
            o.uncertain.clear();
            o.gone.clear();
        }
        for (PodSandbox p : pods.values()) {
            for (Owned o : owned) {
                if (p.getMetadata().getName().startsWith(o.prefix())) {
                    PodM pm = new PodM(p.getMetadata().getName(), h.podConfig(p.getMetadata().getName(),
                            sharedPids.getOrDefault(p.getId(), false)));
                    pm.ready = p.getState() == PodSandboxState.SANDBOX_READY;
                    o.pods.put(p.getId(), pm);
                }
            }
        }
        for (Container c : containers.values()) {
            for (Owned o : owned) {
                PodM pm = o.pods.get(c.getPodSandboxId());
                if (pm != null) {
                    ContainerM cm = new ContainerM(c.getId());
                    cm.state = c.getState();
                    JsonNode info = containerInfo.get(c.getId());
                    if (info != null) {
                        cm.pid = info.path("pid").asLong();
                        cm.conmonPid = info.path("conmonPid").asLong();
                    }
                    pm.containers.put(c.getId(), cm);
                }
            }
        }
        return new int[] {pods.size(), containers.size(), running};
    }


}
