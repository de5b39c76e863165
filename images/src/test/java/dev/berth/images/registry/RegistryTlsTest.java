package dev.berth.images.registry;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.common.BerthException;
import dev.berth.images.content.Descriptor;
import dev.berth.images.reference.Reference;
import dev.berth.images.testing.RegistryFixture;
import dev.berth.images.testing.TestCertificates;
import dev.berth.images.testing.TestImage;
import dev.berth.images.testing.TestLayer;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real registry serving HTTPS on 127.0.0.1 with a certificate from a CA made by the test:
 * not trusted by default, trusted once hosts.toml names the CA in {@code ca} (in addition to
 * the system's trust), and reachable without verification with {@code skip_verify}.
 */
@Tag("root")
class RegistryTlsTest {
    @TempDir
    static Path dir;
    static RegistryFixture plain;
    static RegistryFixture tls;
    static TestCertificates ca;
    static TestCertificates otherCa;
    static TestLayer.Built layer;
    static TestImage.Pushed pushed;

    @BeforeAll
    static void start() throws Exception {
        plain = RegistryFixture.start(dir.resolve("plain"));
        layer = TestLayer.create().file("hello", "over tls").build(TestLayer.Compression.GZIP);
        pushed = TestImage.of(layer).push(plain.pusher(), "secure/app", "v1");
        ca = TestCertificates.newAuthority(dir.resolve("ca"), "berth test CA");
        otherCa = TestCertificates.newAuthority(dir.resolve("other-ca"), "another CA");
        tls = RegistryFixture.startTls(dir.resolve("tls"), plain.storage(), ca.issue("registry", "127.0.0.1"));
    }

    @AfterAll
    static void stop() throws InterruptedException {
        if (tls != null) {
            tls.close();
        }
        if (plain != null) {
            plain.close();
        }
    }

    static RegistryClient client(Path certsD) {
        return new RegistryClient(new HostsDirectory(certsD, Duration.ofSeconds(5)),
                new RegistryClient.Settings(Duration.ofSeconds(10), 3, Duration.ofMillis(10), Platform.parse("linux/amd64")));
    }

    /** A certs.d directory whose hosts.toml for the TLS registry says {@code settings} after {@code server}. */
    static Path certsD(String name, String settings) throws Exception {
        Path certsD = dir.resolve(name);
        Path d = Files.createDirectories(certsD.resolve(tls.host()));
        Files.writeString(d.resolve("hosts.toml"), "server = \"https://" + tls.host() + "\"\n" + settings);
        return certsD;
    }

    static Reference ref() {
        return Reference.parse(tls.host() + "/secure/app:v1");
    }

    /** Resolves the image and reads its layer blob: the whole registry conversation a pull has. */
    static void pullThrough(RegistryClient c) throws Exception {
        RegistryClient.Resolved r = c.resolve(ref(), Credentials.NONE);
        assertEquals(pushed.manifestDigest(), r.manifest().digest().toString());
        Descriptor l = Descriptor.fromJson(r.manifest().json().path("layers").get(0), "test");
        try (InputStream in = c.openBlob(ref(), l, Credentials.NONE)) {
            assertArrayEquals(layer.blob(), in.readAllBytes());
        }
    }

    @Test
    void aRegistryWithAnUnknownCaIsRefusedWithAClearError() throws Exception {
        BerthException e = assertThrows(BerthException.class, () -> pullThrough(client(certsD("no-ca", ""))));
        assertEquals(BerthException.Kind.UNAVAILABLE, e.kind(), e.getMessage());
        assertTrue(e.getMessage().contains("TLS verification failed") && e.getMessage().contains(tls.host())
                && e.getMessage().contains("secure/app:v1"), e.getMessage());

        // a CA that did not sign the registry's certificate does not help
        Files.copy(otherCa.certificate(), Files.createDirectories(dir.resolve("wrong-ca").resolve(tls.host())).resolve("ca.crt"));
        BerthException wrong = assertThrows(BerthException.class, () -> pullThrough(client(certsD("wrong-ca", "ca = \"ca.crt\"\n"))));
        assertTrue(wrong.getMessage().contains("TLS verification failed"), wrong.getMessage());
    }

    @Test
    void theCaNamedInHostsTomlIsTrusted() throws Exception {
        // an absolute path
        pullThrough(client(certsD("abs-ca", "ca = \"" + ca.certificate() + "\"\n")));
        // a path relative to the hosts.toml, in a list with another CA
        Files.copy(ca.certificate(), Files.createDirectories(dir.resolve("rel-ca").resolve(tls.host())).resolve("registry-ca.pem"));
        pullThrough(client(certsD("rel-ca", "ca = [\"" + otherCa.certificate() + "\", \"registry-ca.pem\"]\n")));
    }

    @Test
    void skipVerifyAcceptsTheCertificateWithoutItsCa() throws Exception {
        pullThrough(client(certsD("skip", "skip_verify = true\n")));
    }

    @Test
    void aMissingOrInvalidCaFileIsAConfigurationError() throws Exception {
        BerthException missing = assertThrows(BerthException.class, () -> pullThrough(client(certsD("missing-ca", "ca = \"nope.crt\"\n"))));
        assertEquals(BerthException.Kind.FAILED_PRECONDITION, missing.kind());
        assertTrue(missing.getMessage().contains("nope.crt"), missing.getMessage());

        Files.writeString(Files.createDirectories(dir.resolve("bad-ca").resolve(tls.host())).resolve("bad.crt"), "not a certificate\n");
        BerthException bad = assertThrows(BerthException.class, () -> pullThrough(client(certsD("bad-ca", "ca = \"bad.crt\"\n"))));
        assertEquals(BerthException.Kind.FAILED_PRECONDITION, bad.kind());
        assertTrue(bad.getMessage().contains("bad.crt"), bad.getMessage());
    }

    @Test
    void aConfiguredCaIsAddedToTheSystemTrustNotSubstitutedForIt() throws Exception {
        TrustManagerFactory f = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        f.init((KeyStore) null);
        X509TrustManager system = (X509TrustManager) Arrays.stream(f.getTrustManagers()).filter(t -> t instanceof X509TrustManager)
                .findFirst().orElseThrow();
        Set<String> systemCas = Arrays.stream(system.getAcceptedIssuers()).map(c -> c.getSubjectX500Principal().getName())
                .collect(Collectors.toSet());
        assertTrue(systemCas.size() > 10, "this JVM trusts the usual public CAs: " + systemCas.size());

        X509TrustManager combined = HostsDirectory.trustingAlso(List.of(ca.certificate()));
        Set<String> trusted = Arrays.stream(combined.getAcceptedIssuers()).map(X509Certificate::getSubjectX500Principal)
                .map(p -> p.getName()).collect(Collectors.toSet());
        assertTrue(trusted.containsAll(systemCas), "every CA the system trusts is still trusted");
        assertTrue(trusted.contains("CN=berth test CA"), trusted.toString());
    }
}
