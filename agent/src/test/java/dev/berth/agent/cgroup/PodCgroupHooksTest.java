package dev.berth.agent.cgroup;

import static dev.berth.agent.cgroup.QosCgroupsTest.container;
import static dev.berth.agent.cgroup.QosCgroupsTest.pod;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.berth.agent.cri.CriClient;
import dev.berth.agent.pod.NodeFacts;
import dev.berth.agent.pod.PodCgroups;
import dev.berth.agent.pod.PodSync;
import dev.berth.agent.pod.PodTranslation;
import dev.berth.agent.testing.FakeCri;
import io.fabric8.kubernetes.api.model.Pod;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Where the pod sync calls the pod cgroups: the cgroup is ensured before the sandbox runs
 * (and on every sync), named as the sandbox's cgroup parent, and released only once every
 * sandbox of the pod is removed.
 */
class PodCgroupHooksTest {
    @TempDir
    Path dir;

    private FakeCri cri;
    private final List<String> calls = new ArrayList<>();

    /** Records each call with how many sandboxes the runtime had at that moment. */
    private final PodCgroups recording = new PodCgroups() {
        @Override
        public String parent(Pod pod) {
            return "/kubepods/pod" + pod.getMetadata().getUid();
        }

        @Override
        public void ensure(Pod pod) {
            calls.add("ensure " + pod.getMetadata().getUid() + " with " + cri.sandboxes.size() + " sandboxes");
        }

        @Override
        public void released(String uid) {
            calls.add("released " + uid + " with " + cri.sandboxes.size() + " sandboxes");
        }
    };

    @BeforeEach
    void start() throws Exception {
        cri = new FakeCri();
        cri.images.add("busybox");
    }

    @AfterEach
    void stop() {
        cri.close();
    }

    @Test
    void theCgroupIsEnsuredBeforeTheSandboxAndReleasedAfterIt() {
        CriClient client = new CriClient(cri.channel(), Duration.ofSeconds(30), Duration.ofSeconds(30));
        PodTranslation translation = new PodTranslation(new NodeFacts(1L << 30, List.of(), List.of(), List.of()), dir, recording);
        PodSync sync = new PodSync(client, translation);
        Pod p = pod("u1", container("a", "100m", null, null, null));
        p.getSpec().getContainers().get(0).setImagePullPolicy("IfNotPresent");

        assertEquals("/kubepods/podu1", translation.sandboxConfig(p, 0, "file").getLinux().getCgroupParent());
        sync.sync(p, name -> true);
        sync.sync(p, name -> true);
        sync.kill("u1", 0);
        assertEquals(List.of("ensure u1 with 0 sandboxes", "ensure u1 with 1 sandboxes", "released u1 with 0 sandboxes"), calls);
    }

    @Test
    void withoutPodCgroupsThereIsNoCgroupParent() {
        PodTranslation translation = new PodTranslation(new NodeFacts(1L << 30, List.of(), List.of(), List.of()), dir);
        assertEquals("", translation.sandboxConfig(pod("u2"), 0, "file").getLinux().getCgroupParent());
    }
}
