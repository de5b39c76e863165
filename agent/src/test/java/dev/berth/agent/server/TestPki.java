package dev.berth.agent.server;

import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/** A test CA and the client certificates it signs, and TLS contexts that present them. */
public final class TestPki {
    public final KeyPair caKey;
    public final X509Certificate ca;

    public TestPki(String name) throws Exception {
        caKey = keyPair();
        X500Name subject = new X500Name("CN=" + name);
        var b = new JcaX509v3CertificateBuilder(subject, BigInteger.ONE, Date.from(Instant.now().minus(Duration.ofHours(1))),
                Date.from(Instant.now().plus(Duration.ofDays(1))), subject, caKey.getPublic());
        b.addExtension(Extension.basicConstraints, true, new BasicConstraints(true));
        ca = new JcaX509CertificateConverter().getCertificate(b.build(new JcaContentSignerBuilder("SHA256withECDSA").build(caKey.getPrivate())));
    }

    static KeyPair keyPair() throws Exception {
        KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
        g.initialize(new ECGenParameterSpec("secp256r1"));
        return g.generateKeyPair();
    }

    /** Writes the CA certificate (PEM) to {@code file}. */
    public Path writeCa(Path file) throws Exception {
        Files.write(file, ServerTls.pem("CERTIFICATE", ca.getEncoded()));
        return file;
    }

    /** A client certificate of {@code subject} (e.g. "CN=alice,O=admins") signed by this CA. */
    public Client client(String subject) throws Exception {
        KeyPair k = keyPair();
        var b = new JcaX509v3CertificateBuilder(new X500Name(ca.getSubjectX500Principal().getName()), BigInteger.valueOf(System.nanoTime()),
                Date.from(Instant.now().minus(Duration.ofHours(1))), Date.from(Instant.now().plus(Duration.ofDays(1))), new X500Name(subject),
                k.getPublic());
        X509Certificate c = new JcaX509CertificateConverter().getCertificate(b.build(new JcaContentSignerBuilder("SHA256withECDSA")
                .build(caKey.getPrivate())));
        return new Client(k, c);
    }

    /** A client's key and certificate. */
    public record Client(KeyPair key, X509Certificate certificate) {
        public byte[] certificatePem() throws Exception {
            return ServerTls.pem("CERTIFICATE", certificate.getEncoded());
        }

        public byte[] keyPem() {
            return ServerTls.pem("PRIVATE KEY", key.getPrivate().getEncoded());
        }
    }

    /** A TLS context that trusts {@code serverCert} and presents {@code client} (null: no certificate). */
    public static SSLContext context(X509Certificate serverCert, Client client) throws Exception {
        KeyStore trust = KeyStore.getInstance("PKCS12");
        trust.load(null, null);
        trust.setCertificateEntry("server", serverCert);
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trust);
        KeyManagerFactory kmf = null;
        if (client != null) {
            KeyStore keys = KeyStore.getInstance("PKCS12");
            keys.load(null, null);
            keys.setKeyEntry("client", client.key().getPrivate(), "x".toCharArray(), new java.security.cert.Certificate[] {client.certificate()});
            kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            kmf.init(keys, "x".toCharArray());
        }
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(kmf == null ? null : kmf.getKeyManagers(), tmf.getTrustManagers(), null);
        return ctx;
    }
}
