package dev.berth.images.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.common.BerthException;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import org.junit.jupiter.api.Test;

class PlatformAndCredentialsTest {
    @Test
    void platformMatchingIsVariantAware() {
        Platform amd64 = Platform.parse("linux/amd64");
        assertTrue(amd64.score(Platform.parse("linux/amd64")) > 0);
        assertTrue(amd64.score(Platform.parse("linux/arm64")) < 0);
        assertTrue(amd64.score(Platform.parse("windows/amd64")) < 0);

        Platform arm64 = Platform.parse("linux/arm64/v8");
        assertTrue(arm64.score(Platform.parse("linux/arm64")) > 0, "arm64 without a variant is v8");
        Platform armv7 = Platform.parse("linux/arm/v7");
        assertTrue(armv7.score(Platform.parse("linux/arm/v7")) > armv7.score(Platform.parse("linux/arm/v6")));
        assertTrue(armv7.score(Platform.parse("linux/arm/v6")) > 0, "v6 code runs on a v7 CPU");
        assertTrue(armv7.score(Platform.parse("linux/arm/v8")) < 0, "v8 code does not run on a v7 CPU");
        assertEquals("linux/amd64", Platform.host().os() + "/" + Platform.host().architecture());
    }

    @Test
    void credentialsFromAuthFieldAndRedaction() {
        String auth = Base64.getEncoder().encodeToString("bob:pa:ss".getBytes(StandardCharsets.UTF_8));
        Credentials c = Credentials.of("ignored", "ignored", auth, "", "");
        assertEquals("bob", c.username());
        assertEquals("pa:ss", c.password());
        assertFalse(c.toString().contains("pa:ss"));
        assertTrue(Credentials.of("", "", "", "", "").isEmpty());
        assertEquals(BerthException.Kind.INVALID_ARGUMENT,
                assertThrows(BerthException.class, () -> Credentials.of("", "", "!!notbase64", "", "")).kind());
        assertEquals(BerthException.Kind.INVALID_ARGUMENT,
                assertThrows(BerthException.class, () -> Credentials.of("", "", Base64.getEncoder().encodeToString("nocolon".getBytes()), "", "")).kind());
    }

    @Test
    void credentialFileKeysMayBeUrls() {
        assertEquals("index.docker.io", CredentialStore.hostOf("https://index.docker.io/v1/"));
        assertEquals("reg:5000", CredentialStore.hostOf("http://reg:5000"));
        assertEquals("reg:5000", CredentialStore.hostOf("reg:5000/some/path"));
        assertEquals("reg.example", CredentialStore.hostOf("reg.example"));
    }
}
