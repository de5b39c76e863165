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
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** hosts.toml: mirrors tried in order with fallback to the origin, resolve capability, plain-HTTP hosts, headers. */
class HostsDirectoryTest {
    @TempDir
    Path dir;

    static RegistryClient client(Path certsD) {
        return new RegistryClient(new HostsDirectory(certsD, Duration.ofSeconds(5)),
                new RegistryClient.Settings(Duration.ofSeconds(10), 1, Duration.ofMillis(10), Platform.parse("linux/amd64")));
    }

    @Test
    void withoutAFileTheOriginIsUsedOverHttpsOrPlainHttpOnLoopback() {
        HostsDirectory h = new HostsDirectory(dir.resolve("certs.d"), Duration.ofSeconds(1));
        assertEquals("https://registry-1.docker.io", h.endpoints("docker.io", "registry-1.docker.io").get(0).base().toString());
        assertEquals("http://127.0.0.1:5000", h.endpoints("127.0.0.1:5000", "127.0.0.1:5000").get(0).base().toString());
        assertEquals("http://localhost:5000", h.endpoints("localhost:5000", "localhost:5000").get(0).base().toString());
        assertEquals("https://reg.example:5000", h.endpoints("reg.example:5000", "reg.example:5000").get(0).base().toString());
    }

    @Test
    void parsesHostsToml() throws Exception {
        Path d = Files.createDirectories(dir.resolve("certs.d/reg.example"));
        Files.writeString(d.resolve("hosts.toml"), """
                server = "https://reg.example"
                [host."http://mirror-a:5000"]
                  capabilities = ["pull"]
                  [host."http://mirror-a:5000".header]
                    x-test = "yes"
                [host."https://mirror-b/prefix"]
                  capabilities = ["pull", "resolve"]
                  override_path = true
                  skip_verify = true
                """);
        List<Endpoint> eps = new HostsDirectory(dir.resolve("certs.d"), Duration.ofSeconds(1)).endpoints("reg.example", "reg.example");
        assertEquals(3, eps.size());
        assertEquals("http://mirror-a:5000/v2/ns/app/manifests/1", eps.get(0).api("ns/app/manifests/1").toString());
        assertFalse(eps.get(0).resolve());
        assertEquals("yes", eps.get(0).headers().get("x-test"));
        assertEquals("https://mirror-b/prefix/ns/app/blobs/x", eps.get(1).api("ns/app/blobs/x").toString());
        assertTrue(eps.get(1).resolve());
        assertEquals("https://reg.example/v2/a", eps.get(2).api("a").toString());

        Files.writeString(d.resolve("hosts.toml"), "[host.\"ftp://x\"]\n");
        BerthException e = assertThrows(BerthException.class,
                () -> new HostsDirectory(dir.resolve("certs.d"), Duration.ofSeconds(1)).endpoints("reg.example", "reg.example"));
        assertTrue(e.getMessage().contains("http:// or https://"), e.getMessage());
    }

    @Tag("root")
    @Test
    void mirrorsAreTriedInOrderThenTheOrigin() throws Exception {
        try (RegistryFixture origin = RegistryFixture.start(dir.resolve("origin"));
             RegistryFixture emptyMirror = RegistryFixture.start(dir.resolve("mirror"));
             RegistryProxy originFront = new RegistryProxy(origin.url())) {
            TestImage.Pushed pushed = TestImage.of(TestLayer.create().file("f", "x").build(TestLayer.Compression.GZIP))
                    .push(origin.pusher(), "ns/app", "v1");
            Path certsD = dir.resolve("certs.d");
            Path d = Files.createDirectories(certsD.resolve(originFront.host()));
            // a dead mirror, a mirror without the image, then the origin
            Files.writeString(d.resolve("hosts.toml"), "[host.\"http://127.0.0.1:1\"]\n[host.\"" + emptyMirror.url() + "\"]\n");
            Reference ref = Reference.parse(originFront.host() + "/ns/app:v1");
            RegistryClient.Resolved r = client(certsD).resolve(ref, Credentials.NONE);
            assertEquals(pushed.manifestDigest(), r.manifest().digest().toString());
            assertEquals(1, originFront.hits("/manifests/v1"));

            // the image only on a mirror: the origin is never asked
            TestImage.Pushed mirrored = TestImage.of(TestLayer.create().file("g", "y").build(TestLayer.Compression.GZIP))
                    .push(emptyMirror.pusher(), "ns/only-on-mirror", "v1");
            Reference m = Reference.parse(originFront.host() + "/ns/only-on-mirror:v1");
            assertEquals(mirrored.manifestDigest(), client(certsD).resolve(m, Credentials.NONE).manifest().digest().toString());
            assertEquals(0, originFront.hits("/ns/only-on-mirror/manifests/v1"));

            // a pull-only mirror does not resolve tags
            Files.writeString(d.resolve("hosts.toml"), "[host.\"" + emptyMirror.url() + "\"]\ncapabilities = [\"pull\"]\n");
            BerthException e = assertThrows(BerthException.class, () -> client(certsD).resolve(m, Credentials.NONE));
            assertEquals(BerthException.Kind.NOT_FOUND, e.kind());
        }
    }
}
