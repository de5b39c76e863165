package dev.berth.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.cri.v1.AuthConfig;
import dev.berth.cri.v1.CgroupDriver;
import dev.berth.cri.v1.CheckpointContainerRequest;
import dev.berth.cri.v1.ImageSpec;
import dev.berth.cri.v1.NetworkConfig;
import dev.berth.cri.v1.PullImageRequest;
import dev.berth.cri.v1.RuntimeCondition;
import dev.berth.cri.v1.RuntimeConfig;
import dev.berth.cri.v1.RuntimeConfigRequest;
import dev.berth.cri.v1.StatusRequest;
import dev.berth.cri.v1.StatusResponse;
import dev.berth.cri.v1.UpdateRuntimeConfigRequest;
import dev.berth.cri.v1.VersionRequest;
import dev.berth.cri.v1.VersionResponse;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The berth daemon as a process: serving, answering, refusing, stopping. */
@Tag("root")
class DaemonLifecycleTest {
    @TempDir
    Path dir;

    /** A config file whose CNI directory is the test's own, with berth's default network off. */
    private String ownCniConfig() throws Exception {
        Path config = dir.resolve("berth.toml");
        Files.writeString(config, "[network]\ncni_config_dir = \"" + dir.resolve("net.d") + "\"\ndefault_network = false\n");
        return config.toString();
    }

    @Test
    void servesVersionStatusAndRuntimeConfigThenStopsCleanlyOnSigterm() throws Exception {
        try (BerthProcess berth = BerthProcess.start(dir, "--config", ownCniConfig())) {
            VersionResponse v = berth.runtime().version(VersionRequest.getDefaultInstance());
            assertEquals("berth", v.getRuntimeName());
            assertEquals("v1", v.getRuntimeApiVersion());
            assertFalse(v.getRuntimeVersion().isEmpty());

            StatusResponse status = berth.runtime().status(StatusRequest.newBuilder().setVerbose(true).build());
            Map<String, RuntimeCondition> conditions = status.getStatus().getConditionsList().stream()
                    .collect(Collectors.toMap(RuntimeCondition::getType, c -> c));
            assertTrue(conditions.get("RuntimeReady").getStatus(), conditions.toString());
            RuntimeCondition network = conditions.get("NetworkReady");
            assertFalse(network.getStatus());
            assertFalse(network.getReason().isEmpty());
            assertFalse(network.getMessage().isEmpty());
            assertTrue(status.getInfoOrThrow("config").contains("\"cgroupDriver\":\"cgroupfs\""), status.getInfoMap().toString());
            assertTrue(status.getInfoOrThrow("config").contains("\"cgroupMode\":\"" + dev.berth.cgroups.CgroupLayout.detect().mode() + "\""),
                    status.getInfoMap().toString());
            assertEquals("", status.getRuntimeHandlers(0).getName());

            assertEquals(CgroupDriver.CGROUPFS,
                    berth.runtime().runtimeConfig(RuntimeConfigRequest.getDefaultInstance()).getLinux().getCgroupDriver());

            StatusRuntimeException unbuilt = assertThrows(StatusRuntimeException.class, () -> berth.runtime()
                    .checkpointContainer(CheckpointContainerRequest.newBuilder().setContainerId("x").build()));
            assertEquals(Status.Code.UNIMPLEMENTED, unbuilt.getStatus().getCode());

            assertTrue(Files.exists(berth.socket()));
            assertEquals(0, berth.stop(), berth.logText());
            assertFalse(Files.exists(berth.socket()), "the socket is removed on shutdown");
        }
    }

    @Test
    void networkReadyFollowsTheCniConfigDirectoryWithoutARestart() throws Exception {
        try (BerthProcess berth = BerthProcess.start(dir, "--config", ownCniConfig())) {
            RuntimeCondition before = networkReady(berth);
            assertFalse(before.getStatus());
            assertEquals("NetworkPluginNotReady", before.getReason());
            assertTrue(before.getMessage().contains(dir.resolve("net.d").toString()), before.getMessage());

            Files.createDirectories(dir.resolve("net.d"));
            Files.writeString(dir.resolve("net.d/10-missing.conflist"),
                    "{\"cniVersion\":\"1.0.0\",\"name\":\"m\",\"plugins\":[{\"type\":\"berth-no-such-plugin\"}]}");
            RuntimeCondition missing = networkReady(berth);
            assertFalse(missing.getStatus());
            assertTrue(missing.getMessage().contains("berth-no-such-plugin"), missing.getMessage());

            Files.writeString(dir.resolve("net.d/05-bridge.conflist"),
                    "{\"cniVersion\":\"1.0.0\",\"name\":\"b\",\"plugins\":[{\"type\":\"bridge\"},{\"type\":\"portmap\"}]}");
            RuntimeCondition ready = networkReady(berth);
            assertTrue(ready.getStatus(), ready.getMessage());
        }
    }

    private static RuntimeCondition networkReady(BerthProcess berth) {
        return berth.runtime().status(StatusRequest.getDefaultInstance()).getStatus().getConditionsList().stream()
                .filter(c -> c.getType().equals("NetworkReady")).findFirst().orElseThrow();
    }

