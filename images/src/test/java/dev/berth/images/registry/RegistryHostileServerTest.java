package dev.berth.images.registry;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.common.BerthException;
import dev.berth.images.content.Descriptor;
import dev.berth.images.reference.Digest;
import dev.berth.images.reference.Reference;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Registries, token endpoints and blob storage that misbehave, scripted on loopback: credentials
 * are not sent where they do not belong (a plain-http realm on another host, storage a redirect
 * leads to, a challenge from there), and what they send is read within bounds.
 */
class RegistryHostileServerTest {
    @TempDir
    Path dir;

    static final Credentials BOB = Credentials.of("bob", "token-pw", "", "", "");
    final AtomicReference<String> tokenReply = new AtomicReference<>("{\"token\":\"t1\"}");

    static RegistryClient client(RegistryHosts hosts) {
        return new RegistryClient(hosts, new RegistryClient.Settings(Duration.ofSeconds(10), 1, Duration.ofMillis(10),
                Platform.parse("linux/amd64")));
    }

    static RegistryClient client() {
        return client(new RegistryHosts(Duration.ofSeconds(5)));
    }

    /** A token endpoint answering every request with {@link #tokenReply}. */
    ScriptedServer tokenEndpoint() throws Exception {
        return new ScriptedServer(ex -> ScriptedServer.reply(ex, 200, Map.of("Content-Type", "application/json"),
                tokenReply.get().getBytes(StandardCharsets.UTF_8)));
    }

    @Test
    void credentialsGoToAPlainHttpRealmOnlyOnTheRegistrysOwnPlainHttpHost() throws Exception {
        assertFalse(RegistryClient.realmMayReceiveCredentials(URI.create("https://reg.example"), URI.create("http://reg.example/token")),
                "no downgrade from https");
        assertFalse(RegistryClient.realmMayReceiveCredentials(URI.create("http://127.0.0.1:5000"), URI.create("http://auth.example/token")));
        assertTrue(RegistryClient.realmMayReceiveCredentials(URI.create("http://127.0.0.1:5000"), URI.create("http://127.0.0.1:5001/token")));
        assertTrue(RegistryClient.realmMayReceiveCredentials(URI.create("https://reg.example"), URI.create("https://auth.example/token")));
        assertTrue(RegistryClient.realmMayReceiveCredentials(URI.create("http://127.0.0.1:5000"), URI.create("https://auth.example/token")));

        try (ScriptedServer token = tokenEndpoint();
             // the realm names another host ("localhost" is not "127.0.0.1") over plain http
             ScriptedServer registry = new ScriptedServer(ex -> ScriptedServer.bearerRegistry(ex,
                     "Bearer realm=\"http://localhost:" + token.port() + "/token\",service=\"s\""))) {
            Reference ref = Reference.parse(registry.host() + "/team/private:v1");
            BerthException e = assertThrows(BerthException.class, () -> client().resolve(ref, BOB));
            assertEquals(BerthException.Kind.FAILED_PRECONDITION, e.kind(), e.getMessage());
            assertTrue(e.getMessage().contains("refused to send credentials") && e.getMessage().contains("localhost:" + token.port())
                    && e.getMessage().contains(registry.host()), e.getMessage());
            assertTrue(token.seen.isEmpty(), "the realm never saw the credentials");

            // without credentials there is nothing to leak: an anonymous token is fine
            client().resolve(ref, Credentials.NONE);
            assertEquals(1, token.seen.size());
            assertEquals("", token.seen.get(0).header("Authorization"));
        }
    }

