package dev.berth.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.cri.v1.Container;
import dev.berth.cri.v1.ContainerFilter;
import dev.berth.cri.v1.ContainerState;
import dev.berth.cri.v1.ContainerStatusRequest;
import dev.berth.cri.v1.ListContainersRequest;
import dev.berth.cri.v1.ListPodSandboxRequest;
import dev.berth.cri.v1.PodSandbox;
import dev.berth.cri.v1.PodSandboxFilter;
import dev.berth.cri.v1.PodSandboxState;
import dev.berth.e2e.reliability.LeakCensus;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code berth agent --pod-manifest-path DIR} in one process with berth's runtime: a static pod
 * from a manifest runs (seen through the CRI socket, as crictl sees it), survives a restart of
 * the agent without being recreated, is replaced when its file changes and removed with its
 * file; a second agent on the same root is refused; nothing the pods made is left behind.
 */
@Tag("root")
class AgentStaticPodE2eTest {
    private static final String IMAGE = "offline/agent-e2e:1";
    private static final String NODE = "e2e-node";
    private static final String POD = "web-" + NODE;
    private static final String BRIDGE = "berthag0";
    private static final String SUBNET = "10.199.192.0/20";

    @TempDir
    Path dir;

    private static String manifest(String greeting) {
        return """
                apiVersion: v1
                kind: Pod
                metadata:
                  name: web
                  labels: {app: web}
                spec:
                  terminationGracePeriodSeconds: 2
                  initContainers:
                  - name: prepare
                    image: %1$s
                    imagePullPolicy: Never
                    command: ["/bin/sh", "-c", "echo prepared"]
                  containers:
                  - name: app
                    image: %1$s
                    imagePullPolicy: IfNotPresent
                    env:
                    - {name: GREETING, value: %2$s}
                    - name: POD_NAME
                      valueFrom: {fieldRef: {fieldPath: metadata.name}}
                    - {name: LINE, value: "$(GREETING) from $(POD_NAME)"}
                    command: ["/bin/sh", "-c"]
                    args: ["echo $(LINE); exec sleep 3600"]
                """.formatted(IMAGE, greeting);
    }

