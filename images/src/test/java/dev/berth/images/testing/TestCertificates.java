package dev.berth.images.testing;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** A certificate authority made for one test (with openssl), and server certificates it signs. */
public final class TestCertificates {
    /** A server's certificate (PEM) and unencrypted private key (PEM). */
    public record Server(Path certificate, Path key) {
    }

    private final Path dir;
    private final Path caCert;
    private final Path caKey;

    private TestCertificates(Path dir) {
        this.dir = dir;
        this.caCert = dir.resolve("ca.crt");
        this.caKey = dir.resolve("ca.key");
    }

    /** A new CA, valid for a day, named {@code name}. */
    public static TestCertificates newAuthority(Path dir, String name) throws IOException, InterruptedException {
        Files.createDirectories(dir);
        TestCertificates ca = new TestCertificates(dir);
        openssl(dir, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "1",
                "-subj", "/CN=" + name, "-keyout", ca.caKey.toString(), "-out", ca.caCert.toString(), "-config", "/dev/null",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                "-addext", "subjectKeyIdentifier=hash");
        return ca;
    }

    /** The CA's certificate (PEM). */
    public Path certificate() {
        return caCert;
    }

    /** A server certificate for the IP address {@code ip}, signed by this CA. */
    public Server issue(String name, String ip) throws IOException, InterruptedException {
        Path key = dir.resolve(name + ".key");
        Path csr = dir.resolve(name + ".csr");
        Path cert = dir.resolve(name + ".crt");
        Path ext = dir.resolve(name + ".ext");
        Files.writeString(ext, "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                + "extendedKeyUsage=serverAuth\nsubjectAltName=IP:" + ip + "\n");
        openssl(dir, "req", "-new", "-newkey", "rsa:2048", "-nodes", "-sha256", "-subj", "/CN=" + ip,
                "-keyout", key.toString(), "-out", csr.toString(), "-config", "/dev/null");
        openssl(dir, "x509", "-req", "-sha256", "-days", "1", "-in", csr.toString(), "-CA", caCert.toString(),
                "-CAkey", caKey.toString(), "-set_serial", Long.toString(System.nanoTime()), "-extfile", ext.toString(),
                "-out", cert.toString());
        return new Server(cert, key);
    }

    private static void openssl(Path dir, String... args) throws IOException, InterruptedException {
        List<String> cmd = new java.util.ArrayList<>(List.of("openssl"));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (p.waitFor() != 0) {
            throw new IOException("openssl " + String.join(" ", args) + " failed: " + out);
        }
    }
}
