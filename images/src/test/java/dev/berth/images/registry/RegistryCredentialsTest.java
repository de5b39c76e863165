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
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Credentials stay with the pull that brought them and the host they belong to: a later pull
 * without credentials reuses neither a Basic header nor a token of an earlier one, and a mirror
 * never sees the registry's credentials (only its own, from the credentials file).
 */
@Tag("root")
class RegistryCredentialsTest {
    @TempDir
    static Path dir;
    static RegistryFixture basic;
    static RegistryFixture open;

    static final Credentials ALICE = Credentials.of("alice", "s3cret-pw", "", "", "");
    static final Credentials BOB = Credentials.of("bob", "token-pw", "", "", "");

    @BeforeAll
    static void start() throws Exception {
        basic = RegistryFixture.start(dir.resolve("basic"), "alice", "s3cret-pw");
        open = RegistryFixture.start(dir.resolve("open"));
        for (String tag : new String[] {"v1", "v2"}) {
            TestLayer.Built l = TestLayer.create().file("private", tag).build(TestLayer.Compression.GZIP);
            TestImage.of(l).push(basic.pusher(), "team/private", tag);
            TestImage.of(l).push(open.pusher(), "team/private", tag);
        }
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

    static RegistryClient client(RegistryHosts hosts, CredentialStore store) {
        return new RegistryClient(hosts, new RegistryClient.Settings(Duration.ofSeconds(10), 1, Duration.ofMillis(10),
                Platform.parse("linux/amd64")), store);
    }

    static RegistryClient client() {
        return client(new RegistryHosts(Duration.ofSeconds(5)), CredentialStore.none());
    }

    static String basicHeader(String user, String password) {
        return "Basic " + Base64.getEncoder().encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void aBasicPullWithCredentialsLeavesNothingForAPullWithout() {
        RegistryClient c = client();
        Reference v1 = Reference.parse(basic.host() + "/team/private:v1");
        Reference v2 = Reference.parse(basic.host() + "/team/private:v2");
        c.resolve(v1, ALICE);

        BerthException anonymous = assertThrows(BerthException.class, () -> c.resolve(v2, Credentials.NONE));
        assertEquals(BerthException.Kind.UNAUTHENTICATED, anonymous.kind(), anonymous.getMessage());
        assertTrue(anonymous.getMessage().contains(basic.host()) && anonymous.getMessage().contains("no credentials given"),
                anonymous.getMessage());
        BerthException sameTag = assertThrows(BerthException.class, () -> c.resolve(v1, Credentials.NONE));
        assertEquals(BerthException.Kind.UNAUTHENTICATED, sameTag.kind(), sameTag.getMessage());
        BerthException wrong = assertThrows(BerthException.class, () -> c.resolve(v2, Credentials.of("alice", "wrong", "", "", "")));
        assertEquals(BerthException.Kind.UNAUTHENTICATED, wrong.kind(), wrong.getMessage());

        c.resolve(v2, ALICE);
    }

    @Test
    void aTokenFetchedWithCredentialsServesOnlyTheSameCredentials() throws Exception {
        try (RegistryProxy proxy = new RegistryProxy(open.url())) {
            proxy.requireBearer("bob", "token-pw");
            RegistryClient c = client();
            Reference v1 = Reference.parse(proxy.host() + "/team/private:v1");
            Reference v2 = Reference.parse(proxy.host() + "/team/private:v2");
            c.resolve(v1, BOB);
            assertEquals(1, proxy.tokenRequests.get());

            BerthException anonymous = assertThrows(BerthException.class, () -> c.resolve(v2, Credentials.NONE));
            assertEquals(BerthException.Kind.UNAUTHENTICATED, anonymous.kind(), anonymous.getMessage());
            BerthException sameTag = assertThrows(BerthException.class, () -> c.resolve(v1, Credentials.NONE));
            assertEquals(BerthException.Kind.UNAUTHENTICATED, sameTag.kind(), sameTag.getMessage());
            BerthException other = assertThrows(BerthException.class, () -> c.resolve(v1, Credentials.of("bob", "guess", "", "", "")));
            assertEquals(BerthException.Kind.UNAUTHENTICATED, other.kind(), other.getMessage());

            int before = proxy.tokenRequests.get();
            c.resolve(v2, BOB);
            assertEquals(before, proxy.tokenRequests.get(), "the same credentials reuse their token");
        }
    }

    @Test
    void aMirrorGetsItsOwnCredentialsNeverTheRegistrys() throws Exception {
        String mirrorAuth = basicHeader("mirror-user", "mirror-pw");
        // a mirror that asks for Basic and accepts only its own user; it has no image, so the origin serves
        try (ScriptedServer mirror = new ScriptedServer(ex -> {
            String given = ex.getRequestHeaders().getFirst("Authorization");
            if (!mirrorAuth.equals(given)) {
                ScriptedServer.reply(ex, 401, Map.of("WWW-Authenticate", "Basic realm=\"mirror\""), new byte[0]);
            } else {
                ScriptedServer.reply(ex, 404, Map.of(), new byte[0]);
            }
        })) {
            Path certsD = dir.resolve("certs.d-mirror");
            Path d = Files.createDirectories(certsD.resolve(basic.host()));
            Files.writeString(d.resolve("hosts.toml"), "[host.\"http://" + mirror.host() + "\"]\n");
            Reference ref = Reference.parse(basic.host() + "/team/private:v1");

            client(new HostsDirectory(certsD, Duration.ofSeconds(5)), CredentialStore.none()).resolve(ref, ALICE);
            assertFalse(mirror.seen.isEmpty(), "the mirror was asked first");
            for (ScriptedServer.Seen s : mirror.seen) {
                assertEquals("", s.header("Authorization"), "the registry's credentials never go to the mirror");
            }

            mirror.seen.clear();
            Path file = dir.resolve("mirror-auth.json");
            String auth = Base64.getEncoder().encodeToString("mirror-user:mirror-pw".getBytes(StandardCharsets.UTF_8));
            Files.writeString(file, "{\"auths\":{\"" + mirror.host() + "\":{\"auth\":\"" + auth + "\"}}}");
            client(new HostsDirectory(certsD, Duration.ofSeconds(5)), new CredentialStore(file)).resolve(ref, ALICE);
            assertTrue(mirror.seen.stream().anyMatch(s -> s.header("Authorization").equals(mirrorAuth)),
                    "the mirror is given the credentials configured for its own host");
            assertTrue(mirror.seen.stream().noneMatch(s -> s.header("Authorization").equals(basicHeader("alice", "s3cret-pw"))));
        }
    }
}
