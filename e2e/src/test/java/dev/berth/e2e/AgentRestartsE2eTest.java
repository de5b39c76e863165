package dev.berth.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.cri.v1.ContainerFilter;
import dev.berth.cri.v1.ContainerState;
import dev.berth.cri.v1.ContainerStatus;
import dev.berth.cri.v1.ContainerStatusRequest;
import dev.berth.cri.v1.ListContainersRequest;
import dev.berth.cri.v1.ListPodSandboxRequest;
import dev.berth.cri.v1.PodSandbox;
import dev.berth.cri.v1.PodSandboxFilter;
import dev.berth.cri.v1.PodSandboxState;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.Callable;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code berth agent} with static pods and real containers, its crash back-off configured short
 * (1 s doubling to 4 s): a container exiting 1 is restarted as its next attempt after growing
 * waits (CrashLoopBackOff), every run kept; init containers run in order and a failing one
 * blocks the app containers (restartPolicy Never keeps it failed); a sidecar starts before the
 * init containers after it and still runs once the app container has started; a postStart
 * hook runs once its container started, and a preStop hook runs, and ends, before the stop
 * signal.
 */
@Tag("root")
class AgentRestartsE2eTest {
    private static final String IMAGE = "offline/agent-restarts:1";
    private static final String NODE = "lc-node";
    private static final String BRIDGE = "berthlc0";
    private static final String SUBNET = "10.199.64.0/20";
    /** The configured back-off: the wait before each restart after the first (which is at once). */
    private static final List<Long> SCHEDULE_MS = List.of(0L, 1000L, 2000L, 4000L, 4000L);

    /**
     * A pod whose container notes its start and its SIGTERM in {@code /out/order} (a host
     * directory), with a postStart hook writing {@code /out/poststart} and a preStop hook noting
     * itself in the order file.
     */
    private static final String HOOKS = """
            apiVersion: v1
            kind: Pod
            metadata: {name: hooks}
            spec:
              terminationGracePeriodSeconds: 10
              volumes: [{name: out, hostPath: {path: "%2$s", type: Directory}}]
              containers:
              - name: app
                image: "%1$s"
                imagePullPolicy: Never
                command: ["/bin/sh", "-c", "trap 'echo term >> /out/order; exit 0' TERM; echo started >> /out/order; while true; do sleep 1; done"]
                volumeMounts: [{name: out, mountPath: /out}]
                lifecycle:
                  postStart: {exec: {command: ["/bin/sh", "-c", "echo poststart > /out/poststart"]}}
                  preStop: {exec: {command: ["/bin/sh", "-c", "sleep 1; echo prestop >> /out/order"]}}
            """;

    @TempDir
    Path dir;

    private static String pod(String name, String restartPolicy, String initContainers, String containers) {
        return """
                apiVersion: v1
                kind: Pod
                metadata: {name: %s}
                spec:
                  restartPolicy: %s
                  terminationGracePeriodSeconds: 1
                  initContainers: %s
                  containers: %s
                """.formatted(name, restartPolicy, initContainers, containers);
    }

    private static String container(String name, String script, String extra) {
        return "{name: " + name + ", image: \"" + IMAGE + "\", imagePullPolicy: Never, command: [\"/bin/sh\", \"-c\", \"" + script + "\"]"
                + extra + "}";
    }

