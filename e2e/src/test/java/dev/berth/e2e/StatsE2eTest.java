package dev.berth.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.cri.v1.ContainerStats;
import dev.berth.cri.v1.ContainerStatsRequest;
import dev.berth.cri.v1.CreateContainerRequest;
import dev.berth.cri.v1.ListContainerStatsRequest;
import dev.berth.cri.v1.ListMetricDescriptorsRequest;
import dev.berth.cri.v1.ListPodSandboxStatsRequest;
import dev.berth.cri.v1.NetworkInterfaceUsage;
import dev.berth.cri.v1.PodSandboxStats;
import dev.berth.cri.v1.PodSandboxStatsRequest;
import dev.berth.cri.v1.StartContainerRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Container and pod stats through the real daemon, for a container that burns CPU and writes to its layer. */
@Tag("root")
class StatsE2eTest {
    @TempDir
    Path dir;

    final ContainerE2eTest containers = new ContainerE2eTest();

    @AfterEach
    void cleanUp() throws Exception {
        containers.cleanUp();
    }

    @Test
    void statsMoveForABusyContainerAndThePodReportsItsInterface() throws Exception {
        containers.dir = dir;
        containers.berth = BerthProcess.start(dir.resolve("berth"));
        BerthProcess berth = containers.berth;
        containers.importBusybox();
        String pod = berth.runtime().runPodSandbox(ContainerE2eTest.pod("stats", dir.resolve("logs"))).getPodSandboxId();
        CreateContainerRequest busy = ContainerE2eTest.request(pod, "busy", "busy/0.log");
        busy = busy.toBuilder().setConfig(busy.getConfig().toBuilder().clearArgs().addArgs("-c")
                .addArgs("busybox dd if=/dev/zero of=/fill bs=1024 count=2048; while :; do :; done")).build();
        String id = berth.runtime().createContainer(busy).getContainerId();
        berth.runtime().startContainer(StartContainerRequest.newBuilder().setContainerId(id).build());

        ContainerStats first = berth.runtime().containerStats(ContainerStatsRequest.newBuilder().setContainerId(id).build()).getStats();
        Thread.sleep(1500);
        ContainerStats second = berth.runtime().containerStats(ContainerStatsRequest.newBuilder().setContainerId(id).build()).getStats();
        assertEquals(id, second.getAttributes().getId());
        assertEquals("busy", second.getAttributes().getMetadata().getName());
        assertTrue(second.getCpu().getUsageCoreNanoSeconds().getValue() > first.getCpu().getUsageCoreNanoSeconds().getValue(),
                "CPU time grows: " + first.getCpu() + " -> " + second.getCpu());
        assertTrue(second.getCpu().getUsageNanoCores().getValue() > 100_000_000L, "a busy loop uses over 0.1 core: " + second.getCpu());
        assertTrue(second.getMemory().getWorkingSetBytes().getValue() > 0, second.getMemory().toString());
        // dd runs before the busy loop; on a loaded machine it may not have written all 2 MiB by the second sample
        ContainerStats layer = second;
        for (long end = System.nanoTime() + 15_000_000_000L; layer.getWritableLayer().getUsedBytes().getValue() < 2 * 1024 * 1024
                && System.nanoTime() < end; ) {
            Thread.sleep(200);
            layer = berth.runtime().containerStats(ContainerStatsRequest.newBuilder().setContainerId(id).build()).getStats();
        }
        assertTrue(layer.getWritableLayer().getUsedBytes().getValue() >= 2 * 1024 * 1024,
                "the 2 MiB file is in the writable layer: " + layer.getWritableLayer());

        assertTrue(berth.runtime().listContainerStats(ListContainerStatsRequest.getDefaultInstance()).getStatsList().stream()
                .anyMatch(s -> s.getAttributes().getId().equals(id)));
        PodSandboxStats podStats = berth.runtime().podSandboxStats(PodSandboxStatsRequest.newBuilder().setPodSandboxId(pod).build()).getStats();
        assertEquals(pod, podStats.getAttributes().getId());
        NetworkInterfaceUsage eth0 = podStats.getLinux().getNetwork().getDefaultInterface();
        assertEquals("eth0", eth0.getName(), podStats.getLinux().getNetwork().toString());
        assertTrue(podStats.getLinux().getContainersList().stream().anyMatch(c -> c.getAttributes().getId().equals(id)));
        assertEquals(1, berth.runtime().listPodSandboxStats(ListPodSandboxStatsRequest.getDefaultInstance()).getStatsCount());
        assertTrue(berth.runtime().listMetricDescriptors(ListMetricDescriptorsRequest.getDefaultInstance()).getDescriptorsList()
                .stream().anyMatch(d -> d.getName().equals("container_cpu_usage_seconds_total")));

        StatusRuntimeException unknown = org.junit.jupiter.api.Assertions.assertThrows(StatusRuntimeException.class,
                () -> berth.runtime().containerStats(ContainerStatsRequest.newBuilder().setContainerId("nope").build()));
        assertEquals(Status.Code.NOT_FOUND, unknown.getStatus().getCode());
    }
}
