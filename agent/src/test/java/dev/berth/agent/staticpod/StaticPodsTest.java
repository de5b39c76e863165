package dev.berth.agent.staticpod;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.berth.agent.cri.CriClient;
import dev.berth.agent.pod.KubeletKeys;
import dev.berth.agent.pod.NodeFacts;
import dev.berth.agent.pod.PodSync;
import dev.berth.agent.pod.PodTranslation;
import dev.berth.agent.pod.PodWorkers;
import dev.berth.agent.testing.FakeCri;
import dev.berth.cri.v1.ContainerState;
import dev.berth.cri.v1.PodSandbox;
import dev.berth.cri.v1.PodSandboxState;
import dev.berth.cri.v1.RunPodSandboxRequest;
import dev.berth.cri.v1.PodSandboxConfig;
import dev.berth.cri.v1.PodSandboxMetadata;
import dev.berth.cri.v1.RuntimeServiceGrpc;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Static pods against an in-memory CRI runtime: what the agent asks of the runtime, without root. */
class StaticPodsTest {
    @TempDir
    Path dir;

    private FakeCri cri;
    private PodWorkers workers;
    private StaticPods pods;

    static final String WEB = """
            apiVersion: v1
            kind: Pod
            metadata: {name: web}
            spec:
              terminationGracePeriodSeconds: 3
              initContainers:
              - {name: prepare, image: "local/tools:1", args: ["exit 0"]}
              containers:
              - {name: app, image: "local/tools:1", imagePullPolicy: IfNotPresent, args: ["serve"]}
              - {name: side, image: "local/side:1", imagePullPolicy: Always, args: ["serve"]}
            """;

    @BeforeEach
    void start() throws Exception {
        cri = new FakeCri();
        cri.images.add("local/tools:1");
        Files.createDirectories(dir.resolve("manifests"));
        startAgent();
    }

    private void startAgent() {
        CriClient client = new CriClient(cri.channel(), Duration.ofSeconds(30), Duration.ofSeconds(30));
        workers = new PodWorkers(new PodSync(client, new PodTranslation(new NodeFacts(1L << 30, List.of(), List.of(), List.of()),
                dir.resolve("logs"))));
        pods = new StaticPods(dir.resolve("manifests"), new ManifestParser("n1"), workers, client, Duration.ofHours(1));
    }

    private void stopAgent() {
        pods.close();
        workers.close();
    }

    @AfterEach
    void stop() {
        stopAgent();
        cri.close();
    }

