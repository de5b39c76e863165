package dev.berth.podsandbox.container;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.berth.common.BerthException;
import dev.berth.podsandbox.container.spec.ContainerConfig;
import dev.berth.podsandbox.container.spec.ImageConfig;
import dev.berth.podsandbox.container.spec.SandboxContext;
import dev.berth.podsandbox.container.spec.SandboxContext.Namespace;
import dev.berth.podsandbox.sandbox.PodContext;
import dev.berth.podsandbox.sandbox.SandboxConfig;
import dev.berth.podsandbox.sandbox.SandboxConfig.NamespaceMode;
import dev.berth.podsandbox.sandbox.SandboxConfig.NamespaceOptions;
import dev.berth.podsandbox.sandbox.SandboxState;
import dev.berth.podsandbox.testing.FakeCgroups;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/** How a container's namespaces, pod files and cgroup follow from its pod's context; no root needed. */
class SandboxContextsTest {
    private static final String ID = "c".repeat(64);
    private static final Function<String, ContainerRecord> NO_CONTAINERS = id -> {
        throw BerthException.notFound("container %s not found", id);
    };

    static PodContext pod(NamespaceOptions ns, long infraPid, String netns, String cgroup) {
        SandboxConfig config = new SandboxConfig(new SandboxConfig.Metadata("web", "uid", "default", 0), "web", "/logs",
                SandboxConfig.Dns.NONE, List.of(), Map.of(), Map.of(), "", Map.of(), ns, null, null, 0, "");
        return new PodContext("pod1", SandboxState.READY, infraPid, netns, netns.isEmpty() ? "" : "/run/pod1/ns/ipc",
                netns.isEmpty() ? "" : "/run/pod1/ns/uts", cgroup, "runc", "/usr/bin/runc", "web",
                ns.hostIpc() ? "" : "/run/pod1/shm", "/run/pod1/hostname", "/run/pod1/hosts", "/run/pod1/resolv.conf",
                config);
    }

    @Test
    void aPodContainerJoinsThePinnedNamespacesAndGetsThePodFiles() {
        PodContext pod = pod(NamespaceOptions.DEFAULT, 0, "/run/pod1/ns/net", "/kubepods/pod1");
        SandboxContext c = SandboxContexts.resolve(pod, null, "", NO_CONTAINERS, new FakeCgroups()).apply(ID);
        assertEquals("pod1", c.sandboxId());
        assertEquals(Namespace.join("/run/pod1/ns/net"), c.net());
        assertEquals(Namespace.join("/run/pod1/ns/ipc"), c.ipc());
        assertEquals(Namespace.join("/run/pod1/ns/uts"), c.uts());
        assertEquals(Namespace.ownNew(), c.pid(), "the pod's default PID mode is the container's own");
        assertEquals("/run/pod1/shm", c.shmPath());
        assertEquals("/run/pod1/hosts", c.hostsPath());
        assertEquals("/run/pod1/resolv.conf", c.resolvConfPath());
        assertEquals("/run/pod1/hostname", c.hostnamePath());
        assertEquals("web", c.hostname());
        assertEquals("/berth-fake-" + ID, c.cgroupsPath(), "under the pod cgroup, as the cgroups say");
    }

    @Test
    void aHostNetworkPodWithoutPinsUsesTheHostsNamespacesAndAPodWithoutCgroupTheFallback() {
        NamespaceOptions host = new NamespaceOptions(NamespaceMode.NODE, NamespaceMode.NODE, NamespaceMode.NODE, "");
        SandboxContext c = SandboxContexts.resolve(pod(host, 0, "", ""), null, "", NO_CONTAINERS, new FakeCgroups())
                .apply(ID);
        assertEquals(Namespace.host(), c.net());
        assertEquals(Namespace.host(), c.ipc());
        assertEquals(Namespace.host(), c.uts());
        assertEquals(Namespace.host(), c.pid(), "the pod's NODE PID mode");
        assertEquals(null, c.shmPath(), "no pod /dev/shm with the host's IPC namespace");
        assertEquals("/berth-" + ID, c.cgroupsPath());
    }