    @Test
    void crashLoopsInitContainersAndSidecars() throws Exception {
        Path berthDir = dir.resolve("berth");
        Path manifests = Files.createDirectories(dir.resolve("manifests"));
        AgentTests.busyboxImage(dir, berthDir.resolve("root"), IMAGE);
        Path config = Files.writeString(dir.resolve("agent.toml"), "[network]\ncni_config_dir = \"" + dir.resolve("net.d") + "\"\n"
                + "default_bridge = \"" + BRIDGE + "\"\ndefault_subnet = \"" + SUBNET + "\"\n"
                + "[agent]\ncgroups_per_qos = false\npod_logs_dir = \"" + dir.resolve("logs") + "\"\nmanifest_rescan_interval = \"2s\"\n"
                + "restart_backoff_initial = \"1s\"\nrestart_backoff_max = \"4s\"\nrestart_backoff_reset = \"60s\"\n");
        try (BerthProcess agent = BerthProcess.startAgent(berthDir, "", "--config", config.toString(), "--metrics-address", "",
                "--node-name", NODE, "--pod-manifest-path", manifests.toString())) {
            Files.writeString(manifests.resolve("crash.yaml"), pod("crash", "Always", "[]", "[" + container("app", "exit 1", "") + "]"));
            Files.writeString(manifests.resolve("blocked.yaml"), pod("blocked", "Never",
                    "[" + container("first", "echo first", "") + ", " + container("bad", "exit 1", "") + "]",
                    "[" + container("app", "exec sleep 3600", "") + "]"));
            Files.writeString(manifests.resolve("sidecar.yaml"), pod("sidecar", "Always",
                    "[" + container("setup", "echo setup", "") + ", " + container("proxy", "exec sleep 3600", ", restartPolicy: Always")
                            + ", " + container("after", "echo after", "") + "]",
                    "[" + container("app", "exec sleep 3600", "") + "]"));
            Path hooksDir = Files.createDirectories(dir.resolve("hooks"));
            Files.writeString(manifests.resolve("hooks.yaml"), HOOKS.formatted(IMAGE, hooksDir));

            // the crash loop: runs 0..5 of app, each kept, each restart after a longer wait
            List<ContainerStatus> runs = await("six runs of the crashing container", () -> {
                List<ContainerStatus> r = runs(agent, "crash", "app");
                return r.size() >= 6 && r.get(5).getState() == ContainerState.CONTAINER_EXITED ? r : null;
            });
            List<Long> intervals = new ArrayList<>();
            for (int i = 0; i < 6; i++) {
                assertEquals(i, runs.get(i).getMetadata().getAttempt(), "restartCount climbs one by one, every run kept");
                assertEquals(1, runs.get(i).getExitCode());
                if (i > 0) {
                    intervals.add((runs.get(i).getStartedAt() - runs.get(i - 1).getFinishedAt()) / 1_000_000L);
                }
            }
            System.out.println("FIGURE crash back-off: schedule (ms) " + SCHEDULE_MS + ", observed exit-to-restart (ms) " + intervals);
            for (int i = 1; i < intervals.size(); i++) {
                assertTrue(intervals.get(i) >= SCHEDULE_MS.get(i), "restart " + (i + 1) + " waited its back-off: " + intervals);
            }
            String log = Files.readString(agent.log(), StandardCharsets.UTF_8);
            String prefix = "container app waits: CrashLoopBackOff: back-off ";
            String pod = " restarting failed container=app pod=crash-" + NODE + "_default(";
            for (String wait : List.of("1s", "2s", "4s")) {
                assertTrue(log.contains(prefix + wait + pod), "CrashLoopBackOff with a wait of " + wait);
            }
            assertTrue(log.contains("BackOff: Back-off restarting failed container app in pod default/crash-" + NODE), "the BackOff event");

            // a failed init container blocks the app containers; restartPolicy Never keeps it failed
            PodSandbox blocked = await("the blocked pod's sandbox is stopped", () -> sandbox(agent, "blocked", PodSandboxState.SANDBOX_NOTREADY));
            List<ContainerStatus> first = runs(agent, "blocked", "first");
            List<ContainerStatus> bad = runs(agent, "blocked", "bad");
            assertEquals(1, bad.size(), "not run again");
            assertEquals(1, bad.get(0).getExitCode());
            assertEquals(0, first.get(0).getExitCode());
            assertTrue(first.get(0).getFinishedAt() <= bad.get(0).getStartedAt(), "in order");
            assertEquals(List.of(), runs(agent, "blocked", "app"), "no app container");
            assertEquals(1, agent.runtime().listPodSandbox(ListPodSandboxRequest.newBuilder().setFilter(PodSandboxFilter.newBuilder()
                    .putLabelSelector("io.kubernetes.pod.name", "blocked-" + NODE)).build()).getItemsCount(), blocked.getId());

            // the sidecar starts after the init container before it, before the one after it, and runs on beside the app
            ContainerStatus app = await("the sidecar pod's app runs", () -> running(runs(agent, "sidecar", "app")));
            ContainerStatus setup = runs(agent, "sidecar", "setup").get(0);
            ContainerStatus proxy = runs(agent, "sidecar", "proxy").get(0);
            ContainerStatus after = runs(agent, "sidecar", "after").get(0);
            assertTrue(setup.getFinishedAt() <= proxy.getStartedAt(), "setup, then the sidecar");
            assertTrue(proxy.getStartedAt() <= after.getStartedAt(), "the sidecar, then the next init container");
            assertTrue(after.getFinishedAt() <= app.getStartedAt(), "then the app container");
            assertEquals(0, after.getExitCode());
            Thread.sleep(1000); // a second for a wrong agent to stop or restart the sidecar
            ContainerStatus proxyNow = status(agent, proxy.getId());
            assertEquals(ContainerState.CONTAINER_RUNNING, proxyNow.getState(), "the sidecar outlives the app container's start");
            assertEquals(1, runs(agent, "sidecar", "proxy").size(), "the same run");

            // postStart ran once the container started; removing the pod runs preStop, then the stop signal
            assertEquals("poststart\n", await("the postStart hook's file", () -> Files.exists(hooksDir.resolve("poststart"))
                    ? Files.readString(hooksDir.resolve("poststart")) : null));
            await("the hooks pod's container has begun", () -> Files.readString(hooksDir.resolve("order")).contains("started") ? true : null);

            AgentTests.emptyDirectory(manifests);
            await("every pod is gone", () -> agent.runtime().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsCount() == 0
                    ? true : null);
            assertEquals(List.of("started", "prestop", "term"), Files.readAllLines(hooksDir.resolve("order")),
                    "preStop ran, and ended, before the container got SIGTERM");
        } finally {
            AgentTests.emptyDirectory(manifests);
            AgentTests.removeLeftoverPods(berthDir, config);
            AgentTests.deleteBridge(BRIDGE);
        }
    }

