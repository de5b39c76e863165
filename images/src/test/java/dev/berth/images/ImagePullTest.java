package dev.berth.images;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.common.BerthException;
import dev.berth.images.reference.Digest;
import dev.berth.images.registry.CredentialStore;
import dev.berth.images.registry.Credentials;
import dev.berth.images.registry.Platform;
import dev.berth.images.registry.RegistryClient;
import dev.berth.images.registry.RegistryHosts;
import dev.berth.images.store.ImageRecord;
import dev.berth.images.testing.RegistryFixture;
import dev.berth.images.testing.RegistryProxy;
import dev.berth.images.testing.TestImage;
import dev.berth.images.testing.TestLayer;
import dev.berth.images.testing.TestLayer.Compression;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Pulls from a real registry (docker-registry on loopback) into a real store, as root. */
@Tag("root")
class ImagePullTest {
    @TempDir
    static Path registryDir;
    static RegistryFixture registry;
    static TestLayer.Built base;
    static TestImage.Pushed app1;
    static TestImage.Pushed app2;

    @TempDir
    Path root;
    ImageService images;

    @BeforeAll
    static void startRegistry() throws Exception {
        registry = RegistryFixture.start(registryDir);
        base = TestLayer.busybox().build(Compression.GZIP);
        app1 = TestImage.of(base, TestLayer.create().file("app/one", "1").build(Compression.GZIP)).user("1000:1000")
                .push(registry.pusher(), "test/app1", "v1");
        app2 = TestImage.of(base, TestLayer.create().file("app/two", "2").build(Compression.GZIP)).user("nobody")
                .push(registry.pusher(), "test/app2", "v1");
    }

    @AfterAll
    static void stopRegistry() throws InterruptedException {
        if (registry != null) {
            registry.close();
        }
    }

    @BeforeEach
    void store() {
        images = service(root, Duration.ofMinutes(5));
    }

    @AfterEach
    void close() {
        images.close();
    }

    static ImageService service(Path root, Duration progressTimeout) {
        return new ImageService(root, new ImageService.Settings(progressTimeout, 3, Set.of(),
                new RegistryClient.Settings(Duration.ofSeconds(10), 3, Duration.ofMillis(50), new Platform("linux", "amd64", ""))),
                new RegistryHosts(Duration.ofSeconds(5)), CredentialStore.none());
    }

    ImageRecord pull(String ref) {
        return images.pull(ref, Credentials.NONE, Map.of());
    }

    /** Everything on disk is referenced by a record; nothing half-written remains. */
    static void assertConsistent(ImageService s) throws IOException {
        assertEquals(0, s.content().ingestCount(), "no download in progress remains");
        try (Stream<Path> l = Files.list(s.layers().root())) {
            assertEquals(List.of(), l.filter(p -> p.getFileName().toString().startsWith(".")).toList(), "no unpacking in progress remains");
        }
        Set<Digest> blobs = new HashSet<>();
        Set<Digest> chains = new HashSet<>();
        for (ImageRecord r : s.list()) {
            blobs.addAll(r.blobs());
            chains.addAll(r.chainIds());
        }
        assertEquals(blobs, s.content().list());
        assertEquals(chains, s.layers().list());
    }

