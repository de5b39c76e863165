package dev.berth.criserver.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.common.BerthException;
import dev.berth.cri.v1.ImageServiceGrpc;
import dev.berth.cri.v1.ListImagesRequest;
import dev.berth.cri.v1.ListPodSandboxRequest;
import dev.berth.cri.v1.RemoveContainerRequest;
import dev.berth.cri.v1.RuntimeServiceGrpc;
import dev.berth.cri.v1.StreamContainersRequest;
import dev.berth.cri.v1.VersionRequest;
import dev.berth.cri.v1.VersionResponse;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class CriRegistryTest {
    private Server server;
    private ManagedChannel channel;

    @BeforeEach
    void start() throws Exception {
        CriRegistry registry = new CriRegistry()
                .unary(RuntimeServiceGrpc.getVersionMethod(), r -> VersionResponse.newBuilder().setRuntimeName("berth").build())
                .unary(RuntimeServiceGrpc.getRemoveContainerMethod(), r -> {
                    throw BerthException.notFound("container %s not found", r.getContainerId());
                })
                .unary(RuntimeServiceGrpc.getListPodSandboxMethod(), r -> {
                    throw new IllegalStateException("a bug");
                });
        String name = InProcessServerBuilder.generateName();
        server = InProcessServerBuilder.forName(name).directExecutor()
                .addService(ServerInterceptors.intercept(registry.runtimeService(), new CallLogging()))
                .addService(registry.imageService())
                .build().start();
        channel = InProcessChannelBuilder.forName(name).directExecutor().build();
    }

    @AfterEach
    void stop() {
        channel.shutdownNow();
        server.shutdownNow();
    }

    @Test
    void registeredMethodsAnswer() {
        assertEquals("berth", RuntimeServiceGrpc.newBlockingStub(channel).version(VersionRequest.getDefaultInstance()).getRuntimeName());
    }

    @Test
    void unregisteredMethodsOfBothServicesAreUnimplemented() {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                () -> ImageServiceGrpc.newBlockingStub(channel).listImages(ListImagesRequest.getDefaultInstance()));
        assertEquals(Status.Code.UNIMPLEMENTED, e.getStatus().getCode());
        StatusRuntimeException streaming = assertThrows(StatusRuntimeException.class,
                () -> RuntimeServiceGrpc.newBlockingStub(channel).streamContainers(StreamContainersRequest.getDefaultInstance()).hasNext());
        assertEquals(Status.Code.UNIMPLEMENTED, streaming.getStatus().getCode());
    }

    @Test
    void domainErrorsBecomeTheirStatusCodeWithTheMessage() {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> RuntimeServiceGrpc.newBlockingStub(channel)
                .removeContainer(RemoveContainerRequest.newBuilder().setContainerId("abc").build()));
        assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
        assertEquals("container abc not found", e.getStatus().getDescription());
    }

    @Test
    void unexpectedErrorsAreInternalNotACrash() {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> RuntimeServiceGrpc.newBlockingStub(channel)
                .listPodSandbox(ListPodSandboxRequest.getDefaultInstance()));
        assertEquals(Status.Code.INTERNAL, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().contains("a bug"));
    }

    @Test
    void aMethodCannotBeRegisteredTwice() {
        CriRegistry r = new CriRegistry().unary(RuntimeServiceGrpc.getVersionMethod(), q -> VersionResponse.getDefaultInstance());
        assertThrows(IllegalStateException.class,
                () -> r.unary(RuntimeServiceGrpc.getVersionMethod(), q -> VersionResponse.getDefaultInstance()));
    }
}