    @Test
    void afterARedirectToStorageNothingForTheRegistryFollowsAndItsChallengeIsNotAnswered() throws Exception {
        byte[] blob = "layer bytes".getBytes(StandardCharsets.UTF_8);
        AtomicReference<Boolean> storageAsks = new AtomicReference<>(true);
        String alice = "Basic " + Base64.getEncoder().encodeToString("alice:pw".getBytes(StandardCharsets.UTF_8));
        try (ScriptedServer storageToken = tokenEndpoint();
             ScriptedServer storage = new ScriptedServer(ex -> {
                 if (storageAsks.get()) {
                     ScriptedServer.reply(ex, 401, Map.of("WWW-Authenticate",
                             "Bearer realm=\"http://127.0.0.1:" + storageToken.port() + "/token\""), new byte[0]);
                 } else {
                     ScriptedServer.reply(ex, 200, Map.of(), blob);
                 }
             });
             ScriptedServer registry = new ScriptedServer(ex -> {
                 if (!alice.equals(ex.getRequestHeaders().getFirst("Authorization"))) {
                     ScriptedServer.reply(ex, 401, Map.of("WWW-Authenticate", "Basic realm=\"r\""), new byte[0]);
                 } else {
                     ScriptedServer.reply(ex, 307, Map.of("Location", "http://" + storage.host() + "/signed/blob?sig=1"), new byte[0]);
                 }
             })) {
            Path certsD = dir.resolve("certs.d");
            Path d = Files.createDirectories(certsD.resolve(registry.host()));
            Files.writeString(d.resolve("hosts.toml"), "server = \"http://" + registry.host() + "\"\n[header]\n  x-registry-key = \"k\"\n");
            RegistryClient c = client(new HostsDirectory(certsD, Duration.ofSeconds(5)));
            Reference ref = Reference.parse(registry.host() + "/team/private:v1");
            Descriptor desc = Descriptor.of("application/octet-stream", Digest.sha256(blob), blob.length);
            Credentials creds = Credentials.of("alice", "pw", "", "", "");

            BerthException e = assertThrows(BerthException.class, () -> c.openBlob(ref, desc, creds).close());
            assertEquals(BerthException.Kind.UNAUTHENTICATED, e.kind(), e.getMessage());
            assertTrue(e.getMessage().contains("redirected to") && e.getMessage().contains(storage.host().split(":")[1]), e.getMessage());
            assertTrue(storageToken.seen.isEmpty(), "the storage's challenge is not answered with the registry's credentials");
            assertTrue(registry.seen.stream().anyMatch(s -> s.header("x-registry-key").equals("k")), "the registry gets its header");

            storageAsks.set(false);
            try (InputStream in = c.openBlob(ref, desc, creds)) {
                assertArrayEquals(blob, in.readAllBytes());
            }
            assertFalse(storage.seen.isEmpty());
            for (ScriptedServer.Seen s : storage.seen) {
                assertEquals("", s.header("Authorization"), "no Authorization after a cross-origin redirect");
                assertEquals("", s.header("x-registry-key"), "no hosts.toml header after a cross-origin redirect");
            }
        }
    }

    @Test
    void aTokenReplyLargerThanOneMebibyteIsRefused() throws Exception {
        try (ScriptedServer token = new ScriptedServer(ex -> {
                 ex.getResponseHeaders().set("Content-Type", "application/json");
                 ex.sendResponseHeaders(200, 0); // chunked: no length to judge by
                 try (OutputStream out = ex.getResponseBody()) {
                     out.write("{\"token\":\"".getBytes(StandardCharsets.UTF_8));
                     byte[] chunk = "a".repeat(64 * 1024).getBytes(StandardCharsets.UTF_8);
                     for (int i = 0; i < 32; i++) {
                         out.write(chunk);
                     }
                     out.write("\"}".getBytes(StandardCharsets.UTF_8));
                 } catch (java.io.IOException closed) {
                     // the client stopped reading
                 }
             });
             ScriptedServer registry = new ScriptedServer(ex -> ScriptedServer.bearerRegistry(ex,
                     "Bearer realm=\"http://127.0.0.1:" + token.port() + "/token\""))) {
            BerthException e = assertThrows(BerthException.class,
                    () -> client().resolve(Reference.parse(registry.host() + "/team/app:v1"), BOB));
            assertEquals(BerthException.Kind.FAILED_PRECONDITION, e.kind(), e.getMessage());
            assertTrue(e.getMessage().contains("larger than " + RegistryClient.MAX_TOKEN_REPLY), e.getMessage());
        }
    }