    @Test
    void pullsAMultiLayerImageAndStoresTheSharedBaseLayerOnce() throws IOException {
        ImageRecord one = pull(registry.host() + "/test/app1:v1");
        assertEquals(app1.configDigest(), one.id().toString());
        assertEquals(List.of(registry.host() + "/test/app1:v1"), one.repoTags());
        assertEquals(List.of(registry.host() + "/test/app1@" + app1.manifestDigest()), one.repoDigests());
        assertEquals(1000L, one.uid());
        List<Path> lowers = images.lowerDirs(one.id());
        assertEquals(2, lowers.size());
        Path baseDir = lowers.get(1);
        assertArrayEquals(Files.readAllBytes(Path.of("/bin/busybox")), Files.readAllBytes(baseDir.resolve("bin/busybox")));
        assertEquals("1", Files.readString(lowers.get(0).resolve("app/one")));
        Object baseInode = Files.getAttribute(baseDir, "unix:ino");

        ImageRecord two = pull(registry.host() + "/test/app2:v1");
        assertEquals("nobody", two.username());
        assertEquals(-1L, two.uid());
        assertEquals(one.chainIds().get(0), two.chainIds().get(0));
        assertEquals(baseDir, images.lowerDirs(two.id()).get(1));
        assertEquals(baseInode, Files.getAttribute(baseDir, "unix:ino"), "the shared base layer is unpacked once");
        assertEquals(3, images.layers().list().size());
        assertEquals(2 + 2 + 3, images.content().list().size(), "2 manifests, 2 configs, 3 distinct layer blobs");
        assertConsistent(images);

        // pulling again is a no-op that keeps the same image
        assertEquals(one.id(), pull(registry.host() + "/test/app1:v1").id());
        assertEquals(2, images.list().size());

        // by digest: the same image, with the digest reference recorded
        ImageRecord byDigest = pull(registry.host() + "/test/app1@" + app1.manifestDigest());
        assertEquals(one.id(), byDigest.id());
        assertTrue(images.find(registry.host() + "/test/app1@" + app1.manifestDigest()).isPresent());
        assertTrue(images.find(one.id().toString()).isPresent());
        assertTrue(images.find(one.id().hex().substring(0, 12)).isPresent());
    }

    @Test
    void removingAnImageFreesOnlyWhatNoImageOrContainerUses() throws IOException {
        ImageRecord one = pull(registry.host() + "/test/app1:v1");
        ImageRecord two = pull(registry.host() + "/test/app2:v1");
        images.hold("ctr-1", two.id());
        images.remove(registry.host() + "/test/app1:v1");
        assertTrue(images.find(one.id().toString()).isEmpty());
        assertTrue(Files.isDirectory(images.layers().diffDir(one.chainIds().get(0))), "the shared base stays");
        assertFalse(Files.exists(images.layers().diffDir(one.chainIds().get(1))), "app1's own layer is gone");
        assertConsistent(images);

        images.remove(two.id().toString());
        assertTrue(images.list().isEmpty());
        for (Digest c : two.chainIds()) {
            assertTrue(Files.isDirectory(images.layers().diffDir(c)), "held by a container: kept");
        }
        images.remove(two.id().toString()); // idempotent
        images.remove(registry.host() + "/never/pulled:1");

        // holds survive a restart
        images.close();
        images = service(root, Duration.ofMinutes(5));
        for (Digest c : two.chainIds()) {
            assertTrue(Files.isDirectory(images.layers().diffDir(c)));
        }
        images.release("ctr-1");
        images.release("ctr-1");
        assertEquals(Set.of(), images.layers().list());
        assertEquals(Set.of(), images.content().list());
        try (Stream<Path> s = Files.walk(images.layers().root())) {
            assertEquals(Set.of(images.layers().root()), s.filter(p -> !Files.isDirectory(p) || p.equals(images.layers().root())).collect(Collectors.toSet()));
        }
    }

    @Test
    void whatACrashLeftHalfDoneIsSweptAtStart() throws Exception {
        ImageRecord one = pull(registry.host() + "/test/app1:v1");
        images.close();
        // a download, an unpacking, an unrecorded blob and an unrecorded layer, as a crash leaves them
        Files.writeString(root.resolve("content/ingest/" + "ab".repeat(32) + ".1234"), "partial");
        Files.createDirectories(root.resolve("layers/.tmp-" + "cd".repeat(32) + "-1/diff/etc"));
        Path orphanBlob = root.resolve("content/blobs/sha256/" + "ef".repeat(32));
        Files.writeString(orphanBlob, "orphan");
        Path orphanLayer = Files.createDirectories(root.resolve("layers/sha256/" + "12".repeat(32) + "/diff"));
        images = service(root, Duration.ofMinutes(5));
        assertFalse(Files.exists(orphanBlob));
        assertFalse(Files.exists(orphanLayer));
        assertConsistent(images);
        assertEquals(List.of(one), images.list());
        assertEquals(2, images.lowerDirs(one.id()).size());
    }

