package dev.berth.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.cri.v1.LinuxContainerResources;
import dev.berth.cri.v1.LinuxPodSandboxConfig;
import dev.berth.cri.v1.LinuxSandboxSecurityContext;
import dev.berth.cri.v1.ListPodSandboxRequest;
import dev.berth.cri.v1.NamespaceMode;
import dev.berth.cri.v1.NamespaceOption;
import dev.berth.cri.v1.PodSandbox;
import dev.berth.cri.v1.PodSandboxConfig;
import dev.berth.cri.v1.PodSandboxMetadata;
import dev.berth.cri.v1.PodSandboxStatusRequest;
import dev.berth.cri.v1.RemovePodSandboxRequest;
import dev.berth.cri.v1.RunPodSandboxRequest;
import dev.berth.cri.v1.StopPodSandboxRequest;
import dev.berth.cri.v1.UpdatePodSandboxResourcesRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * UpdatePodSandboxResources (an in-place pod resize) through the real daemon: the new pod-level
 * resources reach the pod cgroup on the system, are kept across a SIGKILL of berth, and bad
 * requests get the right codes.
 */
@Tag("root")
class PodSandboxResourcesE2eTest {
    private static final long MIB = 1L << 20;

    @TempDir
    Path dir;

    BerthProcess berth;
    final String parent = "/berth-e2e-resize-" + UUID.randomUUID().toString().substring(0, 8);

    @AfterEach
    void cleanUp() throws Exception {
        if (berth != null) {
            try {
                if (berth.process().isAlive()) {
                    for (PodSandbox p : berth.runtime().listPodSandbox(ListPodSandboxRequest.getDefaultInstance()).getItemsList()) {
                        berth.runtime().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(p.getId()).build());
                    }
                }
            } finally {
                berth.close();
                // a failed test's safety net: only the cgroup this test named
                for (Path d : new Path[] {memoryDir(), cpuDir()}) {
                    if (Files.isDirectory(d)) {
                        Files.delete(d);
                    }
                }
            }
        }
    }

    /** The pod cgroup in the memory hierarchy: v1 memory on a hybrid or legacy host, else the unified one. */
    Path memoryDir() {
        Path v1 = Path.of("/sys/fs/cgroup/memory");
        return (Files.isDirectory(v1) ? v1 : Path.of("/sys/fs/cgroup")).resolve(parent.substring(1));
    }

    Path cpuDir() {
        for (String c : new String[] {"cpu,cpuacct", "cpu"}) {
            Path v1 = Path.of("/sys/fs/cgroup", c);
            if (Files.isDirectory(v1)) {
                return v1.resolve(parent.substring(1));
            }
        }
        return Path.of("/sys/fs/cgroup").resolve(parent.substring(1));
    }

    long memoryLimit() throws Exception {
        Path v1 = memoryDir().resolve("memory.limit_in_bytes");
        String v = Files.readString(Files.exists(v1) ? v1 : memoryDir().resolve("memory.max")).strip();
        return "max".equals(v) ? -1 : Long.parseLong(v);
    }

    static LinuxContainerResources resources(long memoryMiB, long cpuShares) {
        return LinuxContainerResources.newBuilder().setMemoryLimitInBytes(memoryMiB * MIB).setCpuShares(cpuShares).build();
    }

    RunPodSandboxRequest pod(String name) {
        return RunPodSandboxRequest.newBuilder().setConfig(PodSandboxConfig.newBuilder()
                .setMetadata(PodSandboxMetadata.newBuilder().setName(name).setNamespace("e2e").setUid("uid-" + name))
                .setHostname(name)
                .setLinux(LinuxPodSandboxConfig.newBuilder().setCgroupParent(parent)
                        .setResources(resources(256, 512))
                        .setOverhead(resources(16, 0))
                        .setSecurityContext(LinuxSandboxSecurityContext.newBuilder()
                                .setNamespaceOptions(NamespaceOption.newBuilder().setNetwork(NamespaceMode.NODE)))))
                .build();
    }

    String config(String id) {
        return berth.runtime().podSandboxStatus(PodSandboxStatusRequest.newBuilder().setPodSandboxId(id).setVerbose(true)
                .build()).getInfoOrThrow("info");
    }

    @Test
    void aResizeReachesThePodCgroupAndSurvivesARestart() throws Exception {
        berth = BerthProcess.start(dir);
        String id = berth.runtime().runPodSandbox(pod("resized")).getPodSandboxId();
        // the pod cgroup holds the pod's resources plus the sandbox overhead
        assertEquals((256 + 16) * MIB, memoryLimit());

        berth.runtime().updatePodSandboxResources(UpdatePodSandboxResourcesRequest.newBuilder().setPodSandboxId(id)
                .setResources(resources(512, 1024)).build());
        assertEquals((512 + 16) * MIB, memoryLimit(), "the overhead stays when only the resources change");
        assertEquals("1024", Files.readString(cpuDir().resolve("cpu.shares")).strip());

        berth.runtime().updatePodSandboxResources(UpdatePodSandboxResourcesRequest.newBuilder().setPodSandboxId(id)
                .setOverhead(resources(32, 0)).build());
        assertEquals((512 + 32) * MIB, memoryLimit());
        assertTrue(config(id).contains("\"memoryLimitBytes\":" + 512 * MIB), config(id));

        berth.kill();
        berth.restart();
        assertTrue(config(id).contains("\"memoryLimitBytes\":" + 512 * MIB), "kept across a SIGKILL: " + config(id));
        assertTrue(config(id).contains("\"memoryLimitBytes\":" + 32 * MIB), config(id));

        berth.runtime().removePodSandbox(RemovePodSandboxRequest.newBuilder().setPodSandboxId(id).build());
        assertFalse(Files.exists(memoryDir()), "the pod cgroup is gone with the sandbox");
    }

    @Test
    void unknownEmptyAndStoppedSandboxesAreRefusedWithTheirCodes() throws Exception {
        berth = BerthProcess.start(dir);
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> berth.runtime()
                .updatePodSandboxResources(UpdatePodSandboxResourcesRequest.newBuilder().setPodSandboxId("f00dfeed")
                        .setResources(resources(64, 0)).build()));
        assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode(), e.getMessage());
        e = assertThrows(StatusRuntimeException.class, () -> berth.runtime()
                .updatePodSandboxResources(UpdatePodSandboxResourcesRequest.getDefaultInstance()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.getMessage());

        String id = berth.runtime().runPodSandbox(pod("stopped")).getPodSandboxId();
        berth.runtime().stopPodSandbox(StopPodSandboxRequest.newBuilder().setPodSandboxId(id).build());
        e = assertThrows(StatusRuntimeException.class, () -> berth.runtime().updatePodSandboxResources(
                UpdatePodSandboxResourcesRequest.newBuilder().setPodSandboxId(id).setResources(resources(64, 0)).build()));
        assertEquals(Status.Code.FAILED_PRECONDITION, e.getStatus().getCode(), e.getMessage());
        assertEquals((256 + 16) * MIB, memoryLimit(), "a refused update changes nothing");
    }
}
