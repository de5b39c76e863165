package dev.berth.agent.pod;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.cri.v1.AuthConfig;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.List;
import org.junit.jupiter.api.Test;

class PullSecretsTest {
    private static String b64(String s) {
        return Base64.getEncoder().encodeToString(s.getBytes(StandardCharsets.UTF_8));
    }

    private static Secret dockerConfigJson(String auths) {
        return new SecretBuilder().withNewMetadata().withName("regcred").endMetadata().withType("kubernetes.io/dockerconfigjson")
                .addToData(".dockerconfigjson", b64("{\"auths\":" + auths + "}")).build();
    }

    @Test
    void imagesNameTheirRegistryAndRepositoryAsTheKubeletReadsThem() {
        assertArrayEquals(new String[] {"docker.io", "library/busybox"}, PullSecrets.registryAndRepository("busybox:1.36"));
        assertArrayEquals(new String[] {"docker.io", "team/app"}, PullSecrets.registryAndRepository("index.docker.io/team/app"));
        assertArrayEquals(new String[] {"registry.example:5000", "team/app"},
                PullSecrets.registryAndRepository("registry.example:5000/team/app@sha256:abc"));
        assertArrayEquals(new String[] {"localhost", "app"}, PullSecrets.registryAndRepository("localhost/app:1"));
    }

    @Test
    void entriesMatchByHostPathPrefixAndOneLabelWildcards() {
        assertTrue(PullSecrets.matches("https://registry.example:5000/v2/", "registry.example:5000", "team/app"));
        assertTrue(PullSecrets.matches("registry.example:5000/team", "registry.example:5000", "team/app"));
        assertFalse(PullSecrets.matches("registry.example:5000/tea", "registry.example:5000", "team/app"), "a path is a whole prefix");
        assertFalse(PullSecrets.matches("registry.example", "registry.example:5000", "team/app"), "ports must agree");
        assertTrue(PullSecrets.matches("https://index.docker.io/v1/", "docker.io", "library/busybox"));
        assertTrue(PullSecrets.matches("*.example", "eu.example", "app"));
        assertFalse(PullSecrets.matches("*.example", "a.eu.example", "app"), "the wildcard is one label");
        assertFalse(PullSecrets.matches("evil.example", "registry.example", "app"));
    }

    @Test
    void credentialsComeFromUsernameAndPasswordOrAuthOnlyForTheirRegistry() {
        Secret one = dockerConfigJson("{\"registry.example\":{\"auth\":\"" + b64("alice:s3cret:with:colons") + "\"},"
                + "\"other.example\":{\"username\":\"bob\",\"password\":\"pw\"}}");
        Secret legacy = new SecretBuilder().withNewMetadata().withName("old").endMetadata().withType("kubernetes.io/dockercfg")
                .addToData(".dockercfg", b64("{\"registry.example\":{\"username\":\"carol\",\"password\":\"pw2\"}}")).build();
        Secret garbage = new SecretBuilder().withNewMetadata().withName("bad").endMetadata().withType("kubernetes.io/dockerconfigjson")
                .addToData(".dockerconfigjson", "not base64 !").build();
        List<AuthConfig> auths = PullSecrets.credentials("registry.example/app:1", List.of(garbage, one, legacy));
        assertEquals(2, auths.size(), auths.toString());
        assertEquals("alice", auths.get(0).getUsername());
        assertEquals("s3cret:with:colons", auths.get(0).getPassword());
        assertEquals("registry.example", auths.get(0).getServerAddress());
        assertEquals("carol", auths.get(1).getUsername());
        assertEquals(List.of(), PullSecrets.credentials("third.example/app:1", List.of(one, legacy)),
                "no credential goes to a registry it does not name");
    }
}