    @Test
    void thePidNamespaceFollowsTheContainersModeOverThePods() {
        NamespaceOptions podPid = new NamespaceOptions(NamespaceMode.POD, NamespaceMode.POD, NamespaceMode.POD, "");
        PodContext pod = pod(podPid, 4242, "/run/pod1/ns/net", "");
        FakeCgroups cgroups = new FakeCgroups();
        assertEquals(Namespace.join("/proc/4242/ns/pid"),
                SandboxContexts.resolve(pod, null, "", NO_CONTAINERS, cgroups).apply(ID).pid(), "the pod's POD mode");
        assertEquals(Namespace.ownNew(),
                SandboxContexts.resolve(pod, NamespaceMode.CONTAINER, "", NO_CONTAINERS, cgroups).apply(ID).pid());
        assertEquals(Namespace.host(),
                SandboxContexts.resolve(pod, NamespaceMode.NODE, "", NO_CONTAINERS, cgroups).apply(ID).pid());
        assertEquals(Namespace.ownNew(), SandboxContexts.resolve(pod(podPid, 0, "/run/pod1/ns/net", ""),
                NamespaceMode.POD, "", NO_CONTAINERS, cgroups).apply(ID).pid(), "POD without an infra process");
    }

    @Test
    void aTargetPidNamespaceNeedsARunningTarget() {
        PodContext pod = pod(NamespaceOptions.DEFAULT, 0, "/run/pod1/ns/net", "");
        ContainerRecord running = record("a".repeat(64), ContainerState.RUNNING, 777);
        ContainerRecord created = record("b".repeat(64), ContainerState.CREATED, 778);
        Function<String, ContainerRecord> containers = id -> id.equals(running.id()) ? running
                : id.equals(created.id()) ? created : NO_CONTAINERS.apply(id);
        assertEquals(Namespace.join("/proc/777/ns/pid"), SandboxContexts.resolve(pod, NamespaceMode.TARGET, running.id(),
                containers, new FakeCgroups()).apply(ID).pid());
        BerthException e = assertThrows(BerthException.class, () -> SandboxContexts.resolve(pod, NamespaceMode.TARGET,
                created.id(), containers, new FakeCgroups()));
        assertEquals(BerthException.Kind.FAILED_PRECONDITION, e.kind());
        assertEquals(BerthException.Kind.NOT_FOUND, assertThrows(BerthException.class, () -> SandboxContexts.resolve(pod,
                NamespaceMode.TARGET, "d".repeat(64), containers, new FakeCgroups())).kind());
    }

    @Test
    void aTargetPidNamespaceMustBeAContainerOfTheSamePod() {
        PodContext pod = pod(NamespaceOptions.DEFAULT, 0, "/run/pod1/ns/net", "");
        ContainerRecord other = record("e".repeat(64), "pod2", ContainerState.RUNNING, 999);
        Function<String, ContainerRecord> containers = id -> id.equals(other.id()) ? other : NO_CONTAINERS.apply(id);
        BerthException e = assertThrows(BerthException.class, () -> SandboxContexts.resolve(pod, NamespaceMode.TARGET,
                other.id(), containers, new FakeCgroups()));
        assertEquals(BerthException.Kind.INVALID_ARGUMENT, e.kind(), "another pod's container: " + e.getMessage());
    }

    static ContainerRecord record(String id, ContainerState state, long pid) {
        return record(id, "pod1", state, pid);
    }

    static ContainerRecord record(String id, String sandboxId, ContainerState state, long pid) {
        return new ContainerRecord(id, "c-" + id.substring(0, 4), 0, sandboxId, "runc", "sha256:" + "0".repeat(64),
                ContainerConfig.builder("c").build(), ImageConfig.empty(), "/rootfs", "/bundle/" + id, "/log", "/berth-" + id,
                state, false, 1, state == ContainerState.CREATED ? 0 : 2, 0, 0, "", "", pid, 0, 0, Map.of(), Map.of());
    }
}
