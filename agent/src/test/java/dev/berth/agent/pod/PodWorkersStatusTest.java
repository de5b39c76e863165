package dev.berth.agent.pod;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.agent.cri.CriClient;
import dev.berth.agent.status.EventRecorder;
import dev.berth.agent.status.PodStatusBuilder;
import dev.berth.agent.status.StatusManager;
import dev.berth.agent.testing.FakeCri;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodStatus;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What the pod workers tell the status: waiting reasons, restarts, phases, and the events of each step. */
class PodWorkersStatusTest {
    @TempDir
    Path dir;

    FakeCri cri;
    PodWorkers workers;
    StatusManager status;
    Pleg pleg;
    final List<String> events = new CopyOnWriteArrayList<>();

    @BeforeEach
    void start() throws Exception {
        cri = new FakeCri();
        cri.images.add("img:1");
        CriClient client = new CriClient(cri.channel(), Duration.ofSeconds(30), Duration.ofSeconds(30));
        EventRecorder recorder = (o, type, reason, message) -> events.add(o.getName() + " " + type + " " + reason + ": " + message);
        status = new StatusManager(null, new PodStatusBuilder(() -> "fake", () -> List.of("192.168.1.5"), Clock.systemUTC()),
                PodStatusBuilder.Messages.NONE);
        workers = new PodWorkers(new PodSync(client, new PodTranslation(new NodeFacts(1L << 30, List.of(), List.of(), List.of()),
                dir.resolve("logs")), recorder), status);
        pleg = new Pleg(client, workers);
        pleg.start();
    }

    @AfterEach
    void stop() {
        pleg.close();
        workers.close();
        status.close();
        cri.close();
    }

