package dev.berth.agent.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.cert.X509Certificate;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The self-signed serving certificate: made once with the node's names, kept private, reused while valid, renewed otherwise. */
class ServerTlsTest {
    @TempDir
    Path dir;

    @Test
    void aSelfSignedCertificateIsMadeKeptPrivateAndReused() throws Exception {
        Path cert = dir.resolve("pki/agent.crt");
        Path key = dir.resolve("pki/agent.key");
        Clock now = Clock.fixed(Instant.parse("2030-01-01T00:00:00Z"), ZoneOffset.UTC);
        assertTrue(ServerTls.selfSigned(cert, key, Set.of("node-a"), Set.of("10.0.0.5", "127.0.0.1"), now));
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(key)));
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(cert)));
        X509Certificate c = ServerTls.readCertificate(Files.readAllBytes(cert));
        assertEquals(Set.of("node-a", "10.0.0.5", "127.0.0.1"), ServerTls.names(c));
        byte[] first = Files.readAllBytes(cert);

        // still valid, same names: kept
        assertFalse(ServerTls.selfSigned(cert, key, Set.of("node-a"), Set.of("127.0.0.1"), Clock.offset(now, Duration.ofDays(100))));
        assertArrayEquals(first, Files.readAllBytes(cert));
        // a new address: renewed
        assertTrue(ServerTls.selfSigned(cert, key, Set.of("node-a"), Set.of("10.0.0.6", "127.0.0.1"), now));
        assertTrue(ServerTls.names(ServerTls.readCertificate(Files.readAllBytes(cert))).contains("10.0.0.6"));
        // about to expire: renewed
        byte[] second = Files.readAllBytes(cert);
        assertTrue(ServerTls.selfSigned(cert, key, Set.of("node-a"), Set.of("127.0.0.1"), Clock.offset(now, Duration.ofDays(365))));
        assertFalse(java.util.Arrays.equals(second, Files.readAllBytes(cert)));
        // unreadable: renewed
        Files.writeString(cert, "garbage");
        assertTrue(ServerTls.selfSigned(cert, key, Set.of("node-a"), Set.of("127.0.0.1"), now));
    }

    @Test
    void theServerContextUsesTheConfiguredPairAndRefusesABrokenOne() throws Exception {
        TestPki pki = new TestPki("ca");
        TestPki.Client pair = pki.client("CN=node-a");
        Path cert = Files.write(dir.resolve("serving.crt"), pair.certificatePem());
        Path key = Files.write(dir.resolve("serving.key"), pair.keyPem());
        ServerSettings s = new ServerSettings("127.0.0.1", 0, 0, cert, key, null, false, ServerSettings.AuthorizationMode.ALWAYS_ALLOW,
                false, null, null, null, null);
        ServerTls.context(s, dir.resolve("state"), "node-a", List.of(), Clock.systemUTC());
        assertFalse(Files.exists(dir.resolve("state/pki")), "no self-signed pair when one is configured");
        Files.writeString(key, "not a key");
        assertThrows(IllegalStateException.class, () -> ServerTls.context(s, dir.resolve("state"), "node-a", List.of(), Clock.systemUTC()));
    }
}