    @Test
    void recordsSurviveARestart() {
        ImageRecord one = pull(registry.host() + "/test/app1:v1");
        images.close();
        images = service(root, Duration.ofMinutes(5));
        assertEquals(List.of(one), images.list());
        assertEquals(2, images.lowerDirs(one.id()).size());
    }

    @Test
    void whiteoutsAndOpaqueDirectoriesTakeEffectUnderOverlayfs() throws Exception {
        TestLayer.Built lower = TestLayer.create().file("etc/gone", "x").file("etc/kept", "k")
                .file("var/cache/old1", "o").file("var/cache/old2", "o").build(Compression.GZIP);
        TestLayer.Built upper = TestLayer.create().whiteout("etc/gone").opaque("var/cache").file("var/cache/new", "n")
                .build(Compression.GZIP);
        TestImage.of(lower, upper).push(registry.pusher(), "test/whiteout", "v1");
        ImageRecord r = pull(registry.host() + "/test/whiteout:v1");
        Path mnt = Files.createDirectory(root.resolve("mnt"));
        String lowerdir = images.lowerDirs(r.id()).stream().map(Path::toString).collect(Collectors.joining(":"));
        run("mount", "-t", "overlay", "overlay", "-o", "ro,lowerdir=" + lowerdir, mnt.toString());
        try {
            assertFalse(Files.exists(mnt.resolve("etc/gone"), LinkOption.NOFOLLOW_LINKS));
            assertEquals("k", Files.readString(mnt.resolve("etc/kept")));
            try (Stream<Path> s = Files.list(mnt.resolve("var/cache"))) {
                assertEquals(List.of("new"), s.map(p -> p.getFileName().toString()).toList());
            }
        } finally {
            run("umount", mnt.toString());
        }
    }

    static void run(String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertEquals(0, p.waitFor(), String.join(" ", cmd) + ": " + out);
    }

    @Test
    void choosesThisPlatformFromAnIndexOrManifestList() throws Exception {
        for (boolean docker : new boolean[] {false, true}) {
            String repo = docker ? "test/multi-docker" : "test/multi-oci";
            TestImage.Pushed arm = TestImage.of(TestLayer.create().file("arch", "arm64").build(Compression.GZIP))
                    .platform("linux", "arm64", "v8").push(registry.pusher(), repo, null);
            TestImage.Pushed armv7 = TestImage.of(TestLayer.create().file("arch", "armv7").build(Compression.GZIP))
                    .platform("linux", "arm", "v7").push(registry.pusher(), repo, null);
            TestImage.Pushed amd = TestImage.of(TestLayer.create().file("arch", "amd64").build(Compression.GZIP))
                    .platform("linux", "amd64", "").push(registry.pusher(), repo, null);
            String index = TestImage.pushIndex(registry.pusher(), repo, "v1", docker,
                    List.of(new Object[] {"linux/arm64/v8", arm}, new Object[] {"linux/arm/v7", armv7}, new Object[] {"linux/amd64", amd}));
            ImageRecord r = pull(registry.host() + "/" + repo + ":v1");
            assertEquals(amd.configDigest(), r.id().toString());
            assertEquals("amd64", Files.readString(images.lowerDirs(r.id()).get(0).resolve("arch")));
            assertEquals(List.of(registry.host() + "/" + repo + "@" + index), r.repoDigests(), "the repo digest is the index's");
            assertEquals(index, r.indexDigest().toString());

            ImageService armService = new ImageService(root.resolve("arm-" + docker), new ImageService.Settings(Duration.ofMinutes(1), 2, Set.of(),
                    new RegistryClient.Settings(Duration.ofSeconds(10), 2, Duration.ofMillis(50), new Platform("linux", "arm", "v8"))),
                    new RegistryHosts(Duration.ofSeconds(5)), CredentialStore.none());
            try {
                ImageRecord a = armService.pull(registry.host() + "/" + repo + ":v1", Credentials.NONE, Map.of());
                assertEquals(armv7.configDigest(), a.id().toString(), "an older ARM variant runs on a newer CPU");
            } finally {
                armService.close();
            }
            ImageService s390 = new ImageService(root.resolve("s390-" + docker), new ImageService.Settings(Duration.ofMinutes(1), 2, Set.of(),
                    new RegistryClient.Settings(Duration.ofSeconds(10), 2, Duration.ofMillis(50), new Platform("linux", "s390x", ""))),
                    new RegistryHosts(Duration.ofSeconds(5)), CredentialStore.none());
            try {
                BerthException e = assertThrows(BerthException.class, () -> s390.pull(registry.host() + "/" + repo + ":v1", Credentials.NONE, Map.of()));
                assertEquals(BerthException.Kind.NOT_FOUND, e.kind());
                assertTrue(e.getMessage().contains("linux/s390x"), e.getMessage());
                assertConsistent(s390);
            } finally {
                s390.close();
            }
        }
    }

