package dev.berth.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.agent.testing.ApiServerFixture;
import dev.berth.cri.v1.Container;
import dev.berth.cri.v1.ContainerFilter;
import dev.berth.cri.v1.ContainerState;
import dev.berth.cri.v1.ListContainersRequest;
import dev.berth.cri.v1.ListPodSandboxRequest;
import dev.berth.cri.v1.PodSandbox;
import dev.berth.cri.v1.PodSandboxFilter;
import dev.berth.cri.v1.PodSandboxState;
import dev.berth.cri.v1.RemovePodSandboxRequest;
import dev.berth.cri.v1.StopPodSandboxRequest;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code berth agent --kubeconfig} against the mock API server of this JVM (with the real
 * {@code spec.nodeName} field selector), real containers behind it: a pod bound to the node
 * runs, a pod bound to another node never gets a sandbox, a pod marked for deletion is stopped
 * and its object removed; the agent survives SIGKILL and adopts its running pods; the agent
 * alone, driving a separate {@code berth daemon} over its socket, does the same.
 */
@Tag("root")
class AgentConnectedE2eTest {
    private static final String IMAGE = "offline/agent-api-e2e:1";
    private static final String NODE = "e2e-api-node";
    private static final String BRIDGE = "berthap0";
    private static final String SUBNET = "10.199.208.0/20";

    @TempDir
    Path dir;

    private static Pod pod(String name, String node) {
        return new PodBuilder().withNewMetadata().withNamespace("apps").withName(name).endMetadata()
                .withNewSpec().withNodeName(node).withTerminationGracePeriodSeconds(2L)
                .addNewContainer().withName("app").withImage(IMAGE).withImagePullPolicy("Never")
                .withCommand("/bin/sleep", "3600").endContainer().endSpec().build();
    }

    private Path config() throws IOException {
        return Files.writeString(dir.resolve("agent.toml"), "[network]\ncni_config_dir = \"" + dir.resolve("net.d") + "\"\n"
                + "default_bridge = \"" + BRIDGE + "\"\ndefault_subnet = \"" + SUBNET + "\"\n"
                + "[agent]\ncgroups_per_qos = false\npod_logs_dir = \"" + dir.resolve("logs") + "\"\n");
    }

    @Test
    void boundPodsRunOthersNeverDeletedOnesStopAndAKilledAgentAdoptsItsPods() throws Exception {
        Path berthDir = dir.resolve("berth");
        Path config = config();
        buildImage(berthDir.resolve("root"));
        try (ApiServerFixture api = new ApiServerFixture(); KubernetesClient client = api.client()) {
            Path kubeconfig = api.writeKubeconfig(dir.resolve("kubeconfig"));
            String other = client.resource(pod("elsewhere", "another-node")).create().getMetadata().getUid();
            String uid = client.resource(pod("web", NODE)).create().getMetadata().getUid();
            try (BerthProcess agent = BerthProcess.startAgent(berthDir, "", "--config", config.toString(), "--metrics-address",
                    "127.0.0.1:" + AgentTests.freeLoopbackPort(), "--node-name", NODE, "--kubeconfig", kubeconfig.toString())) {
                PodSandbox first = await("the bound pod runs", () -> runningSandbox(agent, uid));
                assertEquals("api", first.getLabelsOrThrow("berth.dev/pod-source"));
                assertEquals(Map.of("io.kubernetes.pod.name", "web", "io.kubernetes.pod.namespace", "apps", "io.kubernetes.pod.uid", uid,
                        "berth.dev/pod-source", "api"), first.getLabelsMap());
                Container app = container(agent, first.getId());

                // SIGKILL while the pod runs; the next agent adopts it
                agent.kill();
                api.clearRequests();
                agent.restart();
                await("the new agent lists its pods", () -> api.requests().stream()
                        .anyMatch(r -> r.startsWith("GET /api/v1/pods?") && r.contains("spec.nodeName%3D" + NODE)) ? true : null);
                Thread.sleep(Duration.ofSeconds(3).toMillis()); // time for a wrong agent to recreate something
                PodSandbox adopted = await("the pod still runs", () -> runningSandbox(agent, uid));
                assertEquals(first.getId(), adopted.getId(), "the same sandbox");
                assertEquals(app.getId(), container(agent, adopted.getId()).getId(), "the same container");
                assertEquals(1, agent.runtime().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsCount(),
                        "the other node's pod never got a sandbox: " + other);

                // a deleted pod is stopped, then its object removed
                client.pods().inNamespace("apps").withName("web").delete();
                await("the pod's object is deleted", () -> client.pods().inNamespace("apps").withName("web").get() == null ? true : null);
                assertEquals(0, agent.runtime().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsCount(),
                        "its sandbox is removed before its object");
                assertEquals(0, agent.runtime().listContainers(ListContainersRequest.getDefaultInstance()).getContainersCount());
            }
        } finally {
            cleanUp(berthDir, config);
        }
    }