    @Test
    void podCidrFromUpdateRuntimeConfigSurvivesARestartAndBadOnesAreRejected() throws Exception {
        try (BerthProcess berth = BerthProcess.start(dir)) {
            berth.runtime().updateRuntimeConfig(UpdateRuntimeConfigRequest.newBuilder()
                    .setRuntimeConfig(RuntimeConfig.newBuilder().setNetworkConfig(NetworkConfig.newBuilder().setPodCidr("10.244.3.0/24")))
                    .build());
            StatusRuntimeException bad = assertThrows(StatusRuntimeException.class, () -> berth.runtime()
                    .updateRuntimeConfig(UpdateRuntimeConfigRequest.newBuilder()
                            .setRuntimeConfig(RuntimeConfig.newBuilder().setNetworkConfig(NetworkConfig.newBuilder().setPodCidr("10.244.3.0/33")))
                            .build()));
            assertEquals(Status.Code.INVALID_ARGUMENT, bad.getStatus().getCode());
            assertTrue(bad.getStatus().getDescription().contains("10.244.3.0/33"));

            berth.kill();
            berth.restart();
            String info = berth.runtime().status(StatusRequest.newBuilder().setVerbose(true).build()).getInfoOrThrow("config");
            assertTrue(info.contains("\"podCidrs\":[\"10.244.3.0/24\"]"), info);
        }
    }

    @Test
    void debugLogNamesCallsButNeverTheSecretsOfAuthConfig() throws Exception {
        try (BerthProcess berth = BerthProcess.start(dir, "--log-level", "debug")) {
            try {
                berth.images().pullImage(PullImageRequest.newBuilder()
                        .setImage(ImageSpec.newBuilder().setImage("127.0.0.1:1/secret-test:latest"))
                        .setAuth(AuthConfig.newBuilder().setUsername("alice").setPassword("hunter2-password")
                                .setAuth("YWxpY2U6aHVudGVyMg==").setIdentityToken("id-token-secret").setRegistryToken("reg-token-secret"))
                        .build());
            } catch (StatusRuntimeException expected) {
                // whether the pull works is not this test's concern; the log line is
            }
            assertEquals(0, berth.stop());
            String log = berth.logText();
            assertTrue(log.contains("PullImage request"), log);
            assertTrue(log.contains("alice"), log);
            for (String secret : new String[] {"hunter2-password", "YWxpY2U6aHVudGVyMg==", "id-token-secret", "reg-token-secret"}) {
                assertFalse(log.contains(secret), "the log shows a secret: " + secret);
            }
        }
    }

    @Test
    void jsonLogsAreOneObjectPerLineAndSigintStopsCleanly() throws Exception {
        try (BerthProcess berth = BerthProcess.start(dir, "--log-format", "json")) {
            new ProcessBuilder("kill", "-INT", Long.toString(berth.pid())).start().waitFor();
            assertTrue(berth.process().waitFor(30, TimeUnit.SECONDS));
            assertEquals(0, berth.process().exitValue(), berth.logText());
            assertFalse(Files.exists(berth.socket()));
            var mapper = new com.fasterxml.jackson.databind.ObjectMapper();
            java.util.List<String> lines = berth.logText().lines().filter(l -> !l.isBlank()).toList();
            assertTrue(lines.size() >= 3, berth.logText());
            for (String line : lines) {
                var node = mapper.readTree(line);
                assertTrue(node.has("level") && node.has("formattedMessage"), line);
            }
            assertTrue(lines.stream().anyMatch(l -> l.contains("received SIGINT")), berth.logText());
        }
    }

    @Test
    void aStaleSocketIsReplacedAndALiveOneRefused() throws Exception {
        Path socket = dir.resolve("run/berth.sock");
        Files.createDirectories(socket.getParent());
        try (ServerSocketChannel dead = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            dead.bind(UnixDomainSocketAddress.of(socket));
        }
        assertTrue(Files.exists(socket), "a socket file left behind by a closed listener");
        try (BerthProcess berth = BerthProcess.start(dir)) {
            assertEquals("berth", berth.runtime().version(VersionRequest.getDefaultInstance()).getRuntimeName());

            Process second = new ProcessBuilder(BerthProcess.launcher().toString(), "daemon",
                    "--root", dir.resolve("root2").toString(), "--run-root", dir.resolve("run2").toString(),
                    "--socket", socket.toString(), "--metrics-address", "")
                    .redirectErrorStream(true).start();
            assertTrue(second.waitFor(60, TimeUnit.SECONDS));
            String out = new String(second.getInputStream().readAllBytes());
            assertEquals(1, second.exitValue(), out);
            assertTrue(out.contains("another process is serving " + socket), out);
            assertEquals("berth", berth.runtime().version(VersionRequest.getDefaultInstance()).getRuntimeName(),
                    "the first daemon still serves");
            assertFalse(Files.exists(dir.resolve("root2")), "the refused daemon made no state of its own");
        }
    }
}
