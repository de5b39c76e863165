package dev.berth.criserver.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.cri.v1.AuthConfig;
import dev.berth.cri.v1.ImageSpec;
import dev.berth.cri.v1.PullImageRequest;
import org.junit.jupiter.api.Test;

class RedactionTest {
    @Test
    void secretsOfAuthConfigNeverAppearButTheRestDoes() {
        PullImageRequest request = PullImageRequest.newBuilder()
                .setImage(ImageSpec.newBuilder().setImage("registry.local/app:1"))
                .setAuth(AuthConfig.newBuilder().setUsername("alice").setPassword("s3cret-pw").setAuth("YWxpY2U6czNjcmV0")
                        .setServerAddress("registry.local").setIdentityToken("idtok").setRegistryToken("regtok"))
                .build();
        String text = Redaction.render(request);
        for (String secret : new String[] {"s3cret-pw", "YWxpY2U6czNjcmV0", "idtok", "regtok"}) {
            assertFalse(text.contains(secret), text);
        }
        assertTrue(text.contains("alice"), text);
        assertTrue(text.contains("registry.local/app:1"), text);
        assertTrue(text.contains(Redaction.MASK), text);
    }

    @Test
    void messagesWithoutSecretsAreRenderedUnchanged() {
        ImageSpec spec = ImageSpec.newBuilder().setImage("busybox").build();
        assertEquals(spec, Redaction.redact(spec));
        assertTrue(Redaction.render(spec).contains("busybox"));
    }

    @Test
    void environmentValuesOfCreateContainerAreMaskedButNamesAndTheRestRemain() {
        dev.berth.cri.v1.CreateContainerRequest request = dev.berth.cri.v1.CreateContainerRequest.newBuilder()
                .setPodSandboxId("pod-1")
                .setConfig(dev.berth.cri.v1.ContainerConfig.newBuilder()
                        .setMetadata(dev.berth.cri.v1.ContainerMetadata.newBuilder().setName("app"))
                        .setImage(ImageSpec.newBuilder().setImage("busybox"))
                        .addCommand("/bin/server").addArgs("--port=80")
                        .addEnvs(dev.berth.cri.v1.KeyValue.newBuilder().setKey("SECRET").setValue(com.google.protobuf.ByteString.copyFromUtf8("hunter2")))
                        .addEnvs(dev.berth.cri.v1.KeyValue.newBuilder().setKey("DB_URL").setValue(com.google.protobuf.ByteString.copyFromUtf8("postgres://u:pw42@db")))
                        .putLabels("team", "blue").putAnnotations("note", "kept"))
                .build();
        String text = Redaction.render(request);
        assertFalse(text.contains("hunter2"), text);
        assertFalse(text.contains("pw42"), text);
        for (String kept : new String[] {"SECRET", "DB_URL", "/bin/server", "--port=80", "team", "blue", "note", "kept", "pod-1"}) {
            assertTrue(text.contains(kept), kept + " in " + text);
        }
        assertEquals("hunter2", request.getConfig().getEnvs(0).getValue().toStringUtf8(), "the request itself is untouched");
    }

    @Test
    void theDebugLogOfACreateContainerCallHoldsNoEnvValue() throws Exception {
        ch.qos.logback.classic.Logger log = (ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger("dev.berth.criserver.cri");
        ch.qos.logback.core.read.ListAppender<ch.qos.logback.classic.spi.ILoggingEvent> seen = new ch.qos.logback.core.read.ListAppender<>();
        seen.start();
        ch.qos.logback.classic.Level before = log.getLevel();
        log.setLevel(ch.qos.logback.classic.Level.DEBUG);
        log.addAppender(seen);
        String name = io.grpc.inprocess.InProcessServerBuilder.generateName();
        CriRegistry registry = new CriRegistry().unary(dev.berth.cri.v1.RuntimeServiceGrpc.getCreateContainerMethod(),
                r -> dev.berth.cri.v1.CreateContainerResponse.newBuilder().setContainerId("c1").build());
        io.grpc.Server server = io.grpc.inprocess.InProcessServerBuilder.forName(name).directExecutor()
                .addService(io.grpc.ServerInterceptors.intercept(registry.runtimeService(), new CallLogging())).build().start();
        io.grpc.ManagedChannel channel = io.grpc.inprocess.InProcessChannelBuilder.forName(name).directExecutor().build();
        try {
            dev.berth.cri.v1.RuntimeServiceGrpc.newBlockingStub(channel).createContainer(dev.berth.cri.v1.CreateContainerRequest
                    .newBuilder().setConfig(dev.berth.cri.v1.ContainerConfig.newBuilder()
                            .addEnvs(dev.berth.cri.v1.KeyValue.newBuilder().setKey("SECRET").setValue(com.google.protobuf.ByteString.copyFromUtf8("hunter2")))).build());
        } finally {
            channel.shutdownNow();
            server.shutdownNow();
            log.detachAppender(seen);
            log.setLevel(before);
        }
        String all = seen.list.stream().map(ch.qos.logback.classic.spi.ILoggingEvent::getFormattedMessage)
                .collect(java.util.stream.Collectors.joining("\n"));
        assertTrue(all.contains("CreateContainer request") && all.contains("SECRET"), all);
        assertFalse(all.contains("hunter2"), all);
    }
}