    @Test
    void pullsPlainGzipAndZstdLayersAndDockerSchema2() throws Exception {
        TestLayer.Built plain = TestLayer.create().file("plain", "p").build(Compression.NONE);
        TestLayer.Built gz = TestLayer.create().file("gz", "g").build(Compression.GZIP);
        TestLayer.Built zst = TestLayer.create().file("zst", "z").build(Compression.ZSTD);
        TestImage.of(plain, gz, zst).push(registry.pusher(), "test/compressions", "v1");
        ImageRecord r = pull(registry.host() + "/test/compressions:v1");
        List<Path> l = images.lowerDirs(r.id());
        assertEquals("z", Files.readString(l.get(0).resolve("zst")));
        assertEquals("g", Files.readString(l.get(1).resolve("gz")));
        assertEquals("p", Files.readString(l.get(2).resolve("plain")));

        TestImage.of(gz).docker().push(registry.pusher(), "test/docker", "v1");
        ImageRecord d = pull(registry.host() + "/test/docker:v1");
        assertEquals("application/vnd.docker.distribution.manifest.v2+json", d.manifestMediaType());
        assertConsistent(images);
    }

    @Test
    void unknownImagesAreNotFoundNamingRegistryAndStatus() throws IOException {
        BerthException e = assertThrows(BerthException.class, () -> pull(registry.host() + "/test/app1:nope"));
        assertEquals(BerthException.Kind.NOT_FOUND, e.kind());
        assertTrue(e.getMessage().contains(registry.host()) && e.getMessage().contains("404") && e.getMessage().contains("app1:nope"), e.getMessage());
        BerthException bad = assertThrows(BerthException.class, () -> pull("Not A Reference"));
        assertEquals(BerthException.Kind.INVALID_ARGUMENT, bad.kind());
        BerthException down = assertThrows(BerthException.class, () -> pull("127.0.0.1:1/nothing:here"));
        assertEquals(BerthException.Kind.UNAVAILABLE, down.kind());
        assertConsistent(images);
    }