    /** Every run of container {@code name} of static pod {@code pod}, in every sandbox, oldest attempt first. */
    private static List<ContainerStatus> runs(BerthProcess agent, String pod, String name) {
        List<ContainerStatus> out = new ArrayList<>();
        for (var c : agent.runtime().listContainers(ListContainersRequest.newBuilder().setFilter(ContainerFilter.newBuilder()
                .putLabelSelector("io.kubernetes.pod.name", pod + "-" + NODE).putLabelSelector("io.kubernetes.container.name", name))
                .build()).getContainersList()) {
            out.add(status(agent, c.getId()));
        }
        out.sort(Comparator.comparingInt(s -> s.getMetadata().getAttempt()));
        return out;
    }

    private static ContainerStatus status(BerthProcess agent, String id) {
        return agent.runtime().containerStatus(ContainerStatusRequest.newBuilder().setContainerId(id).build()).getStatus();
    }

    private static ContainerStatus running(List<ContainerStatus> runs) {
        return runs.stream().filter(s -> s.getState() == ContainerState.CONTAINER_RUNNING).findFirst().orElse(null);
    }

    private static PodSandbox sandbox(BerthProcess agent, String pod, PodSandboxState state) {
        return agent.runtime().listPodSandbox(ListPodSandboxRequest.newBuilder().setFilter(PodSandboxFilter.newBuilder()
                .putLabelSelector("io.kubernetes.pod.name", pod + "-" + NODE)).build()).getItemsList().stream()
                .filter(s -> s.getState() == state).findFirst().orElse(null);
    }

    private static <T> T await(String what, Callable<T> probe) throws Exception {
        return AgentTests.await(what, Duration.ofSeconds(90), probe);
    }
}
