package dev.berth.agent.probe;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.berth.agent.cri.CriClient;
import dev.berth.agent.pod.ContainerHooks;
import dev.berth.agent.status.PodSnapshot;
import dev.berth.agent.testing.FakeCri;
import dev.berth.cri.v1.ContainerMetadata;
import dev.berth.cri.v1.ContainerState;
import dev.berth.cri.v1.ContainerStatus;
import dev.berth.cri.v1.ExecSyncResponse;
import dev.berth.cri.v1.PodSandboxNetworkStatus;
import dev.berth.cri.v1.PodSandboxState;
import dev.berth.cri.v1.PodSandboxStatus;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.ProbeBuilder;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The probe workers with exec probes on FakeCri (each command's exit code set by the test):
 * thresholds, the startup gate, initialDelaySeconds, readiness flips asking for a pass, a
 * liveness failure killing the container with the probe's grace period after its preStop
 * hook, workers following the containers, and the meters.
 */
class ProbeManagerTest {
    FakeCri cri;
    ProbeManager probes;
    PrometheusMeterRegistry registry;
    final List<String> events = new CopyOnWriteArrayList<>();
    final List<String> resyncs = new CopyOnWriteArrayList<>();
    final List<String> preStops = new CopyOnWriteArrayList<>();
    /** The exit code of each probe command (default 0), and how often each ran. */
    final Map<String, Integer> exits = new ConcurrentHashMap<>();
    final Map<String, AtomicInteger> runs = new ConcurrentHashMap<>();

    @BeforeEach
    void start() throws Exception {
        cri = new FakeCri();
        cri.execHandler = r -> {
            String cmd = String.join(" ", r.getCmdList());
            runs.computeIfAbsent(cmd, k -> new AtomicInteger()).incrementAndGet();
            return ExecSyncResponse.newBuilder().setExitCode(exits.getOrDefault(cmd, 0)).setStdout(ByteString.copyFromUtf8(cmd + " said so"))
                    .build();
        };
        CriClient client = new CriClient(cri.channel(), Duration.ofSeconds(5), Duration.ofSeconds(5));
        registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        ContainerHooks hooks = new ContainerHooks() {
            @Override
            public void postStart(Pod pod, Container container, String containerId) {
            }

            @Override
            public void preStop(Pod pod, Container container, String containerId, Duration budget) {
                preStops.add(containerId + " " + budget.toSeconds());
            }
        };
        probes = new ProbeManager(new Actions(client), hooks, client, (o, type, reason, message) -> events.add(reason + ": " + message),
                registry, resyncs::add, List::of, 4);
    }

    @AfterEach
    void stop() {
        probes.close();
        cri.close();
    }

    static Probe exec(String cmd, int failureThreshold, int successThreshold) {
        return new ProbeBuilder().withNewExec().withCommand(cmd).endExec().withPeriodSeconds(1).withTimeoutSeconds(1)
                .withFailureThreshold(failureThreshold).withSuccessThreshold(successThreshold).build();
    }

    static Pod pod(Container c) {
        return new PodBuilder().withNewMetadata().withName("web").withNamespace("ns").withUid("u1").endMetadata().withNewSpec()
                .withTerminationGracePeriodSeconds(30L).addToContainers(c).endSpec().build();
    }

    static PodSnapshot running(String name, String id, long startedAtNanos) {
        ContainerStatus s = ContainerStatus.newBuilder().setId(id).setMetadata(ContainerMetadata.newBuilder().setName(name))
                .setState(ContainerState.CONTAINER_RUNNING).setStartedAt(startedAtNanos).build();
        PodSandboxStatus sandbox = PodSandboxStatus.newBuilder().setId("s1").setState(PodSandboxState.SANDBOX_READY)
                .setNetwork(PodSandboxNetworkStatus.newBuilder().setIp("10.1.1.1")).build();
        return new PodSnapshot(sandbox, Map.of(name, List.of(s)), Map.of());
    }

    static long now() {
        return System.currentTimeMillis() * 1_000_000;
    }

    static void await(String what, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting until " + what);
            }
            Thread.sleep(10);
        }
    }

    int ran(String cmd) {
        AtomicInteger n = runs.get(cmd);
        return n == null ? 0 : n.get();
    }

    @Test
    void readinessFollowsItsThresholdsAndEachFlipAsksForAPass() throws Exception {
        Container c = new ContainerBuilder().withName("app").withReadinessProbe(exec("ready", 2, 2)).build();
        Pod pod = pod(c);
        exits.put("ready", 0);
        probes.synced(pod, running("app", "c1", now()));
        assertFalse(probes.ready("u1", c, "c1"), "not ready before its first results");
        await("ready after two successes", () -> probes.ready("u1", c, "c1"));
        assertTrue(ran("ready") >= 2, "successThreshold 2: " + ran("ready"));
        assertEquals(List.of("u1"), resyncs, "the flip asked for a pass");
        exits.put("ready", 1);
        int before = ran("ready");
        await("one failure ran", () -> ran("ready") >= before + 1);
        assertTrue(probes.ready("u1", c, "c1") || ran("ready") >= before + 2, "one failure is below failureThreshold 2");
        await("unready after two failures", () -> !probes.ready("u1", c, "c1"));
        assertEquals(List.of("u1", "u1"), resyncs);
        assertTrue(events.contains("Unhealthy: Readiness probe failed: ready said so"), events.toString());
        assertFalse(probes.ready("u1", c, "another-container"), "a result belongs to one container");
        assertEquals(0, cri.calls("StopContainer"), "readiness never kills");
    }

    @Test
    void livenessFailureKillsTheContainerWithTheProbesGraceAfterPreStop() throws Exception {
        Probe liveness = exec("alive", 3, 1);
        liveness.setTerminationGracePeriodSeconds(5L);
        Container c = new ContainerBuilder().withName("app").withLivenessProbe(liveness).build();
        exits.put("alive", 1);
        probes.synced(pod(c), running("app", "c1", now()));
        await("the container is stopped", () -> cri.calls("StopContainer") == 1);
        assertEquals(3, ran("alive"), "failureThreshold 3, and no probing once it is being killed");
        assertEquals(List.of("c1 5"), preStops, "preStop with the probe-level grace period as its budget");
        await("a pass asked for", () -> resyncs.contains("u1"));
        assertEquals(3, events.stream().filter(e -> e.equals("Unhealthy: Liveness probe failed: alive said so")).count(), events.toString());
        assertTrue(events.contains("Killing: Container app failed liveness probe, will be restarted"), events.toString());
        Thread.sleep(2500);
        assertEquals(3, ran("alive"), "on hold until a new container");
        probes.synced(pod(c), running("app", "c2", now()));
        exits.put("alive", 0);
        await("the new container is probed", () -> ran("alive") > 3);
        assertEquals(1, cri.calls("StopContainer"));
    }

    @Test
    void theStartupProbeGatesLivenessAndReadiness() throws Exception {
        Container c = new ContainerBuilder().withName("app").withStartupProbe(exec("started", 30, 1))
                .withLivenessProbe(exec("alive", 1, 1)).withReadinessProbe(exec("ready", 1, 1)).build();
        exits.put("started", 1);
        exits.put("alive", 1); // would kill at once if it ran
        probes.synced(pod(c), running("app", "c1", now()));
        await("startup probed thrice", () -> ran("started") >= 3);
        assertEquals(0, ran("alive"), "liveness waits for the start");
        assertEquals(0, ran("ready"), "readiness waits for the start");
        assertFalse(probes.started("u1", c, "c1"));
        exits.put("alive", 0);
        exits.put("started", 0);
        await("started", () -> probes.started("u1", c, "c1"));
        await("liveness and readiness run", () -> ran("alive") >= 1 && ran("ready") >= 1);
        await("ready", () -> probes.ready("u1", c, "c1"));
        int startups = ran("started");
        Thread.sleep(2500);
        assertEquals(startups, ran("started"), "the startup probe stops once it passed");
        assertEquals(0, cri.calls("StopContainer"));
    }

    @Test
    void aStartupProbeFailingPastItsThresholdKillsTheContainer() throws Exception {
        Container c = new ContainerBuilder().withName("app").withStartupProbe(exec("started", 2, 1)).build();
        exits.put("started", 1);
        probes.synced(pod(c), running("app", "c1", now()));
        await("the container is stopped", () -> cri.calls("StopContainer") == 1);
        assertTrue(events.contains("Killing: Container app failed startup probe, will be restarted"), events.toString());
        assertEquals(List.of("c1 30"), preStops, "the pod's grace period without a probe-level one");
    }

    @Test
    void initialDelaySecondsCountsFromTheContainersStart() throws Exception {
        Probe p = exec("ready", 1, 1);
        p.setInitialDelaySeconds(3600);
        Container c = new ContainerBuilder().withName("app").withReadinessProbe(p).build();
        probes.synced(pod(c), running("app", "c1", now()));
        Thread.sleep(2500);
        assertEquals(0, ran("ready"), "an hour to wait");
        Container c2 = new ContainerBuilder().withName("app").withReadinessProbe(p).build();
        probes.synced(pod(c2), running("app", "c2", now() - Duration.ofHours(2).toNanos()));
        await("a container started two hours ago is probed", () -> ran("ready") >= 1);
    }

    @Test
    void workersFollowTheContainersAndTheMetersTheKubeletsNames() throws Exception {
        Container c = new ContainerBuilder().withName("app").withReadinessProbe(exec("ready", 1, 1)).withLivenessProbe(exec("alive", 3, 1))
                .build();
        probes.synced(pod(c), running("app", "c1", now()));
        assertEquals(2, probes.workerCount());
        await("probed", () -> ran("ready") >= 1 && ran("alive") >= 1);
        String scrape = registry.scrape();
        assertTrue(scrape.contains("prober_probe_total{container=\"app\",namespace=\"ns\",pod=\"web\",pod_uid=\"u1\",probe_type=\"Readiness\","
                + "result=\"successful\"}"), scrape);
        assertTrue(scrape.contains("prober_probe_duration_seconds_bucket{container=\"app\",namespace=\"ns\",pod=\"web\",probe_type=\"Liveness\""),
                scrape);
        probes.synced(pod(c), new PodSnapshot(null, Map.of(), Map.of()));
        assertEquals(0, probes.workerCount(), "no running container, no worker");
        probes.terminated("u1");
        assertFalse(registry.scrape().contains("pod_uid=\"u1\""), "the pod's series go with it");
    }
}