    @Test
    void aCorruptedBlobFailsThePullAndLeavesNothing() throws Exception {
        TestLayer.Built good = TestLayer.create().file("data", "some content that will be corrupted").build(Compression.GZIP);
        TestImage.of(base, good).push(registry.pusher(), "test/corrupt", "v1");
        Path data = registry.blobFile(good.digest());
        byte[] bytes = Files.readAllBytes(data);
        bytes[bytes.length / 2] ^= 0x55;
        Files.write(data, bytes);
        BerthException e = assertThrows(BerthException.class, () -> pull(registry.host() + "/test/corrupt:v1"));
        assertEquals(BerthException.Kind.FAILED_PRECONDITION, e.kind());
        assertTrue(e.getMessage().contains(good.digest()) && e.getMessage().contains("does not match"), e.getMessage());
        assertTrue(images.list().isEmpty());
        assertConsistent(images);
        assertEquals(Set.of(), images.content().list());
        assertEquals(Set.of(), images.layers().list());
    }

    @Test
    void aLayerThatUnpacksFineFromABlobNotMatchingItsDigestIsNotKept() throws Exception {
        TestLayer.Built good = TestLayer.create().file("data", "unpacks the same").build(Compression.GZIP);
        TestImage.of(good).push(registry.pusher(), "test/gzip-header", "v1");
        Path data = registry.blobFile(good.digest());
        byte[] bytes = Files.readAllBytes(data);
        bytes[4] ^= 0x11; // the gzip header's mtime: the content decompresses the same, the blob's digest differs
        Files.write(data, bytes);
        BerthException e = assertThrows(BerthException.class, () -> pull(registry.host() + "/test/gzip-header:v1"));
        assertEquals(BerthException.Kind.FAILED_PRECONDITION, e.kind());
        assertTrue(e.getMessage().contains(good.digest()) && e.getMessage().contains("does not match"), e.getMessage());
        assertConsistent(images);
        assertEquals(Set.of(), images.content().list());
        assertEquals(Set.of(), images.layers().list());
    }

    @Test
    void aHostileLayerFailsThePullAndWritesNothingOutside() throws Exception {
        Path outside = Files.createDirectory(root.resolve("outside"));
        TestLayer.Built evil = TestLayer.create().symlink("escape", outside.toString()).file("escape/pwned", "x").build(Compression.GZIP);
        TestImage.of(base, evil).push(registry.pusher(), "test/hostile", "v1");
        BerthException e = assertThrows(BerthException.class, () -> pull(registry.host() + "/test/hostile:v1"));
        assertTrue(e.getMessage().contains("refusing"), e.getMessage());
        try (Stream<Path> s = Files.list(outside)) {
            assertEquals(0, s.count());
        }
        assertConsistent(images);
        assertEquals(Set.of(), images.layers().list());
    }

    @Test
    void concurrentPullsDownloadEachBlobOnce() throws Exception {
        try (RegistryProxy proxy = new RegistryProxy(registry.url())) {
            String ref1 = proxy.host() + "/test/app1:v1";
            String ref2 = proxy.host() + "/test/app2:v1";
            List<CompletableFuture<ImageRecord>> pulls = List.of(
                    CompletableFuture.supplyAsync(() -> pull(ref1)), CompletableFuture.supplyAsync(() -> pull(ref1)),
                    CompletableFuture.supplyAsync(() -> pull(ref2)), CompletableFuture.supplyAsync(() -> pull(ref2)));
            CompletableFuture.allOf(pulls.toArray(CompletableFuture[]::new)).join();
            assertEquals(1, proxy.hits("/blobs/" + base.digest()), "the shared base blob is downloaded once");
            assertEquals(1, proxy.hits("/blobs/" + app1.layers().get(1).digest()));
            assertEquals(1, proxy.hits("/blobs/" + app2.layers().get(1).digest()));
            assertEquals(2, images.list().size());
            assertConsistent(images);
        }
    }

