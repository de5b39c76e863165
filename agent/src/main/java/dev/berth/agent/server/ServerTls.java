package dev.berth.agent.server;

import dev.berth.common.AtomicFiles;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.math.BigInteger;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.SecureRandom;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.Date;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The HTTP API's TLS: the configured serving certificate and key (PEM), or a self-signed one
 * made at start and kept in {@code <state>/pki/agent.crt} and {@code agent.key} (mode 0600),
 * reused while it is valid for more than a day and names every current name and address;
 * TLS 1.2 and 1.3 only. With a client CA, clients may present a certificate, which the
 * handshake verifies against it (one that does not verify fails the handshake, as with the
 * kubelet); clients without one go on to bearer tokens.
 */
public final class ServerTls {
    private static final Logger LOG = LoggerFactory.getLogger(ServerTls.class);
    static final Duration SELF_SIGNED_VALIDITY = Duration.ofDays(365);
    static final Duration RENEW_BEFORE = Duration.ofDays(1);

    private ServerTls() {
    }

    /** The server's SSL context from {@code settings}, generating the self-signed pair under {@code stateDir} when none is configured. */
    public static SslContext context(ServerSettings settings, Path stateDir, String nodeName, List<String> nodeIps, Clock clock) {
        Path cert = settings.tlsCertFile();
        Path key = settings.tlsPrivateKeyFile();
        if (cert == null) {
            Path pki = stateDir.resolve("pki");
            cert = pki.resolve("agent.crt");
            key = pki.resolve("agent.key");
            selfSigned(cert, key, names(nodeName), addresses(nodeIps), clock);
        }
        try {
            SslContextBuilder b = SslContextBuilder.forServer(cert.toFile(), key.toFile()).protocols("TLSv1.3", "TLSv1.2");
            if (settings.clientCaFile() != null) {
                b.trustManager(settings.clientCaFile().toFile()).clientAuth(ClientAuth.OPTIONAL);
            }
            return b.build();
        } catch (IOException | IllegalArgumentException e) {
            throw new IllegalStateException("the agent's HTTP API cannot use the certificate " + cert + ", key " + key
                    + (settings.clientCaFile() == null ? "" : " and client CA " + settings.clientCaFile()) + ": " + e.getMessage(), e);
        }
    }

    /** The names a self-signed certificate carries: the node's name and the host's name. */
    static Set<String> names(String nodeName) {
        Set<String> names = new LinkedHashSet<>();
        names.add(nodeName);
        try {
            String h = Files.readString(Path.of("/proc/sys/kernel/hostname")).trim().toLowerCase(java.util.Locale.ROOT);
            if (!h.isEmpty()) {
                names.add(h);
            }
        } catch (IOException e) {
            // the node name alone
        }
        names.add("localhost");
        return names;
    }

    /** The node's addresses and loopback. */
    static Set<String> addresses(List<String> nodeIps) {
        Set<String> ips = new LinkedHashSet<>(nodeIps);
        ips.add("127.0.0.1");
        return ips;
    }

    /**
     * Makes (or keeps) a self-signed serving certificate at {@code cert} and its key at
     * {@code key}; returns whether a new one was made.
     */
    static boolean selfSigned(Path cert, Path key, Set<String> dnsNames, Set<String> ips, Clock clock) {
        Instant now = clock.instant();
        if (Files.isRegularFile(cert) && Files.isRegularFile(key)) {
            try {
                X509Certificate existing = readCertificate(Files.readAllBytes(cert));
                if (existing.getNotAfter().toInstant().isAfter(now.plus(RENEW_BEFORE)) && !existing.getNotBefore().toInstant().isAfter(now)
                        && names(existing).containsAll(union(dnsNames, ips))) {
                    return false;
                }
                LOG.info("the agent's self-signed certificate {} expires soon or lacks a current name: making a new one", cert);
            } catch (IOException | GeneralSecurityException e) {
                LOG.warn("the agent's self-signed certificate {} is unreadable ({}): making a new one", cert, e.toString());
            }
        }
        try {
            KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
            g.initialize(new ECGenParameterSpec("secp256r1"), new SecureRandom());
            KeyPair pair = g.generateKeyPair();
            String cn = dnsNames.iterator().next();
            X500Name subject = new X500Name("CN=" + cn + "@" + now.getEpochSecond());
            X509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(subject, new BigInteger(63, new SecureRandom()),
                    Date.from(now.minus(Duration.ofHours(1))), Date.from(now.plus(SELF_SIGNED_VALIDITY)), subject, pair.getPublic());
            List<GeneralName> sans = new ArrayList<>();
            for (String n : dnsNames) {
                sans.add(new GeneralName(GeneralName.dNSName, n));
            }
            for (String ip : ips) {
                sans.add(new GeneralName(GeneralName.iPAddress, ip));
            }
            b.addExtension(Extension.subjectAlternativeName, false, new GeneralNames(sans.toArray(GeneralName[]::new)));
            b.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
            b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature | KeyUsage.keyEncipherment));
            b.addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(KeyPurposeId.id_kp_serverAuth));
            X509Certificate c = new JcaX509CertificateConverter().getCertificate(
                    b.build(new JcaContentSignerBuilder("SHA256withECDSA").build(pair.getPrivate())));
            Files.createDirectories(cert.getParent());
            var mode = PosixFilePermissions.fromString("rw-------");
            AtomicFiles.write(key, pem("PRIVATE KEY", pair.getPrivate().getEncoded()), mode, true);
            AtomicFiles.write(cert, pem("CERTIFICATE", c.getEncoded()), mode, true);
            LOG.info("made a self-signed serving certificate for the agent's HTTP API: {} (names {}, addresses {})", cert, dnsNames, ips);
            return true;
        } catch (IOException | GeneralSecurityException | org.bouncycastle.operator.OperatorCreationException e) {
            throw new IllegalStateException("cannot make the agent's self-signed certificate " + cert + ": " + e.getMessage(), e);
        }
    }

    private static Set<String> union(Set<String> a, Set<String> b) {
        Set<String> u = new HashSet<>(a);
        u.addAll(b);
        return u;
    }

    /** The DNS names and IP addresses a certificate carries. */
    static Set<String> names(X509Certificate c) throws GeneralSecurityException {
        Set<String> out = new HashSet<>();
        Collection<List<?>> sans = c.getSubjectAlternativeNames();
        if (sans != null) {
            for (List<?> san : sans) {
                Object v = san.get(1);
                if (v instanceof String s) {
                    out.add(san.get(0).equals(GeneralName.iPAddress) ? canonicalIp(s) : s);
                }
            }
        }
        return out;
    }

    private static String canonicalIp(String ip) {
        try {
            return InetAddress.getByName(ip).getHostAddress();
        } catch (IOException e) {
            return ip;
        }
    }

    static X509Certificate readCertificate(byte[] pem) throws GeneralSecurityException {
        try (InputStream in = new ByteArrayInputStream(pem)) {
            return (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(in);
        } catch (IOException e) {
            throw new GeneralSecurityException(e);
        }
    }

    static byte[] pem(String type, byte[] der) {
        String body = Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII)).encodeToString(der);
        return ("-----BEGIN " + type + "-----\n" + body + "\n-----END " + type + "-----\n").getBytes(StandardCharsets.US_ASCII);
    }
}
