package dev.berth.agent.pod;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.agent.cri.CriClient;
import dev.berth.agent.status.EventRecorder;
import dev.berth.agent.testing.FakeCri;
import dev.berth.agent.testing.MutableClock;
import dev.berth.agent.volume.NodeAllocatable;
import dev.berth.agent.volume.ObjectSource;
import dev.berth.agent.volume.PodVolumes;
import dev.berth.cri.v1.ContainerStatus;
import dev.berth.cri.v1.Mount;
import dev.berth.host.testing.FakeMounts;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Image volumes through a pod pass: pulled by their own policy before the container, then handed to the runtime as image mounts. */
class PodSyncImageVolumesTest {
    @TempDir
    Path dir;

    private static Pod pod(String pullPolicy) {
        return new PodBuilder().withNewMetadata().withName("web").withNamespace("shop").withUid("uid-web").endMetadata()
                .withNewSpec()
                .addNewVolume().withName("tools").withNewImage().withReference("local/tools:1").withPullPolicy(pullPolicy).endImage().endVolume()
                .addNewContainer().withName("app").withImage("local/app:1").withImagePullPolicy("IfNotPresent")
                .addNewVolumeMount().withName("tools").withMountPath("/opt/tools").withSubPath("bin").endVolumeMount().endContainer()
                .endSpec().build();
    }

    private PodSync sync(FakeCri cri, List<String> events) throws Exception {
        Path hosts = Files.writeString(dir.resolve("hosts"), "127.0.0.1 localhost\n");
        PodVolumes volumes = new PodVolumes(new PodDirs(dir.resolve("state")), ObjectSource.standalone(), new FakeMounts(),
                new NodeAllocatable(1000, 1L << 30, 0), "", hosts, new MutableClock(Instant.parse("2026-01-01T00:00:00Z")));
        EventRecorder recorder = (o, type, reason, message) -> events.add(reason + ": " + message);
        return new PodSync(new CriClient(cri.channel(), Duration.ofSeconds(10), Duration.ofSeconds(10)),
                new PodTranslation(new NodeFacts(1L << 30, List.of(), List.of(), List.of()), dir.resolve("logs")), volumes, recorder);
    }

    @Test
    void theImageIsPulledByItsVolumesPolicyAndMountedByItsId() throws Exception {
        List<String> events = new ArrayList<>();
        try (FakeCri cri = new FakeCri()) {
            cri.images.add("local/app:1");
            sync(cri, events).sync(pod("IfNotPresent"), name -> true);
            assertTrue(events.contains("Pulling: Pulling image \"local/tools:1\""), events.toString());
            ContainerStatus app = cri.containers.get(cri.containerOf("uid-web", "app"));
            Mount tools = app.getMountsList().stream().filter(m -> m.getContainerPath().equals("/opt/tools")).findFirst().orElseThrow();
            assertEquals("sha256:" + "local/tools:1".hashCode(), tools.getImage().getImage(), "the runtime's id of the pulled image");
            assertEquals("bin", tools.getImageSubPath());
            assertTrue(tools.getReadonly());
            assertEquals(1, cri.calls("PullImage"), "the container's own image was present");
        }
    }

    @Test
    void aVolumeImageThatCannotBeHadHoldsTheContainerWithErrImageNeverPull() throws Exception {
        List<String> events = new ArrayList<>();
        try (FakeCri cri = new FakeCri()) {
            cri.images.add("local/app:1");
            ContainerConfigException e = assertThrows(ContainerConfigException.class, () -> sync(cri, events).sync(pod("Never"), name -> true));
            assertEquals("ErrImageNeverPull", e.reason());
            assertTrue(e.getMessage().contains("local/tools:1"), e.getMessage());
            assertEquals(0, cri.calls("CreateContainer"));
        }
    }
}