    @Test
    void transientRegistryErrorsAreRetriedWithBackoff() throws Exception {
        try (RegistryProxy proxy = new RegistryProxy(registry.url())) {
            proxy.failNext(2, 503);
            ImageRecord r = pull(proxy.host() + "/test/app1:v1");
            assertEquals(app1.configDigest(), r.id().toString());
            assertEquals(3, proxy.hits("/test/app1/manifests/v1"), "two failures, then success");

            proxy.failNext(5, 503);
            BerthException e = assertThrows(BerthException.class, () -> pull(proxy.host() + "/test/app2:v1"));
            assertEquals(BerthException.Kind.UNAVAILABLE, e.kind());
            assertTrue(e.getMessage().contains("503") && e.getMessage().contains(proxy.host()), e.getMessage());

            proxy.failNext(1, 403);
            BerthException denied = assertThrows(BerthException.class, () -> pull(proxy.host() + "/test/app2:v1"));
            assertEquals(BerthException.Kind.PERMISSION_DENIED, denied.kind());
            assertConsistent(images);
        }
    }

    static byte[] random(int n) {
        byte[] b = new byte[n];
        new Random(n).nextBytes(b);
        return b;
    }

    @Test
    void aRegistryStoppedMidDownloadLeavesNoPartialEntriesAndALaterPullCompletes(@TempDir Path dir) throws Exception {
        try (RegistryFixture own = RegistryFixture.start(dir); RegistryProxy proxy = new RegistryProxy(own.url())) {
            TestLayer.Built big = TestLayer.create().file("big", random(8 << 20), 0644).build(Compression.GZIP);
            TestImage.of(base, big).push(own.pusher(), "test/big", "v1");
            proxy.stallBlobsLargerThan(4 << 20);
            String ref = proxy.host() + "/test/big:v1";
            CompletableFuture<ImageRecord> pull = CompletableFuture.supplyAsync(() -> pull(ref));
            assertTrue(proxy.awaitStalled(60), "the download reached half-way");
            own.stop();
            proxy.releaseStalled();
            BerthException e = assertThrows(BerthException.class, () -> {
                try {
                    pull.join();
                } catch (java.util.concurrent.CompletionException ce) {
                    throw ce.getCause();
                }
            });
            assertEquals(BerthException.Kind.UNAVAILABLE, e.kind(), e.getMessage());
            assertTrue(images.list().isEmpty());
            assertConsistent(images);
            assertFalse(images.content().has(Digest.parse(big.digest())));

            own.start();
            proxy.passThrough();
            ImageRecord r = pull(ref);
            assertArrayEquals(random(8 << 20), Files.readAllBytes(images.lowerDirs(r.id()).get(0).resolve("big")));
            assertConsistent(images);
        }
    }

    @Test
    void aPullThatMakesNoProgressIsCancelled(@TempDir Path dir) throws Exception {
        images.close();
        images = service(root, Duration.ofMillis(500));
        try (RegistryProxy proxy = new RegistryProxy(registry.url())) {
            TestLayer.Built big = TestLayer.create().file("big", random(3 << 20), 0644).build(Compression.NONE);
            TestImage.of(big).push(registry.pusher(), "test/stall", "v1");
            proxy.stallBlobsLargerThan(1 << 20);
            BerthException e = assertThrows(BerthException.class, () -> pull(proxy.host() + "/test/stall:v1"));
            assertEquals(BerthException.Kind.DEADLINE_EXCEEDED, e.kind(), e.getMessage());
            assertTrue(e.getMessage().contains("no progress"), e.getMessage());
            assertConsistent(images);
            assertTrue(images.list().isEmpty());
            assertNotEquals(0, proxy.hits("/blobs/" + big.digest()));
        }
    }

    @Test
    void aRegistryThatStallsAfterTheManifestHeadersIsCancelled() throws Exception {
        images.close();
        images = service(root, Duration.ofSeconds(2)); // long enough that a loaded machine does not look stalled
        try (RegistryProxy proxy = new RegistryProxy(registry.url())) {
            proxy.stallAfterHeaders("/manifests/");
            String ref = proxy.host() + "/test/app1:v1";
            BerthException e = assertThrows(BerthException.class, () -> pull(ref));
            assertEquals(BerthException.Kind.DEADLINE_EXCEEDED, e.kind(), e.getMessage());
            assertTrue(e.getMessage().contains("registry " + proxy.host()) && e.getMessage().contains(ref)
                    && e.getMessage().contains("no progress") && e.getMessage().contains("manifest"), e.getMessage());
            assertTrue(proxy.awaitStalled(0));
            assertConsistent(images);
            assertTrue(images.list().isEmpty());
            // the service is not worse for it
            proxy.passThrough();
            assertEquals(app1.configDigest(), pull(ref).id().toString());
        }
    }

