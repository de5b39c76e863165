package dev.berth.criserver.streaming;

import dev.berth.common.BerthException;
import dev.berth.podsandbox.container.ExecSessions;
import dev.berth.streaming.*;
import java.io.InputStream;
import java.net.Socket;
import java.net.http.HttpClient;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.time.Clock;
import java.util.List;
import java.util.concurrent.CompletionException;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The streaming server with a configured certificate: it speaks HTTPS only, hands out https
 * URLs, and a client that trusts the certificate runs a session through it; a client that
 * does not trust it, or speaks plain HTTP, gets nothing.
 */
class StreamingTlsTest {
    @TempDir
    static Path dir;

    static Path cert;
    static Path key;

    @BeforeAll
    static void certificate() throws Exception {
        cert = dir.resolve("cert.pem");
        key = dir.resolve("key.pem");
        Process p = new ProcessBuilder("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                "-subj", "/CN=berth streaming test", "-addext", "subjectAltName=IP:127.0.0.1",
                "-keyout", key.toString(), "-out", cert.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), out);
    }

    /** Runs {@code echo <the command>} on the host: a real process, no container needed. */
    static ExecBackend echo() {
        return new ProcessExecBackend(req -> new ExecSessions.Launch(
                java.util.stream.Stream.concat(java.util.stream.Stream.of("/bin/echo"), req.cmd().stream()).toList(),
                () -> { }, () -> { }));
    }

    static HttpClient trusting(Path certificate) throws Exception {
        KeyStore ks = KeyStore.getInstance(KeyStore.getDefaultType());
        ks.load(null, null);
        try (InputStream in = Files.newInputStream(certificate)) {
            ks.setCertificateEntry("berth", CertificateFactory.getInstance("X.509").generateCertificate(in));
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(ks);
        SSLContext ssl = SSLContext.getInstance("TLS");
        ssl.init(null, tmf.getTrustManagers(), null);
        return HttpClient.newBuilder().sslContext(ssl).build();
    }

    static StreamingServer.Options tls() {
        var d = StreamingServer.Options.defaults();
        return new StreamingServer.Options(d.tokenTtl(), d.maxStreams(), d.idleTimeout(), new StreamingServer.Tls(cert, key));
    }

    @Test
    void aClientTrustingTheCertificateRunsAnExecOverHttps() throws Exception {
        try (StreamingServer server = StreamingServer.start("127.0.0.1", 0, tls(), echo(), Clock.systemUTC())) {
            String url = server.register(new StreamRequest.Exec("any", List.of("over", "tls"), false, false, true, true));
            assertTrue(url.startsWith("https://127.0.0.1:"), url);
            Object r = ChannelClient.connect(trusting(cert), url, "v5.channel.k8s.io");
            assertTrue(r instanceof ChannelClient, "upgrade refused: " + r);
            ChannelClient c = (ChannelClient) r;
            assertEquals(1000, c.awaitClose());
            assertEquals("over tls\n", c.text(RemoteCommand.STDOUT));
            assertTrue(c.text(RemoteCommand.ERROR).contains("\"status\":\"Success\""), c.text(RemoteCommand.ERROR));
        }
    }

    @Test
    void untrustedAndPlainHttpClientsGetNoSession() throws Exception {
        try (StreamingServer server = StreamingServer.start("127.0.0.1", 0, tls(), echo(), Clock.systemUTC())) {
            String url = server.register(new StreamRequest.Exec("any", List.of("x"), false, false, true, true));
            // the JDK's default trust does not know the test certificate
            assertThrows(CompletionException.class, () -> ChannelClient.connect(url, "v5.channel.k8s.io"));
            // plain HTTP to the TLS port: no HTTP answer comes back
            try (Socket s = new Socket("127.0.0.1", server.address().getPort())) {
                s.setSoTimeout(10_000);
                s.getOutputStream().write(("GET /exec/x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
                byte[] got = s.getInputStream().readAllBytes();
                assertTrue(!new String(got, StandardCharsets.ISO_8859_1).startsWith("HTTP/"),
                        "a plain HTTP request got an HTTP answer");
            }
        }
    }

    @Test
    void aMissingOrBrokenCertificateIsRefusedAtStart() throws Exception {
        Path broken = Files.writeString(dir.resolve("broken.pem"), "not a certificate\n");
        var d = StreamingServer.Options.defaults();
        BerthException e = assertThrows(BerthException.class, () -> StreamingServer.start("127.0.0.1", 0,
                new StreamingServer.Options(d.tokenTtl(), d.maxStreams(), d.idleTimeout(), new StreamingServer.Tls(broken, key)),
                echo(), Clock.systemUTC()));
        assertEquals(BerthException.Kind.FAILED_PRECONDITION, e.kind());
        assertTrue(e.getMessage().contains("broken.pem"), e.getMessage());
    }
}
