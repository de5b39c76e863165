package dev.berth.cli.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.berth.cri.v1.ContainerConfig;
import dev.berth.cri.v1.ContainerMetadata;
import dev.berth.cri.v1.CreateContainerRequest;
import dev.berth.cri.v1.ImageSpec;
import dev.berth.cri.v1.PodSandboxConfig;
import dev.berth.cri.v1.PodSandboxMetadata;
import dev.berth.cri.v1.RunPodSandboxRequest;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

class WarmupTest {
    /** Every unary call the scenario makes; the fake must answer each of them in every round. */
    private static final List<String> CALLS = List.of("Version", "Status", "ListPodSandbox", "ListContainers", "ListImages", "ImageStatus",
            "PodSandboxStatus", "ContainerStatus", "ContainerStats", "ListContainerStats", "PullImage", "RemoveImage", "RunPodSandbox",
            "CreateContainer", "StartContainer", "ExecSync", "Exec", "PortForward", "StopContainer", "RemoveContainer", "StopPodSandbox",
            "RemovePodSandbox");

    @Test
    void theClientIsWarmedOnTheFakeRuntimeWithEveryCallOfTheScenarioInEachRound() throws Exception {
        PodSandboxConfig pod = PodSandboxConfig.newBuilder().setMetadata(PodSandboxMetadata.newBuilder().setName("p").setUid("u").setNamespace("n"))
                .putLabels(Scenario.LABEL, "test").build();
        CreateContainerRequest create = CreateContainerRequest.newBuilder().setSandboxConfig(pod).setConfig(ContainerConfig.newBuilder()
                .setMetadata(ContainerMetadata.newBuilder().setName("sleep")).setImage(ImageSpec.newBuilder().setImage("registry.invalid/x:1"))
                .addCommand("sleep")).build();

        Map<String, Integer> served = Warmup.againstFake(7, RunPodSandboxRequest.newBuilder().setConfig(pod).build(), create, 10);

        Map<String, Integer> expected = new TreeMap<>();
        CALLS.forEach(c -> expected.put(c, 7));
        assertEquals(expected, served);
    }

    @Test
    void noRoundsNoCalls() throws Exception {
        assertEquals(Map.of(), Warmup.againstFake(0, RunPodSandboxRequest.getDefaultInstance(), CreateContainerRequest.getDefaultInstance(), 10));
    }
}
