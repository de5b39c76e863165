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
}
