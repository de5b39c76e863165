package dev.berth.images;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.common.BerthException;
import dev.berth.images.reference.Digest;
import dev.berth.images.registry.Credentials;
import dev.berth.images.store.ImageRecord;
import dev.berth.images.testing.Pusher;
import dev.berth.images.testing.RegistryFixture;
import dev.berth.images.testing.RegistryProxy;
import dev.berth.images.testing.TestImage;
import dev.berth.images.testing.TestLayer;
import dev.berth.images.testing.TestLayer.Compression;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Pulls of hostile images, cancelled pulls, pulls competing for the download pool, and who can read the store; as root. */
@Tag("root")
class HostileImagePullTest {
    @TempDir
    static Path registryDir;
    static RegistryFixture registry;

    @TempDir
    Path root;
    ImageService images;

    @BeforeAll
    static void startRegistry() throws Exception {
        registry = RegistryFixture.start(registryDir);
    }

    @AfterAll
    static void stopRegistry() throws InterruptedException {
        if (registry != null) {
            registry.close();
        }
    }

    @BeforeEach
    void store() {
        images = ImagePullTest.service(root, Duration.ofMinutes(5));
    }

    @AfterEach
    void close() {
        images.close();
    }

    static byte[] random(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    private static Throwable failure(CompletableFuture<?> f) {
        try {
            f.join();
        } catch (CompletionException e) {
            return e.getCause();
        }
        throw new AssertionError("the pull succeeded");
    }

    @Test
    void aConfigLargerThanEightMebibytesIsRefusedBeforeItIsFetched() throws Exception {
        TestLayer.Built layer = TestLayer.create().file("f", "x").build(Compression.GZIP);
        byte[] config = Pusher.utf8("{\"architecture\":\"amd64\",\"os\":\"linux\",\"pad\":\"" + "a".repeat(9 << 20)
                + "\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" + layer.diffId() + "\"]}}");
        Pusher p = registry.pusher();
        String configDigest = p.blob("test/bigconfig", config);
        p.blob("test/bigconfig", layer.blob());
        byte[] manifest = Pusher.utf8("{\"schemaVersion\":2,\"mediaType\":\"" + TestImage.OCI_MANIFEST + "\",\"config\":{\"mediaType\":"
                + "\"application/vnd.oci.image.config.v1+json\",\"digest\":\"" + configDigest + "\",\"size\":" + config.length + "},\"layers\":["
                + "{\"mediaType\":\"" + layer.mediaType() + "\",\"digest\":\"" + layer.digest() + "\",\"size\":" + layer.blob().length + "}]}");
        p.manifest("test/bigconfig", "v1", TestImage.OCI_MANIFEST, manifest);
        try (RegistryProxy proxy = new RegistryProxy(registry.url())) {
            BerthException e = assertThrows(BerthException.class,
                    () -> images.pull(proxy.host() + "/test/bigconfig:v1", Credentials.NONE, Map.of()));
            assertEquals(BerthException.Kind.FAILED_PRECONDITION, e.kind(), e.getMessage());
            assertTrue(e.getMessage().contains("more than the 8388608 accepted"), e.getMessage());
            assertEquals(0, proxy.hits("/blobs/" + configDigest), "the config is not downloaded");
        }
        ImagePullTest.assertConsistent(images);
    }

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS) // a pull that cannot be cancelled would wait for the 5 minute progress timeout
    void aCancelledPullStopsAndLeavesNothing() throws Exception {
        TestLayer.Built small = TestLayer.create().file("small", "s").build(Compression.GZIP);
        TestLayer.Built big = TestLayer.create().file("big", random(3 << 20, 1), 0644).build(Compression.NONE);
        TestImage.of(small, big).push(registry.pusher(), "test/cancel", "v1");
        try (RegistryProxy proxy = new RegistryProxy(registry.url())) {
            proxy.stallBlobsLargerThan(1 << 20);
            PullCancellation cancel = new PullCancellation();
            CompletableFuture<ImageRecord> pull = CompletableFuture.supplyAsync(
                    () -> images.pull(proxy.host() + "/test/cancel:v1", Credentials.NONE, Map.of(), cancel));
            assertTrue(proxy.awaitStalled(60), "the download reached half-way");
            cancel.cancel();
            Throwable t = failure(pull);
            assertTrue(t instanceof BerthException be && be.kind() == BerthException.Kind.CANCELLED, String.valueOf(t));
            assertTrue(t.getMessage().contains("cancelled by its caller"), t.getMessage());
            ImagePullTest.assertConsistent(images);
            assertTrue(images.list().isEmpty());
            proxy.passThrough();
            // a later pull is not worse for it
            assertEquals(1, images.pull(proxy.host() + "/test/cancel:v1", Credentials.NONE, Map.of()).chainIds().size() - 1);
        }
    }

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS) // without fairness the small pull waits for the big one's 5 minute progress timeout
    void aPullOfManyLayersCannotStarveAnother() throws Exception {
        List<TestLayer.Built> bigLayers = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            bigLayers.add(TestLayer.create().file("big" + i, random(2 << 20, 10 + i), 0644).build(Compression.NONE));
        }
        TestImage.of(bigLayers.toArray(TestLayer.Built[]::new)).push(registry.pusher(), "test/many", "v1");
        TestImage.of(TestLayer.create().file("a", "a").build(Compression.GZIP), TestLayer.create().file("b", "b").build(Compression.GZIP))
                .push(registry.pusher(), "test/small", "v1");
        try (RegistryProxy proxy = new RegistryProxy(registry.url())) {
            proxy.stallBlobsLargerThan(1 << 20);
            PullCancellation cancelMany = new PullCancellation();
            CompletableFuture<ImageRecord> many = CompletableFuture.supplyAsync(
                    () -> images.pull(proxy.host() + "/test/many:v1", Credentials.NONE, Map.of(), cancelMany));
            // every download thread (3) and the pull's own thread are stuck on its blobs
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (bigLayers.stream().mapToInt(l -> proxy.hits("/blobs/" + l.digest())).sum() < 4 && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertTrue(bigLayers.stream().mapToInt(l -> proxy.hits("/blobs/" + l.digest())).sum() >= 4);

            ImageRecord small = images.pull(proxy.host() + "/test/small:v1", Credentials.NONE, Map.of());
            assertEquals(2, images.lowerDirs(small.id()).size());

            cancelMany.cancel();
            Throwable t = failure(many);
            assertTrue(t instanceof BerthException be && be.kind() == BerthException.Kind.CANCELLED, String.valueOf(t));
            assertTrue(bigLayers.stream().mapToInt(l -> proxy.hits("/blobs/" + l.digest())).sum() < 6,
                    "layers not begun when the pull was cancelled are skipped");
            ImagePullTest.assertConsistent(images);
        }
    }

    @Test
    void theStoreIsClosedToOtherUsersAndAnOlderOpenStoreIsClosedOnStart() throws Exception {
        images.close();
        // the test's directories traversable, as /var/lib is, and an older berth's store left 0755
        Files.setPosixFilePermissions(root, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path store = root.resolve("images");
        for (String d : List.of("content/blobs/sha256", "content/ingest", "layers/sha256", "metadata", "holds")) {
            Files.createDirectories(store.resolve(d));
        }
        try (var walk = Files.walk(store)) {
            for (Path p : walk.toList()) {
                Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
            }
        }
        images = ImagePullTest.service(store, Duration.ofMinutes(5));
        for (String d : List.of("", "content", "content/blobs", "content/blobs/sha256", "content/ingest", "layers", "layers/sha256", "metadata",
                "holds")) {
            assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(store.resolve(d), LinkOption.NOFOLLOW_LINKS)),
                    "images/" + d);
        }

        byte[] busybox = Files.readAllBytes(Path.of("/bin/busybox"));
        TestLayer.Built layer = TestLayer.create().dir("bin", 0755).file("bin/suidsh", busybox, 04755).charDevice("dev/mem", 1, 1, 0666)
                .build(Compression.GZIP);
        TestImage.Pushed pushed = TestImage.of(layer).push(registry.pusher(), "test/suid", "v1");
        ImageRecord r = images.pull(registry.host() + "/test/suid:v1", Credentials.NONE, Map.of());
        Path diff = images.lowerDirs(r.id()).get(0);
        Path blob = images.content().path(Digest.parse(pushed.layers().get(0).digest()));
        Path config = images.content().path(r.id());
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(blob)));
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(config)));
        assertEquals(04755, (Integer) Files.getAttribute(diff.resolve("bin/suidsh"), "unix:mode") & 07777, "layer contents keep their modes");

        // a local user: nobody
        assertEquals(0, asNobody("test", "-x", "/bin/busybox"), "the check itself works as nobody");
        assertEquals(0, asNobody("stat", root.toString()), "the check itself reaches the test directory");
        assertNotEquals(0, asNobody("stat", diff.resolve("bin/suidsh").toString()), "a setuid file in a layer is unreachable");
        assertNotEquals(0, asNobody(diff.resolve("bin/suidsh").toString(), "true"), "and cannot be executed");
        assertNotEquals(0, asNobody("head", "-c", "1", diff.resolve("dev/mem").toString()), "a device node in a layer cannot be opened");
        assertNotEquals(0, asNobody("cat", blob.toString()), "a blob cannot be read");
        assertNotEquals(0, asNobody("ls", store.resolve("metadata").toString()), "image records cannot be listed");
    }

    private static int asNobody(String... argv) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"));
        cmd.addAll(List.of(argv));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        return p.waitFor();
    }
}
