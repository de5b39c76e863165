package dev.berth.agent.pod;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.common.Trees;
import dev.berth.cri.v1.NamespaceMode;
import dev.berth.cri.v1.UserNamespace;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class UserNamespacesTest {
    @TempDir
    Path state;

    private static Pod pod(String uid, Boolean hostUsers, String runtimeClass) {
        return new PodBuilder().withNewMetadata().withName("p-" + uid).withNamespace("ns").withUid(uid).endMetadata()
                .withNewSpec().withHostUsers(hostUsers).withRuntimeClassName(runtimeClass).endSpec().build();
    }

    private UserNamespaces allocator(long first, long length) {
        return new UserNamespaces(new PodDirs(state), first, length, handler -> !handler.equals("kata"));
    }

    private static long first(UserNamespace u) {
        assertEquals(NamespaceMode.POD, u.getMode());
        assertEquals(1, u.getUidsCount());
        assertEquals(u.getUidsList(), u.getGidsList(), "uids and gids are mapped alike");
        assertEquals(0, u.getUids(0).getContainerId());
        assertEquals(65536, u.getUids(0).getLength());
        return Integer.toUnsignedLong(u.getUids(0).getHostId());
    }

    @Test
    void podsUsingTheHostsUsersAskForTheNodesNamespace() {
        UserNamespaces u = allocator(65536, 4 * 65536);
        assertEquals(NamespaceMode.NODE, u.forPod(pod("a", null, null), "").getMode());
        assertEquals(NamespaceMode.NODE, u.forPod(pod("b", true, null), "").getMode());
        assertTrue(Files.notExists(state.resolve("pods/a/userns")), "nothing is recorded for them");
    }

    @Test
    void eachPodGetsItsOwnRangeKeptAcrossARestartAndFreedWithThePod() throws Exception {
        UserNamespaces u = allocator(65536, 3 * 65536);
        assertEquals(65536, first(u.forPod(pod("a", false, null), "")));
        assertEquals(131072, first(u.forPod(pod("b", false, null), "")));
        assertEquals(65536, first(u.forPod(pod("a", false, null), "")), "the same pod keeps its range");
        String file = Files.readString(state.resolve("pods/a/userns"));
        assertTrue(file.contains("\"uidMappings\":[{\"hostId\":65536,\"containerId\":0,\"length\":65536}]"), file);

        UserNamespaces restarted = allocator(65536, 3 * 65536);
        restarted.recover();
        assertEquals(196608, first(restarted.forPod(pod("c", false, null), "")), "ranges written before the restart stay taken");
        assertEquals(131072, first(restarted.forPod(pod("b", false, null), "")));
        UserNamespaces.UserNamespaceException full = assertThrows(UserNamespaces.UserNamespaceException.class,
                () -> restarted.forPod(pod("d", false, null), ""));
        assertEquals("could not find an empty slot to allocate a user namespace", full.getMessage());

        restarted.released("a");
        assertEquals(65536, first(restarted.forPod(pod("d", false, null), "")), "a released range is handed out again");
        Trees.deleteRecursively(state.resolve("pods/b")); // the pod's directory removed with it (orphan clean-up)
        assertEquals(131072, first(restarted.forPod(pod("e", false, null), "")));
    }

    @Test
    void aHandlerWithoutUserNamespacesRefusesThePodWithTheKubeletsWords() {
        UserNamespaces u = allocator(65536, 4 * 65536);
        UserNamespaces.UserNamespaceException e = assertThrows(UserNamespaces.UserNamespaceException.class,
                () -> u.forPod(pod("a", false, "kata"), "kata"));
        assertEquals("can't set `spec.hostUsers: false`, RuntimeClass handler \"kata\" does not support user namespaces", e.getMessage());
        assertTrue(Files.notExists(state.resolve("pods/a/userns")));
    }

    @Test
    void aTamperedRecordIsRefusedNotTrusted() throws Exception {
        UserNamespaces u = allocator(65536, 4 * 65536);
        Files.createDirectories(state.resolve("pods/a"));
        Files.writeString(state.resolve("pods/a/userns"),
                "{\"uidMappings\":[{\"hostId\":0,\"containerId\":0,\"length\":65536}],\"gidMappings\":[{\"hostId\":0,\"containerId\":0,\"length\":65536}]}");
        UserNamespaces.UserNamespaceException e = assertThrows(UserNamespaces.UserNamespaceException.class,
                () -> u.forPod(pod("a", false, null), ""));
        assertTrue(e.getMessage().contains("outside this node's ranges"), e.getMessage());
        Files.writeString(state.resolve("pods/a/userns"), "{\"uidMappings\":[{\"hostId\":65536,\"containerId\":1,\"length\":65536}]}");
        assertThrows(UserNamespaces.UserNamespaceException.class, () -> u.forPod(pod("a", false, null), ""));
    }

    @Test
    void theKubeletsSubIdsChooseTheRangesAndMustHoldMaxPods() throws Exception {
        Path subuid = state.resolve("subuid");
        Path subgid = state.resolve("subgid");
        Files.writeString(subuid, "alice:100000:65536\nkubelet:655360:" + (200 * 65536) + "\n");
        Files.writeString(subgid, "kubelet:655360:" + (200 * 65536) + "\n");
        UserNamespaces u = UserNamespaces.fromSubIds(new PodDirs(state), subuid, subgid, 110, h -> true);
        assertEquals(655360, first(u.forPod(pod("a", false, null), "")));
        assertThrows(IllegalArgumentException.class, () -> UserNamespaces.fromSubIds(new PodDirs(state), subuid, subgid, 250, h -> true),
                "200 ranges cannot hold 250 pods");
        Files.writeString(subgid, "kubelet:720896:" + (200 * 65536) + "\n");
        assertThrows(IllegalArgumentException.class, () -> UserNamespaces.fromSubIds(new PodDirs(state), subuid, subgid, 110, h -> true));
        UserNamespaces whole = UserNamespaces.fromSubIds(new PodDirs(state.resolve("other")), state.resolve("none"), state.resolve("none"),
                110, h -> true);
        assertEquals(65536, first(whole.forPod(pod("x", false, null), "")), "without sub-ids: from 65536 on, never id 0");
    }

    @Test
    void inAUserNamespacePodEveryHostPathMountIsIdmappedWithThePodsMappingsButImageVolumesAreNot() {
        UserNamespace userns = allocator(65536, 4 * 65536).forPod(pod("a", false, null), "");
        java.util.List<dev.berth.cri.v1.Mount> mounts = java.util.List.of(
                dev.berth.cri.v1.Mount.newBuilder().setContainerPath("/data").setHostPath("/var/lib/x").build(),
                dev.berth.cri.v1.Mount.newBuilder().setContainerPath("/tools")
                        .setImage(dev.berth.cri.v1.ImageSpec.newBuilder().setImage("sha256:1")).build());
        java.util.List<dev.berth.cri.v1.Mount> out = PodSync.idmapped(mounts, userns);
        assertEquals(userns.getUidsList(), out.get(0).getUidMappingsList());
        assertEquals(userns.getGidsList(), out.get(0).getGidMappingsList());
        assertEquals(0, out.get(1).getUidMappingsCount());
        assertEquals(mounts, PodSync.idmapped(mounts, UserNamespace.newBuilder().setMode(NamespaceMode.NODE).build()),
                "pods on the host's users keep plain mounts");
    }
}
