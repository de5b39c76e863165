package dev.berth.podsandbox.stats;

import dev.berth.podsandbox.oci.ConmonRuntime;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.common.BerthException;
import dev.berth.podsandbox.oci.RuntimeHandlers;
import dev.berth.podsandbox.sandbox.SandboxConfig;
import dev.berth.podsandbox.sandbox.SandboxContainers;
import dev.berth.podsandbox.sandbox.SandboxFilter;
import dev.berth.podsandbox.sandbox.SandboxService;
import dev.berth.podsandbox.sandbox.SandboxStatus;
import dev.berth.podsandbox.testing.FakeCgroups;
import dev.berth.podsandbox.testing.FakePodNetwork;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The sandbox service seen through the stats collector's pod directory: cgroup and pinned netns of real sandboxes. */
@Tag("root")
class PodDirectoryTest {
    @TempDir
    Path tmp;
    private SandboxService service;

    @AfterEach
    void cleanUp() throws Exception {
        if (service != null) {
            for (SandboxStatus st : service.list(SandboxFilter.ALL)) {
                service.remove(st.id());
            }
        }
        for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
            assertTrue(!line.contains(tmp.toString()), "mount left: " + line);
        }
    }

    private static SandboxConfig pod(String name, String app, SandboxConfig.NamespaceOptions ns) {
        return new SandboxConfig(new SandboxConfig.Metadata(name, "uid-" + name, "default", 0), name, "",
                SandboxConfig.Dns.NONE, List.of(), Map.of("app", app), Map.of("note", "test"), "/kubepods", Map.of(), ns,
                null, null, 0, "");
    }

    @Test
    void podsCarryTheirCgroupAndNetworkNamespace() {
        FakeCgroups cgroups = new FakeCgroups();
        service = new SandboxService(tmp.resolve("state"), tmp.resolve("run"),
                new RuntimeHandlers(Map.of("runc", "runc"), "runc", ConmonRuntime.factory(Path.of("/usr/bin/conmon"), tmp.resolve("run/runtimes"), java.time.Duration.ofSeconds(60), Path::of)),
                new FakePodNetwork(), cgroups, SandboxContainers.NONE);
        String web = service.run(pod("web", "web", SandboxConfig.NamespaceOptions.DEFAULT));
        String host = service.run(pod("host", "infra", new SandboxConfig.NamespaceOptions(SandboxConfig.NamespaceMode.NODE,
                SandboxConfig.NamespaceMode.POD, SandboxConfig.NamespaceMode.POD, "")));
        PodDirectory dir = PodDirectory.of(service);

        PodDirectory.Pod p = dir.find(web.substring(0, 10));
        assertEquals(web, p.id());
        assertEquals("web", p.metadata().name());
        assertEquals(Map.of("app", "web"), p.labels());
        assertEquals(Map.of("note", "test"), p.annotations());
        assertTrue(cgroups.pods.containsKey(p.cgroupPath()), "the pod cgroup berth created: " + p.cgroupPath());
        assertNotNull(p.netns());
        assertTrue(Files.exists(p.netns()), "the pinned namespace " + p.netns());
        assertNull(dir.find(host).netns(), "a host-network pod has no namespace of its own");

        assertEquals(2, dir.list("", Map.of()).size());
        assertEquals(List.of(host), dir.list("", Map.of("app", "infra")).stream().map(PodDirectory.Pod::id).toList());
        assertEquals(List.of(web), dir.list(web, Map.of()).stream().map(PodDirectory.Pod::id).toList());
        assertEquals(BerthException.Kind.NOT_FOUND, assertThrows(BerthException.class, () -> dir.find("nosuchpod")).kind());
    }
}
