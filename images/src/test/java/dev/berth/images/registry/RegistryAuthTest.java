package dev.berth.images.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.common.BerthException;
import dev.berth.images.reference.Reference;
import dev.berth.images.testing.RegistryFixture;
import dev.berth.images.testing.RegistryProxy;
import dev.berth.images.testing.TestImage;
import dev.berth.images.testing.TestLayer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Anonymous, Basic (a real registry with htpasswd) and Bearer (a token endpoint in front of a real registry) authentication. */
@Tag("root")
class RegistryAuthTest {
    @TempDir
    static Path dir;
    static RegistryFixture basic;
    static RegistryFixture open;
    static TestImage.Pushed pushed;

    @BeforeAll
    static void start() throws Exception {
        basic = RegistryFixture.start(dir.resolve("basic"), "alice", "s3cret-pw");
        open = RegistryFixture.start(dir.resolve("open"));
        TestLayer.Built l = TestLayer.create().file("hello", "world").build(TestLayer.Compression.GZIP);
        pushed = TestImage.of(l).push(basic.pusher(), "private/app", "v1");
        TestImage.of(l).push(open.pusher(), "private/app", "v1");
    }

    @AfterAll
    static void stop() throws InterruptedException {
        if (basic != null) {
            basic.close();
        }
        if (open != null) {
            open.close();
        }
    }

    static RegistryClient client() {
        return new RegistryClient(new RegistryHosts(Duration.ofSeconds(5)),
                new RegistryClient.Settings(Duration.ofSeconds(10), 2, Duration.ofMillis(20), Platform.parse("linux/amd64")));
    }

    @Test
    void basicAuthNeedsTheRightCredentials() {
        Reference ref = Reference.parse(basic.host() + "/private/app:v1");
        BerthException anonymous = assertThrows(BerthException.class, () -> client().resolve(ref, Credentials.NONE));
        assertEquals(BerthException.Kind.UNAUTHENTICATED, anonymous.kind());
        assertTrue(anonymous.getMessage().contains("401") && anonymous.getMessage().contains(basic.host()), anonymous.getMessage());

        BerthException wrong = assertThrows(BerthException.class,
                () -> client().resolve(ref, Credentials.of("alice", "wrong", "", "", "")));
        assertEquals(BerthException.Kind.UNAUTHENTICATED, wrong.kind());
        assertFalse(wrong.getMessage().contains("wrong"), "no secret in messages");

        RegistryClient.Resolved r = client().resolve(ref, Credentials.of("alice", "s3cret-pw", "", "", ""));
        assertEquals(pushed.manifestDigest(), r.manifest().digest().toString());
        // the auth field (base64 user:password) as a CRI AuthConfig carries it
        String auth = Base64.getEncoder().encodeToString("alice:s3cret-pw".getBytes(StandardCharsets.UTF_8));
        assertEquals(pushed.manifestDigest(), client().resolve(ref, Credentials.of("", "", auth, "", "")).manifest().digest().toString());
    }

    @Test
    void credentialsComeFromADockerConfigFile() throws Exception {
        Path file = dir.resolve("config.json");
        String auth = Base64.getEncoder().encodeToString("alice:s3cret-pw".getBytes(StandardCharsets.UTF_8));
        Files.writeString(file, "{\"auths\":{\"http://" + basic.host() + "\":{\"auth\":\"" + auth + "\"}}}");
        CredentialStore store = new CredentialStore(file);
        Credentials c = store.lookup(basic.host());
        assertEquals("alice", c.username());
        assertFalse(c.toString().contains("s3cret"));
        Reference ref = Reference.parse(basic.host() + "/private/app:v1");
        assertEquals(pushed.manifestDigest(), client().resolve(ref, c).manifest().digest().toString());
        assertTrue(store.lookup("other.example").isEmpty());
        Files.writeString(file, "{not json");
        BerthException e = assertThrows(BerthException.class, () -> store.lookup(basic.host()));
        assertEquals(BerthException.Kind.FAILED_PRECONDITION, e.kind());
    }

    @Test
    void bearerTokensAreFetchedFromTheChallengeRealmAndCached() throws Exception {
        try (RegistryProxy proxy = new RegistryProxy(open.url())) {
            proxy.requireBearer("bob", "token-pw");
            Reference ref = Reference.parse(proxy.host() + "/private/app:v1");

            BerthException anonymous = assertThrows(BerthException.class, () -> client().resolve(ref, Credentials.NONE));
            assertEquals(BerthException.Kind.UNAUTHENTICATED, anonymous.kind(), anonymous.getMessage());

            RegistryClient c = client();
            Credentials bob = Credentials.of("bob", "token-pw", "", "", "");
            RegistryClient.Resolved r = c.resolve(ref, bob);
            assertEquals(pushed.manifestDigest(), r.manifest().digest().toString());
            int tokens = proxy.tokenRequests.get();
            try (var in = c.openBlob(ref, r.manifest().json().path("layers").get(0).isObject()
                    ? dev.berth.images.content.Descriptor.fromJson(r.manifest().json().path("layers").get(0), "test") : null, bob)) {
                assertTrue(in.readAllBytes().length > 0);
            }
            c.resolve(ref, bob);
            assertEquals(tokens, proxy.tokenRequests.get(), "the token is reused until it expires");

            // a registry token from the CRI AuthConfig is used as is
            proxy.requireBearer("bob", "token-pw");
            BerthException stale = assertThrows(BerthException.class, () -> client().resolve(ref, new Credentials("", "", "", "not-the-token")));
            assertEquals(BerthException.Kind.UNAUTHENTICATED, stale.kind());
        }
    }
}