    @Test
    void aHugeChallengeIsRefusedAndParametersParseInLinearTime() throws Exception {
        String longRealm = "http://127.0.0.1/" + "x".repeat(100_000);
        try (ScriptedServer registry = new ScriptedServer(ex -> ScriptedServer.bearerRegistry(ex,
                "Bearer realm=\"" + longRealm + "\",service=\"s\""))) {
            BerthException e = assertThrows(BerthException.class,
                    () -> client().resolve(Reference.parse(registry.host() + "/team/app:v1"), BOB));
            assertEquals(BerthException.Kind.FAILED_PRECONDITION, e.kind(), e.getMessage());
            assertTrue(e.getMessage().contains("longer than " + RegistryClient.MAX_CHALLENGE) && e.getMessage().contains(registry.host()),
                    e.getMessage());
        }
        Map<String, String> p = RegistryClient.challengeParameters(
                " realm=\"https://auth.example/token\", service=registry.example ,scope=\"repository:a/b:pull,push\",x=\"q\\\"uote\"");
        assertEquals(Map.of("realm", "https://auth.example/token", "service", "registry.example",
                "scope", "repository:a/b:pull,push", "x", "q\"uote"), p);
        String quoted = "\\\"".repeat(7000); // escaped quotes all the way: a backtracking pattern overflows the stack here
        assertEquals("\"".repeat(7000), RegistryClient.challengeParameters(" realm=\"" + quoted + "\"").get("realm"));
        assertEquals(Map.of("realm", "r"), RegistryClient.challengeParameters(" realm=r, Basic realm=\"other\""));
    }

    @Test
    void aTokenAHeaderCannotCarryOrAnInvalidRealmIsAClearFailure() throws Exception {
        tokenReply.set("{\"token\":\"t\\r\\nX-Injected: 1\"}");
        try (ScriptedServer token = tokenEndpoint();
             ScriptedServer registry = new ScriptedServer(ex -> ScriptedServer.bearerRegistry(ex,
                     ex.getRequestURI().getPath().contains("/bad-realm/") ? "Bearer realm=\"file:///etc/passwd\""
                             : "Bearer realm=\"http://127.0.0.1:" + token.port() + "/token\""))) {
            BerthException e = assertThrows(BerthException.class,
                    () -> client().resolve(Reference.parse(registry.host() + "/team/app:v1"), BOB));
            assertEquals(BerthException.Kind.FAILED_PRECONDITION, e.kind(), e.getMessage());
            assertTrue(e.getMessage().contains("characters a header cannot carry"), e.getMessage());

            BerthException realm = assertThrows(BerthException.class,
                    () -> client().resolve(Reference.parse(registry.host() + "/bad-realm/app:v1"), BOB));
            assertEquals(BerthException.Kind.FAILED_PRECONDITION, realm.kind(), realm.getMessage());
            assertTrue(realm.getMessage().contains("not an http or https URL"), realm.getMessage());
        }
    }

    @Test
    void tokensAreBoundedInNumberAndLifetime() throws Exception {
        // a lifetime beyond what a long can count in nanoseconds is capped, not an overflow
        tokenReply.set("{\"token\":\"t1\",\"expires_in\":9223372036854775807}");
        try (ScriptedServer token = tokenEndpoint();
             ScriptedServer registry = new ScriptedServer(ex -> ScriptedServer.bearerRegistry(ex,
                     "Bearer realm=\"http://127.0.0.1:" + token.port() + "/token\""))) {
            int bound = 8;
            RegistryClient c = new RegistryClient(new RegistryHosts(Duration.ofSeconds(5)), new RegistryClient.Settings(
                    Duration.ofSeconds(10), 1, Duration.ofMillis(10), Platform.parse("linux/amd64")), CredentialStore.none(), System::nanoTime, bound);
            c.resolve(Reference.parse(registry.host() + "/team/app:v1"), BOB);
            c.resolve(Reference.parse(registry.host() + "/team/app:v1"), BOB);
            assertEquals(1, token.seen.size(), "the token is reused");

            tokenReply.set("{\"token\":\"t2\"}");
            int repositories = 3 * bound;
            for (int i = 0; i < repositories; i++) {
                c.resolve(Reference.parse(registry.host() + "/team/app" + i + ":v1"), BOB);
            }
            assertEquals(1 + repositories, token.seen.size(), "one token per repository");
            assertEquals(bound, c.cachedTokens());
            // the most recent repositories kept their tokens, the oldest were let go
            c.resolve(Reference.parse(registry.host() + "/team/app" + (repositories - 1) + ":v1"), BOB);
            assertEquals(1 + repositories, token.seen.size());
            c.resolve(Reference.parse(registry.host() + "/team/app0:v1"), BOB);
            assertEquals(2 + repositories, token.seen.size());
        }
    }
}