    @Test
    void aRegistryThatStallsAfterABlobsHeadersIsCancelled() throws Exception {
        images.close();
        images = service(root, Duration.ofSeconds(2)); // long enough that a loaded machine does not look stalled
        try (RegistryProxy proxy = new RegistryProxy(registry.url())) {
            proxy.stallAfterHeaders("/blobs/" + base.digest());
            String ref = proxy.host() + "/test/app2:v1";
            BerthException e = assertThrows(BerthException.class, () -> pull(ref));
            assertEquals(BerthException.Kind.DEADLINE_EXCEEDED, e.kind(), e.getMessage());
            assertTrue(e.getMessage().contains("registry " + proxy.host()) && e.getMessage().contains(ref)
                    && e.getMessage().contains("no progress") && e.getMessage().contains("layer " + base.digest()), e.getMessage());
            assertEquals(1, proxy.hits("/blobs/" + base.digest()), "a stalled download is not retried");
            assertConsistent(images);
            assertTrue(images.list().isEmpty());
        }
    }

    @Test
    void aPullLogsItsProgressWhileItRuns() throws Exception {
        ch.qos.logback.classic.Logger logger = (ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger(ImageService.class);
        ch.qos.logback.core.read.ListAppender<ch.qos.logback.classic.spi.ILoggingEvent> lines = new ch.qos.logback.core.read.ListAppender<>();
        lines.start();
        logger.addAppender(lines);
        TestLayer.Built big = TestLayer.create().file("big", random(3 << 20), 0644).build(Compression.NONE);
        TestImage.Pushed pushed = TestImage.of(base, big).push(registry.pusher(), "test/progress", "v1");
        try (RegistryProxy proxy = new RegistryProxy(registry.url())) {
            proxy.stallBlobsLargerThan(2 << 20);
            String ref = proxy.host() + "/test/progress:v1";
            CompletableFuture<ImageRecord> pull = CompletableFuture.supplyAsync(() -> pull(ref));
            assertTrue(proxy.awaitStalled(60));
            java.util.regex.Pattern line = java.util.regex.Pattern.compile(
                    "pulling " + java.util.regex.Pattern.quote(ref) + ": (\\d+) of (\\d+) bytes, (\\d+) of 2 layers \\(\\d+ s\\)");
            java.util.regex.Matcher m = null;
            for (int i = 0; i < 600 && m == null; i++) {
                synchronized (lines.list) {
                    for (ch.qos.logback.classic.spi.ILoggingEvent ev : lines.list) {
                        java.util.regex.Matcher candidate = line.matcher(ev.getFormattedMessage());
                        if (candidate.matches() && ev.getLevel() == ch.qos.logback.classic.Level.INFO) {
                            m = candidate;
                        }
                    }
                }
                Thread.sleep(100);
            }
            proxy.passThrough(); // the stalled response ends short; the retry completes the pull
            assertEquals(pushed.configDigest(), pull.get(60, java.util.concurrent.TimeUnit.SECONDS).id().toString());
            assertTrue(m != null, "a progress line was logged while the download stalled half-way");
            long total = Long.parseLong(m.group(2));
            assertEquals(base.blob().length + big.blob().length + pushed.configSize(), total, m.group());
            long done = Long.parseLong(m.group(1));
            assertTrue(done >= big.blob().length / 2 && done < total, m.group());
            assertTrue(Integer.parseInt(m.group(3)) <= 1, m.group());
        } finally {
            logger.detachAppender(lines);
        }
    }
}
