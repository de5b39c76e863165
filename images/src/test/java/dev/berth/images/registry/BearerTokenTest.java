package dev.berth.images.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.common.BerthException;
import dev.berth.images.content.Descriptor;
import dev.berth.images.reference.Reference;
import dev.berth.images.testing.RegistryFixture;
import dev.berth.images.testing.RegistryProxy;
import dev.berth.images.testing.TestImage;
import dev.berth.images.testing.TestLayer;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Bearer token authentication against a token endpoint in front of a real registry: tokens
 * come from the challenge's realm, are asked for per repository, cached until they expire (by
 * a clock the test moves), and the endpoint's refusals become Unauthenticated or PermissionDenied.
 */
@Tag("root")
class BearerTokenTest {
    @TempDir
    static Path dir;
    static RegistryFixture registry;
    static TestImage.Pushed app;
    static TestImage.Pushed tool;

    RegistryProxy proxy;
    final AtomicLong now = new AtomicLong(1_000_000_000L);

    @BeforeAll
    static void start() throws Exception {
        registry = RegistryFixture.start(dir);
        app = TestImage.of(TestLayer.create().file("a", "app").build(TestLayer.Compression.GZIP)).push(registry.pusher(), "team/app", "v1");
        tool = TestImage.of(TestLayer.create().file("t", "tool").build(TestLayer.Compression.GZIP)).push(registry.pusher(), "team/tool", "v1");
    }

    @AfterAll
    static void stop() throws InterruptedException {
        if (registry != null) {
            registry.close();
        }
    }

    @BeforeEach
    void front() throws Exception {
        proxy = new RegistryProxy(registry.url());
        proxy.requireBearer("bob", "token-pw");
    }

    @AfterEach
    void close() {
        proxy.close();
    }

    RegistryClient client() {
        return new RegistryClient(new RegistryHosts(Duration.ofSeconds(5)),
                new RegistryClient.Settings(Duration.ofSeconds(10), 2, Duration.ofMillis(20), Platform.parse("linux/amd64")), now::get);
    }

    Reference ref(String repo) {
        return Reference.parse(proxy.host() + "/" + repo + ":v1");
    }

    static final Credentials BOB = Credentials.of("bob", "token-pw", "", "", "");

    void advance(Duration d) {
        now.addAndGet(d.toNanos());
    }

    /** Resolves and reads the first layer: manifest and blob requests both carry the token. */
    static void pull(RegistryClient c, Reference ref, Credentials creds, TestImage.Pushed expected) throws Exception {
        RegistryClient.Resolved r = c.resolve(ref, creds);
        assertEquals(expected.manifestDigest(), r.manifest().digest().toString());
        try (InputStream in = c.openBlob(ref, Descriptor.fromJson(r.manifest().json().path("layers").get(0), "test"), creds)) {
            assertEquals(expected.layers().get(0).blob().length, in.readAllBytes().length);
        }
    }

    @Test
    void aTokenIsAskedForPerRepositoryAndReusedUntilItExpires() throws Exception {
        proxy.expiresIn(120L);
        RegistryClient c = client();
        pull(c, ref("team/app"), BOB, app);
        assertEquals(1, proxy.tokenRequests.get());
        String query = proxy.tokenQueries.get(0);
        assertTrue(query.contains("service=berth-test") && query.contains("scope=repository%3Ateam%2Fapp%3Apull"), query);
        String basic = "Basic " + Base64.getEncoder().encodeToString("bob:token-pw".getBytes(StandardCharsets.UTF_8));
        assertEquals(basic, proxy.tokenAuthorizations.get(0), "the credentials go to the realm as Basic authentication");

        pull(c, ref("team/app"), BOB, app);
        assertEquals(1, proxy.tokenRequests.get(), "the token is reused");

        pull(c, ref("team/tool"), BOB, tool);
        assertEquals(2, proxy.tokenRequests.get(), "another repository needs its own token");
        assertTrue(proxy.tokenQueries.get(1).contains("scope=repository%3Ateam%2Ftool%3Apull"), proxy.tokenQueries.get(1));

        advance(Duration.ofSeconds(100));
        pull(c, ref("team/app"), BOB, app);
        assertEquals(2, proxy.tokenRequests.get(), "still valid after 100 of its 120 s");

        advance(Duration.ofSeconds(21));
        pull(c, ref("team/app"), BOB, app);
        assertEquals(3, proxy.tokenRequests.get(), "renewed once expired");
        assertTrue(proxy.tokenQueries.get(2).contains("team%2Fapp"), proxy.tokenQueries.get(2));
    }