    @Test
    void theAgentDrivingBerthOverItsSocketDoesTheSame() throws Exception {
        Path runtimeDir = dir.resolve("runtime");
        Path config = config();
        buildImage(runtimeDir.resolve("root"));
        try (ApiServerFixture api = new ApiServerFixture(); KubernetesClient client = api.client();
                BerthProcess runtime = BerthProcess.start(runtimeDir, "--config", config.toString(), "--metrics-address", "")) {
            try {
                Path kubeconfig = api.writeKubeconfig(dir.resolve("kubeconfig"));
                String other = client.resource(pod("elsewhere", "another-node")).create().getMetadata().getUid();
                String uid = client.resource(pod("web", NODE)).create().getMetadata().getUid();
                try (BerthProcess agent = BerthProcess.startAgentOn(dir.resolve("agent"), runtime.socket(), "--config", config.toString(),
                        "--metrics-address", "", "--node-name", NODE, "--kubeconfig", kubeconfig.toString())) {
                    PodSandbox s = await("the bound pod runs in the runtime", () -> runningSandbox(runtime, uid));
                    assertEquals("api", s.getLabelsOrThrow("berth.dev/pod-source"));
                    assertEquals(1, runtime.runtime().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsCount(),
                            "the other node's pod never got a sandbox: " + other);
                    client.pods().inNamespace("apps").withName("web").delete();
                    await("the pod's object is deleted", () -> client.pods().inNamespace("apps").withName("web").get() == null ? true : null);
                    assertEquals(0, runtime.runtime().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsCount());
                    assertTrue(agent.process().isAlive(), agent.logText());
                }
            } finally {
                removeAll(runtime);
            }
        } finally {
            AgentTests.deleteBridge(BRIDGE);
        }
    }

    /** Whatever a failed run left: the agent leaves its pods running, so a daemon on its directories removes them. */
    private static void cleanUp(Path berthDir, Path config) throws Exception {
        try (BerthProcess daemon = BerthProcess.start(berthDir, "--config", config.toString(), "--metrics-address", "")) {
            removeAll(daemon);
        } finally {
            AgentTests.deleteBridge(BRIDGE);
        }
    }

    private static void removeAll(BerthProcess daemon) {
        for (PodSandbox s : daemon.runtime().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsList()) {
            daemon.runtime().stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(s.getId()).build());
            daemon.runtime().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(s.getId()).build());
        }
    }

    /** The pod's ready sandbox once its app container runs, else null. */
    private static PodSandbox runningSandbox(BerthProcess p, String uid) {
        List<PodSandbox> sandboxes = p.runtime().listPodSandbox(ListPodSandboxRequest.newBuilder()
                .setFilter(PodSandboxFilter.newBuilder().putLabelSelector("io.kubernetes.pod.uid", uid)).build()).getItemsList();
        for (PodSandbox s : sandboxes) {
            Container app = s.getState() == PodSandboxState.SANDBOX_READY ? container(p, s.getId()) : null;
            if (app != null && app.getState() == ContainerState.CONTAINER_RUNNING) {
                return s;
            }
        }
        return null;
    }

    private static Container container(BerthProcess p, String sandboxId) {
        return p.runtime().listContainers(ListContainersRequest.newBuilder().setFilter(ContainerFilter.newBuilder()
                .setPodSandboxId(sandboxId).putLabelSelector("io.kubernetes.container.name", "app")).build())
                .getContainersList().stream().findFirst().orElse(null);
    }

    private static <T> T await(String what, Callable<T> probe) throws Exception {
        return AgentTests.await(what, Duration.ofSeconds(90), probe);
    }


    /** A busybox image in the store under {@code root}, so the pods need no registry. */
    private void buildImage(Path root) throws IOException, InterruptedException {
        AgentTests.busyboxImage(dir, root, IMAGE);
    }
}