    @Test
    void aStaticPodRunsSurvivesARestartIsReplacedAndRemovedWithItsFile() throws Exception {
        Path berthDir = dir.resolve("berth");
        Path manifests = Files.createDirectories(dir.resolve("manifests"));
        Path logs = dir.resolve("logs");
        buildImage(berthDir.resolve("root"));
        // a bridge and subnet of this test's own: other daemons of parallel runs use the shared e2e one
        Path config = Files.writeString(dir.resolve("agent.toml"), "[network]\ncni_config_dir = \"" + dir.resolve("net.d") + "\"\n"
                + "default_bridge = \"" + BRIDGE + "\"\ndefault_subnet = \"" + SUBNET + "\"\n"
                // the census after the pod went counts the network's masquerade rules too: no linger
                + "masquerade_linger = \"0s\"\n"
                + "[agent]\ncgroups_per_qos = false\npod_logs_dir = \"" + logs + "\"\nmanifest_rescan_interval = \"2s\"\n");
        try (BerthProcess agent = BerthProcess.startAgent(berthDir, "", "--config", config.toString(),
                "--metrics-address", "127.0.0.1:" + AgentTests.freeLoopbackPort(), "--node-name", NODE, "--pod-manifest-path", manifests.toString())) {
            // a first pod, run and removed, makes what the runtime makes once for all pods (IPAM state, runtime roots)
            Files.writeString(manifests.resolve("warm-up.json"), "{\"apiVersion\": \"v1\", \"kind\": \"Pod\", \"metadata\": {\"name\": \"w\"},"
                    + " \"spec\": {\"terminationGracePeriodSeconds\": 0, \"containers\": [{\"name\": \"c\", \"image\": \"" + IMAGE
                    + "\", \"command\": [\"/bin/sleep\", \"3600\"]}]}}");
            await("the warm-up pod runs", () -> agent.runtime().listContainers(ListContainersRequest.getDefaultInstance()).getContainersList()
                    .stream().anyMatch(c -> c.getState() == ContainerState.CONTAINER_RUNNING) ? true : null);
            Files.delete(manifests.resolve("warm-up.json"));
            await("the warm-up pod is gone", () -> agent.runtime().listPodSandbox(ListPodSandboxRequest.getDefaultInstance())
                    .getItemsCount() == 0 ? true : null);
            LeakCensus census = new LeakCensus(agent.root(), agent.runRoot(), BRIDGE, SUBNET, List.of(), Set.of());
            LeakCensus.Snapshot before = census.take();

            Files.writeString(manifests.resolve("web.yaml"), manifest("hello"));
            PodSandbox first = await("the static pod runs", () -> runningSandbox(agent));
            String uid = first.getMetadata().getUid();
            assertEquals(Map.of("app", "web", "io.kubernetes.pod.name", POD, "io.kubernetes.pod.namespace", "default",
                    "io.kubernetes.pod.uid", uid, "berth.dev/pod-source", "file"), first.getLabelsMap());
            Container app = container(agent, first.getId(), "app");
            Container prepare = container(agent, first.getId(), "prepare");
            assertEquals(ContainerState.CONTAINER_EXITED, prepare.getState());
            assertEquals(0, agent.runtime().containerStatus(ContainerStatusRequest.newBuilder().setContainerId(prepare.getId()).build())
                    .getStatus().getExitCode());
            Path podLogs = logs.resolve("default_" + POD + "_" + uid);
            assertEquals("prepared", await("the init container's log", () -> logLine(podLogs.resolve("prepare/0.log"))));
            assertEquals("hello from " + POD, await("the app's log", () -> logLine(podLogs.resolve("app/0.log"))),
                    "env and args expanded as the kubelet does");

            // a second agent on the same state root is refused, naming the first
            Process second = new ProcessBuilder(BerthProcess.launcher().toString(), "agent", "--root", agent.root().toString(),
                    "--run-root", dir.resolve("run2").toString(), "--socket", dir.resolve("run2/berth.sock").toString(),
                    "--metrics-address", "", "--node-name", NODE).redirectErrorStream(true).start();
            String refusal = new String(second.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertEquals(1, second.waitFor(), refusal);
            assertTrue(refusal.contains("another berth agent (pid " + agent.pid() + ")"), refusal);

            // the agent stops, the pod runs on; a new agent adopts it instead of recreating it
            assertEquals(0, agent.stop());
            agent.restart();
            Thread.sleep(Duration.ofSeconds(5).toMillis()); // two rescans: time for a wrong agent to recreate something
            PodSandbox adopted = await("the pod is still there", () -> runningSandbox(agent));
            assertEquals(first.getId(), adopted.getId(), "the same sandbox");
            assertEquals(app.getId(), container(agent, adopted.getId(), "app").getId(), "the same container");
            assertEquals(1, agent.runtime().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsCount());

            // a changed file replaces the pod
            Files.writeString(manifests.resolve("web.yaml"), manifest("changed"));
            PodSandbox replaced = await("the changed pod runs", () -> {
                PodSandbox s = runningSandbox(agent);
                return s != null && !s.getMetadata().getUid().equals(uid) ? s : null;
            });
            assertEquals(1, agent.runtime().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsCount(),
                    "the old pod is gone");
            Path newLogs = logs.resolve("default_" + POD + "_" + replaced.getMetadata().getUid());
            assertEquals("changed from " + POD, await("the new app's log", () -> logLine(newLogs.resolve("app/0.log"))));

            // a removed file removes the pod
            Files.delete(manifests.resolve("web.yaml"));
            await("the pod is gone", () -> agent.runtime().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsCount() == 0
                    && agent.runtime().listContainers(ListContainersRequest.getDefaultInstance()).getContainersCount() == 0 ? true : null);
            Map<String, List<String>> leaks = census.take().leaksSince(before);
            assertEquals(0, LeakCensus.total(leaks), "left behind: " + leaks);
        } finally {
            cleanUp(berthDir, manifests);
        }
    }

    /**
     * Whatever a failed run left: the agent leaves its pods running when it stops, so a daemon
     * on the same directories (without the manifests) removes them; then the test's bridge goes.
     */
    private static void cleanUp(Path berthDir, Path manifests) throws Exception {
        AgentTests.emptyDirectory(manifests);
        AgentTests.removeLeftoverPods(berthDir, berthDir.getParent().resolve("agent.toml"));
        AgentTests.deleteBridge(BRIDGE);
    }

    private static PodSandbox runningSandbox(BerthProcess agent) {
        List<PodSandbox> sandboxes = agent.runtime().listPodSandbox(ListPodSandboxRequest.newBuilder()
                .setFilter(PodSandboxFilter.newBuilder().putLabelSelector("io.kubernetes.pod.name", POD)).build()).getItemsList();
        for (PodSandbox s : sandboxes) {
            if (s.getState() == PodSandboxState.SANDBOX_READY) {
                Container app = container(agent, s.getId(), "app");
                if (app != null && app.getState() == ContainerState.CONTAINER_RUNNING) {
                    return s;
                }
            }
        }
        return null;
    }

    private static Container container(BerthProcess agent, String sandboxId, String name) {
        return agent.runtime().listContainers(ListContainersRequest.newBuilder().setFilter(ContainerFilter.newBuilder()
                .setPodSandboxId(sandboxId).putLabelSelector("io.kubernetes.container.name", name)).build())
                .getContainersList().stream().findFirst().orElse(null);
    }

    /** The message of the first line of a CRI log file, or null while there is none. */
    private static String logLine(Path file) throws IOException {
        if (!Files.exists(file)) {
            return null;
        }
        try (Stream<String> lines = Files.lines(file)) {
            return lines.filter(l -> l.contains(" stdout F ")).map(l -> l.substring(l.indexOf(" stdout F ") + 10)).findFirst().orElse(null);
        }
    }

    private static <T> T await(String what, Callable<T> probe) throws Exception {
        return AgentTests.await(what, Duration.ofSeconds(90), probe);
    }


    /** A busybox image in the store under {@code root}, so the pod needs no registry. */
    private void buildImage(Path root) throws IOException, InterruptedException {
        AgentTests.busyboxImage(dir, root, IMAGE);
    }
}