    static Pod pod(String name, String restartPolicy, String image, String pullPolicy, String args) {
        return new PodBuilder().withNewMetadata().withName(name).withNamespace("ns").withUid("uid-" + name).endMetadata()
                .withNewSpec().withRestartPolicy(restartPolicy).addNewContainer().withName("app").withImage(image)
                .withImagePullPolicy(pullPolicy).withArgs(args).endContainer().endSpec().build();
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

    ContainerStatus app(String name) {
        return status.status("uid-" + name).map(s -> s.getContainerStatuses().get(0)).orElse(null);
    }

    boolean waitingFor(String name, String reason) {
        ContainerStatus c = app(name);
        return c != null && c.getState().getWaiting() != null && reason.equals(c.getState().getWaiting().getReason());
    }

    String phase(String name) {
        return status.status("uid-" + name).map(PodStatus::getPhase).orElse("");
    }

    @Test
    void aRunningPodIsRunningWithItsEvents() throws Exception {
        workers.update(pod("web", "Always", "img:1", "IfNotPresent", "serve"));
        await("web is Running and ready", () -> phase("web").equals("Running") && Boolean.TRUE.equals(app("web").getReady()));
        assertTrue(app("web").getContainerID().startsWith("fake://"));
        assertEquals("10.9.9.9", status.status("uid-web").orElseThrow().getPodIP());
        assertTrue(events.contains("web Normal Pulled: Container image \"img:1\" already present on machine"), events.toString());
        assertTrue(events.contains("web Normal Created: Created container: app"), events.toString());
        assertTrue(events.contains("web Normal Started: Started container app"), events.toString());
    }

    @Test
    void aMissingImageWithPullPolicyNeverWaitsAsErrImageNeverPull() throws Exception {
        workers.update(pod("never", "Always", "img:absent", "Never", "serve"));
        await("ErrImageNeverPull", () -> waitingFor("never", "ErrImageNeverPull"));
        assertEquals("Pending", phase("never"));
        // the kubelet's words, which tools and people search for
        assertEquals("Container image \"img:absent\" is not present with pull policy of Never",
                app("never").getState().getWaiting().getMessage());
        assertTrue(events.contains("never Warning ErrImageNeverPull: Container image \"img:absent\" is not present with pull policy of Never"),
                events.toString());
        assertTrue(events.contains("never Warning Failed: Error: ErrImageNeverPull"), events.toString());
    }

    @Test
    void aFailingPullIsErrImagePullThenImagePullBackOff() throws Exception {
        cri.failingPulls.add("img:gone");
        workers.update(pod("pull", "Always", "img:gone", "Always", "serve"));
        await("ErrImagePull", () -> waitingFor("pull", "ErrImagePull"));
        await("ImagePullBackOff", () -> waitingFor("pull", "ImagePullBackOff"));
        assertTrue(events.contains("pull Normal Pulling: Pulling image \"img:gone\""), events.toString());
        assertTrue(events.stream().anyMatch(e -> e.startsWith("pull Warning Failed: Error: ErrImagePull")), events.toString());
        assertTrue(events.contains("pull Normal BackOff: Back-off pulling image \"img:gone\""), events.toString());
    }

    @Test
    void aCrashingContainerIsRestartedThenWaitsInCrashLoopBackOff() throws Exception {
        workers.update(pod("crash", "Always", "img:1", "IfNotPresent", "exit 3"));
        await("CrashLoopBackOff", () -> waitingFor("crash", "CrashLoopBackOff"));
        ContainerStatus c = app("crash");
        assertEquals(1, c.getRestartCount(), "restarted once at once, then held back");
        assertEquals(3, c.getLastState().getTerminated().getExitCode());
        assertEquals("Error", c.getLastState().getTerminated().getReason());
        assertEquals("Running", phase("crash"));
        assertTrue(events.contains("crash Warning BackOff: Back-off restarting failed container app in pod ns/crash"), events.toString());
    }

    @Test
    void aRestartedContainerShowsItsPreviousRunAsLastState() throws Exception {
        workers.update(pod("web", "Always", "img:1", "IfNotPresent", "serve"));
        await("web runs", () -> app("web") != null && app("web").getState().getRunning() != null);
        cri.exit(cri.containerOf("uid-web", "app"), 137, "OOMKilled");
        await("restarted", () -> app("web").getRestartCount() == 1 && app("web").getState().getRunning() != null);
        assertEquals("OOMKilled", app("web").getLastState().getTerminated().getReason());
        assertEquals(137, app("web").getLastState().getTerminated().getExitCode());
    }

    @Test
    void containersThatCompleteSucceedOrFailThePodByPolicy() throws Exception {
        workers.update(pod("job", "Never", "img:1", "IfNotPresent", "exit 0"));
        workers.update(pod("bad", "Never", "img:1", "IfNotPresent", "exit 1"));
        await("job Succeeded", () -> phase("job").equals("Succeeded"));
        await("bad Failed", () -> phase("bad").equals("Failed"));
        assertEquals("Completed", app("job").getState().getTerminated().getReason());
        assertEquals("Error", app("bad").getState().getTerminated().getReason());
    }

    @Test
    void aFinishedPodsSandboxIsStoppedAndNoNewOneIsMade() throws Exception {
        workers.update(pod("job", "Never", "img:1", "IfNotPresent", "exit 0"));
        workers.update(pod("retry", "OnFailure", "img:1", "IfNotPresent", "exit 0"));
        await("job Succeeded", () -> phase("job").equals("Succeeded"));
        await("retry Succeeded", () -> phase("retry").equals("Succeeded"));
        await("both sandboxes stopped", () -> cri.sandboxes.values().stream()
                .allMatch(s -> s.getState() == dev.berth.cri.v1.PodSandboxState.SANDBOX_NOTREADY));
        int runs = cri.calls("RunPodSandbox");
        workers.resync("uid-job");
        workers.resync("uid-retry");
        Thread.sleep(300);
        await("the workers are idle", workers::idle);
        assertEquals(runs, cri.calls("RunPodSandbox"), "a finished pod gets no new sandbox");
        assertEquals(2, cri.sandboxes.size(), "the stopped sandboxes stay until their pods go");
        assertEquals("Succeeded", phase("job"));
        assertEquals("Completed", app("job").getState().getTerminated().getReason());
    }

    @Test
    void aTerminatedPodIsForgotten() throws Exception {
        workers.update(pod("web", "Always", "img:1", "IfNotPresent", "serve"));
        await("web runs", () -> phase("web").equals("Running"));
        workers.terminate("uid-web", 0, null);
        await("forgotten", () -> status.status("uid-web").isEmpty());
        assertTrue(events.contains("web Normal Killing: Stopping container app"), events.toString());
    }
}
