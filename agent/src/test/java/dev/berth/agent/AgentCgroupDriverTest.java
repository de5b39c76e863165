package dev.berth.agent;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.agent.cri.CriClient;
import dev.berth.cri.v1.CgroupDriver;
import dev.berth.cri.v1.LinuxRuntimeConfiguration;
import dev.berth.cri.v1.RuntimeConfigRequest;
import dev.berth.cri.v1.RuntimeConfigResponse;
import dev.berth.cri.v1.RuntimeServiceGrpc;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/** The agent's cgroups per QoS class are cgroupfs paths: a runtime on the systemd driver is refused at start. */
class AgentCgroupDriverTest {
    private static void withRuntime(CgroupDriver driver, java.util.function.Consumer<CriClient> body) throws Exception {
        String name = "driver-" + UUID.randomUUID();
        Server server = InProcessServerBuilder.forName(name).directExecutor().addService(new RuntimeServiceGrpc.RuntimeServiceImplBase() {
            @Override
            public void runtimeConfig(RuntimeConfigRequest r, StreamObserver<RuntimeConfigResponse> out) {
                if (driver == null) {
                    super.runtimeConfig(r, out); // UNIMPLEMENTED
                    return;
                }
                out.onNext(RuntimeConfigResponse.newBuilder().setLinux(LinuxRuntimeConfiguration.newBuilder().setCgroupDriver(driver)).build());
                out.onCompleted();
            }
        }).build().start();
        ManagedChannel channel = InProcessChannelBuilder.forName(name).directExecutor().build();
        try {
            body.accept(new CriClient(channel, Duration.ofSeconds(10), Duration.ofSeconds(10)));
        } finally {
            channel.shutdownNow();
            server.shutdownNow();
        }
    }

    @Test
    void aSystemdRuntimeIsRefusedACgroupfsOneOrOneThatDoesNotSayIsTaken() throws Exception {
        withRuntime(CgroupDriver.SYSTEMD, cri -> {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> Agent.requireCgroupfs(cri));
            assertTrue(e.getMessage().contains("cgroups_per_qos = false"), e.getMessage());
        });
        withRuntime(CgroupDriver.CGROUPFS, cri -> assertDoesNotThrow(() -> Agent.requireCgroupfs(cri)));
        withRuntime(null, cri -> assertDoesNotThrow(() -> Agent.requireCgroupfs(cri)));
    }
}