    @Test
    void aTokenWithoutExpiresInLastsSixtySeconds() throws Exception {
        proxy.expiresIn(null);
        RegistryClient c = client();
        pull(c, ref("team/app"), BOB, app);
        advance(Duration.ofSeconds(50));
        pull(c, ref("team/app"), BOB, app);
        assertEquals(1, proxy.tokenRequests.get());
        advance(Duration.ofSeconds(11));
        pull(c, ref("team/app"), BOB, app);
        assertEquals(2, proxy.tokenRequests.get());
    }

    @Test
    void aRevokedTokenIsReplacedAtOnce() throws Exception {
        RegistryClient c = client();
        pull(c, ref("team/app"), BOB, app);
        proxy.revokeTokens();
        pull(c, ref("team/app"), BOB, app);
        assertEquals(2, proxy.tokenRequests.get());
    }

    @Test
    void theAccessTokenFieldIsAcceptedAsWellAsToken() throws Exception {
        proxy.tokenField("access_token");
        pull(client(), ref("team/app"), BOB, app);
        assertEquals(1, proxy.tokenRequests.get());
    }

    @Test
    void withoutCredentialsAnAnonymousTokenIsAskedFor() throws Exception {
        proxy.anonymousTokens(true);
        pull(client(), ref("team/app"), Credentials.NONE, app);
        assertEquals("", proxy.tokenAuthorizations.get(0), "no Authorization header without credentials");
        assertTrue(proxy.tokenQueries.get(0).contains("scope=repository%3Ateam%2Fapp%3Apull"));
    }

    @Test
    void theRealmsRefusalsBecomeUnauthenticatedAndPermissionDenied() {
        BerthException anonymous = assertThrows(BerthException.class, () -> client().resolve(ref("team/app"), Credentials.NONE));
        assertEquals(BerthException.Kind.UNAUTHENTICATED, anonymous.kind(), anonymous.getMessage());
        assertTrue(anonymous.getMessage().contains("registry " + proxy.host()) && anonymous.getMessage().contains("HTTP 401")
                && anonymous.getMessage().contains("anonymous"), anonymous.getMessage());

        Credentials wrong = Credentials.of("bob", "not-it", "", "", "");
        BerthException refused = assertThrows(BerthException.class, () -> client().resolve(ref("team/app"), wrong));
        assertEquals(BerthException.Kind.UNAUTHENTICATED, refused.kind(), refused.getMessage());
        assertTrue(refused.getMessage().contains(ref("team/app").toString()), refused.getMessage());
        assertFalse(refused.getMessage().contains("not-it"), "no secret in messages");

        proxy.tokenStatus(403);
        BerthException forbidden = assertThrows(BerthException.class, () -> client().resolve(ref("team/app"), BOB));
        assertEquals(BerthException.Kind.PERMISSION_DENIED, forbidden.kind(), forbidden.getMessage());
        assertTrue(forbidden.getMessage().contains("HTTP 403") && forbidden.getMessage().contains("registry " + proxy.host()),
                forbidden.getMessage());

        proxy.tokenStatus(500);
        BerthException broken = assertThrows(BerthException.class, () -> client().resolve(ref("team/app"), BOB));
        assertEquals(BerthException.Kind.UNAVAILABLE, broken.kind(), broken.getMessage());
    }
}