    private static void await(String what, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                fail("never happened: " + what);
            }
            Thread.sleep(10);
        }
    }

    private List<PodSandbox> sandboxesOf(String name) {
        return cri.sandboxes.values().stream().filter(s -> s.getMetadata().getName().equals(name)).toList();
    }

    private boolean running(String podName, String... containers) {
        List<PodSandbox> s = sandboxesOf(podName);
        if (s.size() != 1 || s.get(0).getState() != PodSandboxState.SANDBOX_READY) {
            return false;
        }
        Map<String, ContainerState> states = cri.containerStates(s.get(0).getId());
        for (String c : containers) {
            if (states.get(c) != ContainerState.CONTAINER_RUNNING) {
                return false;
            }
        }
        return true;
    }

    @Test
    void aManifestRunsInitThenAppContainersPullingByPolicy() throws Exception {
        Files.writeString(dir.resolve("manifests/web.yaml"), WEB);
        pods.reconcile();
        await("web runs", () -> running("web-n1", "app", "side"));
        String sandbox = sandboxesOf("web-n1").get(0).getId();
        assertEquals(List.of("prepare", "app", "side"), List.copyOf(cri.containerStates(sandbox).keySet()), "init first, then apps in order");
        assertEquals(ContainerState.CONTAINER_EXITED, cri.containerStates(sandbox).get("prepare"));
        assertEquals(1, cri.calls("PullImage"), "local/tools:1 is present (IfNotPresent, and :1 defaults to it); local/side:1 is Always");
        PodSandbox s = sandboxesOf("web-n1").get(0);
        assertEquals("default", s.getMetadata().getNamespace());
        assertEquals("file", s.getLabelsOrThrow(KubeletKeys.POD_SOURCE));
    }

    @Test
    void aChangedFileReplacesItsPodAndARemovedFileRemovesIt() throws Exception {
        Path file = dir.resolve("manifests/web.yaml");
        Files.writeString(file, WEB);
        pods.reconcile();
        await("web runs", () -> running("web-n1", "app", "side"));
        String first = sandboxesOf("web-n1").get(0).getLabelsOrThrow(KubeletKeys.POD_UID);

        Files.writeString(file, WEB.replace("args: [\"serve\"]}", "args: [\"serve\", \"v2\"]}"));
        pods.reconcile();
        await("the old web is stopped and removed", () -> sandboxesOf("web-n1").stream()
                .noneMatch(s -> s.getLabelsOrThrow(KubeletKeys.POD_UID).equals(first)));
        await("the new web runs", () -> {
            pods.reconcile(); // the runtime's sandbox is gone: the waiting pod may start
            return running("web-n1", "app", "side");
        });
        assertTrue(!sandboxesOf("web-n1").get(0).getLabelsOrThrow(KubeletKeys.POD_UID).equals(first));
        assertEquals(2, cri.calls("RunPodSandbox"));

        Files.delete(file);
        pods.reconcile();
        await("web is gone", () -> cri.sandboxes.isEmpty() && cri.containers.isEmpty());
        assertEquals(2, cri.calls("StopPodSandbox"));
    }

    @Test
    void aRestartedAgentAdoptsRunningPodsAndRemovesThoseWhoseFileWentWhileItWasAway() throws Exception {
        Files.writeString(dir.resolve("manifests/web.yaml"), WEB);
        Files.writeString(dir.resolve("manifests/db.yaml"), WEB.replace("name: web", "name: db"));
        pods.reconcile();
        await("both run", () -> running("web-n1", "app", "side") && running("db-n1", "app", "side"));
        // someone else's sandbox on the same runtime (crictl) is never the agent's to remove
        RuntimeServiceGrpc.newBlockingStub(cri.channel()).runPodSandbox(RunPodSandboxRequest.newBuilder().setConfig(
                PodSandboxConfig.newBuilder().setMetadata(PodSandboxMetadata.newBuilder().setName("mine").setUid("u").setNamespace("x"))
                        .putLabels(KubeletKeys.POD_UID, "u")).build());
        stopAgent();
        int runs = cri.calls("RunPodSandbox");
        int creates = cri.calls("CreateContainer");

        Files.delete(dir.resolve("manifests/db.yaml"));
        startAgent();
        pods.reconcile();
        await("db is removed", () -> sandboxesOf("db-n1").isEmpty());
        pods.reconcile();
        assertTrue(running("web-n1", "app", "side"));
        assertEquals(runs, cri.calls("RunPodSandbox"), "no sandbox made anew");
        assertEquals(creates, cri.calls("CreateContainer"), "no container made anew");
        assertEquals(1, sandboxesOf("mine").size());
    }

    @Test
    void anExitedAppContainerIsRestartedAsItsNextAttempt() throws Exception {
        Files.writeString(dir.resolve("manifests/web.yaml"), WEB);
        pods.reconcile();
        await("web runs", () -> running("web-n1", "app", "side"));
        String sandbox = sandboxesOf("web-n1").get(0).getId();
        String app = cri.containers.values().stream().filter(c -> c.getMetadata().getName().equals("app")).findFirst().orElseThrow().getId();
        RuntimeServiceGrpc.newBlockingStub(cri.channel()).stopContainer(dev.berth.cri.v1.StopContainerRequest.newBuilder()
                .setContainerId(app).build());
        pods.reconcile();
        await("app runs again", () -> running("web-n1", "app"));
        var runs = cri.containers.values().stream().filter(c -> c.getMetadata().getName().equals("app"))
                .sorted(java.util.Comparator.comparingInt(c -> c.getMetadata().getAttempt())).toList();
        assertEquals(2, runs.size(), "the exited one is kept, as the kubelet keeps it for its lastState and the garbage collector");
        assertEquals(app, runs.get(0).getId());
        assertEquals(dev.berth.cri.v1.ContainerState.CONTAINER_EXITED, runs.get(0).getState());
        var restarted = runs.get(1);
        assertEquals(1, restarted.getMetadata().getAttempt());
        assertEquals("1", restarted.getAnnotationsOrThrow(KubeletKeys.CONTAINER_RESTART_COUNT));
        assertEquals(sandbox, sandboxesOf("web-n1").get(0).getId(), "in the same sandbox");
    }

    @Test
    void imagePullPolicyNeverWithAMissingImageCreatesNoContainerAndInvalidFilesAreSkipped() throws Exception {
        Files.writeString(dir.resolve("manifests/never.yaml"), WEB.replace("name: web", "name: never")
                .replace("\"local/tools:1\", args: [\"exit 0\"]", "\"local/absent:1\", imagePullPolicy: Never, args: [\"exit 0\"]"));
        Files.writeString(dir.resolve("manifests/broken.yaml"), "kind: Pod\nmetadata: {name: broken}\n");
        Files.writeString(dir.resolve("manifests/.web.yaml.swp"), WEB);
        pods.reconcile();
        await("the sandbox of never exists", () -> sandboxesOf("never-n1").size() == 1);
        await("the worker looked for the image", () -> cri.calls("ImageStatus") >= 1);
        assertEquals(0, cri.calls("CreateContainer"));
        assertEquals(0, cri.calls("PullImage"));
        assertEquals(1, cri.sandboxes.size(), "neither the broken manifest nor the editor's temporary made a pod");
    }
}
