package dev.berth.images.reference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.common.BerthException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class ReferenceTest {
    private static final String D = "sha256:" + "ab".repeat(32);

    @ParameterizedTest
    @CsvSource({
            "busybox, docker.io/library/busybox:latest",
            "busybox:1.36, docker.io/library/busybox:1.36",
            "library/busybox, docker.io/library/busybox:latest",
            "docker.io/busybox, docker.io/library/busybox:latest",
            "index.docker.io/library/busybox:1, docker.io/library/busybox:1",
            "kube/pause:3.9, docker.io/kube/pause:3.9",
            "registry.k8s.io/pause:3.9, registry.k8s.io/pause:3.9",
            "localhost/app, localhost/app:latest",
            "127.0.0.1:5000/ns/sub/app:v1.2_3, 127.0.0.1:5000/ns/sub/app:v1.2_3",
            "Host.Example:443/a/b, Host.Example:443/a/b:latest",
            "[::1]:5000/app:x, [::1]:5000/app:x",
            "a__b/c-d.e_f, docker.io/a__b/c-d.e_f:latest",
    })
    void normalisesLikeTheEcosystem(String input, String expected) {
        assertEquals(expected, Reference.parse(input).toString());
    }

    @Test
    void keepsDigestAndTag() {
        Reference r = Reference.parse("busybox@" + D);
        assertNull(r.tag());
        assertEquals(D, r.digest().toString());
        assertEquals("docker.io/library/busybox@" + D, r.toString());
        assertEquals(D, r.manifestReference());

        Reference both = Reference.parse("host:5000/app:1.0@" + D);
        assertEquals("1.0", both.tag());
        assertEquals("host:5000", both.registry());
        assertEquals("app", both.repository());
        assertEquals(D, both.manifestReference());
        assertEquals("host:5000/app:1.0", both.tagged());
        assertEquals("host:5000/app@" + D, both.digested());
    }

    @Test
    void dockerHubApiHost() {
        assertEquals("registry-1.docker.io", Reference.parse("busybox").apiHost());
        assertEquals("quay.io", Reference.parse("quay.io/x/y").apiHost());
    }

    @ParameterizedTest
    @ValueSource(strings = {"", " busybox", "bus box", "Busybox", "docker.io/Library/busybox", "busybox:", "busybox:-x",
            "busybox:" + "t", "a//b", "/busybox", "busybox/", "busybox@sha256:abc", "busybox@md5:" + "00",
            "host:99999/app", "-host.io/app", "a-/b", "app@", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "busybox:a@b@c"})
    void rejectsInvalidReferencesWithAReason(String input) {
        if (input.equals("busybox:t")) {
            assertEquals("docker.io/library/busybox:t", Reference.parse(input).toString());
            return;
        }
        BerthException e = assertThrows(BerthException.class, () -> Reference.parse(input));
        assertEquals(BerthException.Kind.INVALID_ARGUMENT, e.kind());
        assertTrue(e.getMessage().contains("image reference") || e.getMessage().contains("digest"), e.getMessage());
    }

    @Test
    void rejectsOverlongTags() {
        BerthException e = assertThrows(BerthException.class, () -> Reference.parse("busybox:" + "a".repeat(129)));
        assertTrue(e.getMessage().contains("invalid tag"), e.getMessage());
    }

    @Test
    void digestValidation() {
        assertEquals("sha256", Digest.parse(D).algorithm());
        assertThrows(BerthException.class, () -> Digest.parse("sha256:" + "AB".repeat(32)));
        assertThrows(BerthException.class, () -> Digest.parse("sha256"));
        assertEquals("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", Digest.sha256(new byte[0]).toString());
    }
}
