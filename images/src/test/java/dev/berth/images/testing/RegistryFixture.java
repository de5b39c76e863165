package dev.berth.images.testing;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.concurrent.TimeUnit;

/**
 * A real OCI registry (Debian's {@code docker-registry}, the distribution registry v2) on
 * 127.0.0.1 with its own storage under a test directory; optionally with htpasswd Basic
 * authentication. {@link #close()} stops it; {@link #stop()} and {@link #start()} stop and
 * start it again on the same port and storage.
 */
public final class RegistryFixture implements AutoCloseable {
    public static final Path BINARY = Path.of("/usr/bin/docker-registry");

    private final Path dir;
    private final int port;
    private final String user;
    private final String password;
    private final Path storage;
    private final TestCertificates.Server tls;
    private Process process;

    private RegistryFixture(Path dir, String user, String password, Path storage, TestCertificates.Server tls) throws IOException {
        this.dir = dir;
        this.user = user;
        this.password = password;
        this.storage = storage == null ? dir.resolve("storage") : storage;
        this.tls = tls;
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            this.port = s.getLocalPort();
        }
    }

    public static boolean available() {
        return Files.isExecutable(BINARY);
    }

    /** An open registry. */
    public static RegistryFixture start(Path dir) throws IOException, InterruptedException {
        return start(dir, null, null);
    }

    /** A registry requiring HTTP Basic authentication as {@code user}/{@code password} (null for none). */
    public static RegistryFixture start(Path dir, String user, String password) throws IOException, InterruptedException {
        RegistryFixture r = new RegistryFixture(dir, user, password, null, null);
        r.writeConfig();
        r.start();
        return r;
    }

    /**
     * A registry serving HTTPS with {@code server}'s certificate and key, from {@code storage}
     * (e.g. another fixture's, so that images pushed there over plain HTTP are served here).
     */
    public static RegistryFixture startTls(Path dir, Path storage, TestCertificates.Server server) throws IOException, InterruptedException {
        RegistryFixture r = new RegistryFixture(dir, null, null, storage, server);
        r.writeConfig();
        r.start();
        return r;
    }

    private void writeConfig() throws IOException, InterruptedException {
        Files.createDirectories(dir);
        Files.createDirectories(storage);
        StringBuilder yaml = new StringBuilder()
                .append("version: 0.1\n")
                .append("log:\n  level: error\n  accesslog:\n    disabled: true\n")
                .append("storage:\n  filesystem:\n    rootdirectory: ").append(storage).append('\n')
                .append("  delete:\n    enabled: true\n")
                .append("http:\n  addr: 127.0.0.1:").append(port).append('\n');
        if (tls != null) {
            yaml.append("  tls:\n    certificate: ").append(tls.certificate()).append("\n    key: ").append(tls.key()).append('\n');
        }
        if (user != null) {
            Process p = new ProcessBuilder("htpasswd", "-Bbn", user, password).redirectErrorStream(false).start();
            String line = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            if (p.waitFor() != 0) {
                throw new IOException("htpasswd failed");
            }
            Files.writeString(dir.resolve("htpasswd"), line + "\n");
            yaml.append("auth:\n  htpasswd:\n    realm: berth-test\n    path: ").append(dir.resolve("htpasswd")).append('\n');
        }
        Files.writeString(dir.resolve("config.yml"), yaml.toString());
    }

    /** Starts the registry (again) and waits until it answers. */
    public void start() throws IOException, InterruptedException {
        process = new ProcessBuilder(BINARY.toString(), "serve", dir.resolve("config.yml").toString())
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(dir.resolve("registry.log").toFile()))
                .start();
        HttpClient c = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (System.nanoTime() < deadline) {
            if (!process.isAlive()) {
                throw new IOException("docker-registry exited: " + Files.readString(dir.resolve("registry.log")));
            }
            if (tls != null) {
                try (java.net.Socket s = new java.net.Socket(java.net.InetAddress.getLoopbackAddress(), port)) {
                    return; // listening (TLS is checked by the tests themselves)
                } catch (IOException e) {
                    Thread.sleep(20);
                    continue;
                }
            }
            try {
                int s = c.send(HttpRequest.newBuilder(URI.create(url() + "/v2/")).build(), HttpResponse.BodyHandlers.discarding()).statusCode();
                if (s == 200 || s == 401) {
                    return;
                }
            } catch (IOException e) {
                // not listening yet
            }
            Thread.sleep(20);
        }
        throw new IOException("docker-registry did not answer on " + url());
    }

    /** Stops the registry process (its storage stays). */
    public void stop() throws InterruptedException {
        if (process != null && process.isAlive()) {
            process.destroy();
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                process.waitFor();
            }
        }
    }

    public String host() {
        return "127.0.0.1:" + port;
    }

    public int port() {
        return port;
    }

    public String url() {
        return (tls != null ? "https://" : "http://") + host();
    }

    public Path storage() {
        return storage;
    }

    /** The file in the registry's storage holding a blob's bytes. */
    public Path blobFile(String digest) {
        String hex = digest.substring(digest.indexOf(':') + 1);
        return storage().resolve("docker/registry/v2/blobs/sha256").resolve(hex.substring(0, 2)).resolve(hex).resolve("data");
    }

    /** A pusher for this registry, with its credentials. */
    public Pusher pusher() {
        return new Pusher(url(), user == null ? null : "Basic " + Base64.getEncoder().encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8)));
    }

    @Override
    public void close() throws InterruptedException {
        stop();
    }
}
