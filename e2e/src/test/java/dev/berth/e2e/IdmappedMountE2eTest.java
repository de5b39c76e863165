package dev.berth.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.cri.v1.ContainerStateValue;
import dev.berth.cri.v1.ContainerFilter;
import dev.berth.cri.v1.ContainerState;
import dev.berth.cri.v1.CreateContainerRequest;
import dev.berth.cri.v1.ExecSyncResponse;
import dev.berth.cri.v1.IDMapping;
import dev.berth.cri.v1.ListContainersRequest;
import dev.berth.cri.v1.Mount;
import dev.berth.cri.v1.RemoveContainerRequest;
import dev.berth.cri.v1.StartContainerRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * CRI mounts with uid/gid mappings through the real daemon (runc 1.1, which cannot idmap:
 * berth stages the idmapped bind). The pod here has no user namespace of its own, so a file of
 * host root seen through the mapping 0:100000:65536 shows as owned by uid 100000; refusals are
 * INVALID_ARGUMENT; nothing stays mounted after RemoveContainer, also across a SIGKILL of berth.
 */
@Tag("root")
class IdmappedMountE2eTest {
    private static final String BRIDGE = "berthid0";
    private static final IDMapping POD = IDMapping.newBuilder().setContainerId(0).setHostId(100000).setLength(65536).build();

    @TempDir
    Path dir;

    final ContainerE2eTest containers = new ContainerE2eTest();

    @AfterEach
    void cleanUp() throws Exception {
        try {
            containers.cleanUp();
        } finally {
            if (Files.exists(Path.of("/sys/class/net/" + BRIDGE))) {
                new ProcessBuilder("ip", "link", "delete", BRIDGE).start().waitFor();
            }
        }
    }

    private static Mount volume(Path hostPath, List<IDMapping> uids, List<IDMapping> gids) {
        return Mount.newBuilder().setContainerPath("/data").setHostPath(hostPath.toString())
                .addAllUidMappings(uids).addAllGidMappings(gids).build();
    }

    private static CreateContainerRequest withMount(CreateContainerRequest r, Mount m) {
        return r.toBuilder().setConfig(r.getConfig().toBuilder().clearCommand().clearArgs()
                .addCommand("sleep").addArgs("1000").addMounts(m)).build();
    }

    @Test
    void aMappedVolumeShowsHostRootsFileThroughTheMappingRefusalsAreInvalidArgumentAndNothingStaysMounted() throws Exception {
        Path cfg = dir.resolve("config.toml");
        Files.writeString(cfg, "[metrics]\naddress = \"\"\n[network]\ncni_config_dir = \"" + dir.resolve("net.d") + "\"\n"
                + "default_bridge = \"" + BRIDGE + "\"\ndefault_subnet = \"10.197.64.0/20\"\n");
        containers.dir = dir;
        containers.berth = BerthProcess.start(dir.resolve("berth"), "--config", cfg.toString());
        BerthProcess berth = containers.berth;
        containers.importBusybox();
        Path staging = berth.runRoot().resolve("idmapped");
        Path data = Files.createDirectories(dir.resolve("volume"));
        Files.writeString(data.resolve("rootfile"), "x"); // host root's
        String pod = berth.runtime().runPodSandbox(ContainerE2eTest.pod("idmap", dir.resolve("logs"))).getPodSandboxId();

        String c = berth.runtime().createContainer(withMount(ContainerE2eTest.request(pod, "mapped", "mapped.log"),
                volume(data, List.of(POD), List.of(POD)))).getContainerId();
        berth.runtime().startContainer(StartContainerRequest.newBuilder().setContainerId(c).build());
        assertEquals("100000 100000", owner(c));
        Mount reported = containers.status(c).getStatus().getMounts(0);
        assertEquals(data.toString(), reported.getHostPath(), "the status names the host path, not the staging");
        assertEquals(List.of(POD), reported.getUidMappingsList());
        assertEquals(List.of(POD), reported.getGidMappingsList());

        // refusals: one kind of mapping only, two mappings, a filesystem that does not idmap
        IDMapping more = IDMapping.newBuilder().setContainerId(65536).setHostId(300000).setLength(10).build();
        for (Mount bad : List.of(volume(data, List.of(POD), List.of()), volume(data, List.of(POD, more), List.of(POD, more)),
                volume(Path.of("/proc"), List.of(POD), List.of(POD)))) {
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> berth.runtime().createContainer(
                    withMount(ContainerE2eTest.request(pod, "bad", "bad.log"), bad)));
            assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.toString());
        }
        assertEquals(List.of(c), containers.ids(ListContainersRequest.getDefaultInstance()));

        // SIGKILL of berth: the container keeps its mount; a staging no record claims (a create
        // cut short before its record was written) is unmounted at start-up
        berth.kill();
        Path stray = Files.createDirectories(staging.resolve("e".repeat(64)).resolve("0"));
        assertEquals(0, new ProcessBuilder("mount", "--bind", data.toString(), stray.toString()).inheritIO().start().waitFor());
        berth.restart();
        assertEquals(List.of(), PodSandboxE2eTest.mountsUnder(stray.getParent()));
        assertFalse(Files.exists(stray.getParent()));
        assertEquals(ContainerState.CONTAINER_RUNNING, containers.status(c).getStatus().getState());
        assertEquals("100000 100000", owner(c));

        berth.runtime().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(c).build());
        assertEquals(List.of(), PodSandboxE2eTest.mountsUnder(staging));
        assertEquals(List.of(), containers.ids(ListContainersRequest.newBuilder().setFilter(ContainerFilter.newBuilder()
                .setState(ContainerStateValue.newBuilder().setState(ContainerState.CONTAINER_RUNNING))).build()));
        assertTrue(Files.exists(data.resolve("rootfile")), "the volume's file stays");
    }

    /** "uid gid" of /data/rootfile as the container sees it. */
    private String owner(String id) {
        ExecSyncResponse r = containers.exec(id, "busybox", "ls", "-ln", "/data/rootfile");
        assertEquals(0, r.getExitCode(), r.getStderr().toStringUtf8());
        String[] f = r.getStdout().toString(StandardCharsets.UTF_8).trim().split("\\s+");
        return f[2] + " " + f[3];
    }
}
