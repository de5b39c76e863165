package dev.berth.images.archive;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.common.BerthException;
import dev.berth.images.ImageService;
import dev.berth.images.registry.CredentialStore;
import dev.berth.images.registry.Platform;
import dev.berth.images.registry.RegistryHosts;
import dev.berth.images.store.ImageRecord;
import dev.berth.images.testing.Pusher;
import dev.berth.images.testing.TestImage;
import dev.berth.images.testing.TestLayer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPOutputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Offline import of OCI layouts and docker save archives. */
@Tag("root")
class ImageArchiveTest {
    @TempDir
    Path tmp;
    ImageService images;

    @BeforeEach
    void open() {
        images = new ImageService(tmp.resolve("store"), ImageService.Settings.defaults(), new RegistryHosts(Duration.ofSeconds(1)), CredentialStore.none());
    }

    @AfterEach
    void close() {
        images.close();
    }

    static void writeTar(Path file, Map<String, byte[]> files, boolean gzip) throws IOException {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        try (OutputStream raw = gzip ? new GZIPOutputStream(buf) : buf; TarArchiveOutputStream out = new TarArchiveOutputStream(raw)) {
            out.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
            for (Map.Entry<String, byte[]> e : files.entrySet()) {
                TarArchiveEntry t = new TarArchiveEntry(e.getKey());
                t.setSize(e.getValue().length);
                out.putArchiveEntry(t);
                out.write(e.getValue());
                out.closeArchiveEntry();
            }
        }
        Files.write(file, buf.toByteArray());
    }

    @Test
    void importsADockerSaveArchive() throws Exception {
        TestLayer.Built base = TestLayer.busybox().build(TestLayer.Compression.NONE);
        TestLayer.Built top = TestLayer.create().file("hello", "world").build(TestLayer.Compression.NONE);
        TestImage image = TestImage.of(base, top).user("0");
        byte[] config = image.config();
        String configName = Pusher.sha256(config).substring(7) + ".json";
        byte[] manifest = ("[{\"Config\":\"" + configName + "\",\"RepoTags\":[\"busybox:offline\"],\"Layers\":[\"a/layer.tar\",\"b/layer.tar\"]}]")
                .getBytes(StandardCharsets.UTF_8);
        Path archive = tmp.resolve("save.tar.gz");
        writeTar(archive, new java.util.LinkedHashMap<>(Map.of("manifest.json", manifest, configName, config,
                "a/layer.tar", base.blob(), "b/layer.tar", top.blob())), true);
        List<ImageRecord> r = ImageArchive.importFile(images, archive, Platform.parse("linux/amd64"));
        assertEquals(1, r.size());
        assertEquals(List.of("docker.io/library/busybox:offline"), r.get(0).repoTags());
        assertEquals(Pusher.sha256(config), r.get(0).id().toString());
        assertEquals(0L, r.get(0).uid());
        List<Path> lowers = images.lowerDirs(r.get(0).id());
        assertEquals("world", Files.readString(lowers.get(0).resolve("hello")));
        assertTrue(Files.isExecutable(lowers.get(1).resolve("bin/busybox")));
        assertTrue(images.find("busybox:offline").isPresent());
        try (var s = Files.list(images.root())) {
            assertTrue(s.noneMatch(p -> p.getFileName().toString().startsWith(".import-")), "the extracted archive is removed");
        }
    }

    @Test
    void importsAnOciLayoutDirectoryWithAnIndex() throws Exception {
        Path layout = Files.createDirectories(tmp.resolve("layout/blobs/sha256"));
        TestLayer.Built amdLayer = TestLayer.create().file("arch", "amd64").build(TestLayer.Compression.GZIP);
        TestLayer.Built armLayer = TestLayer.create().file("arch", "arm64").build(TestLayer.Compression.ZSTD);
        String amd = writeImage(layout, TestImage.of(amdLayer), amdLayer);
        String arm = writeImage(layout, TestImage.of(armLayer).platform("linux", "arm64", ""), armLayer);
        byte[] index = ("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":["
                + "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" + arm.split(" ")[0] + "\",\"size\":" + arm.split(" ")[1]
                + ",\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}},"
                + "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" + amd.split(" ")[0] + "\",\"size\":" + amd.split(" ")[1]
                + ",\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}}]}").getBytes(StandardCharsets.UTF_8);
        String indexDigest = put(layout, index);
        Path root = layout.getParent().getParent();
        Files.writeString(root.resolve("oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}");
        Files.writeString(root.resolve("index.json"), "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
                + "\"digest\":\"" + indexDigest + "\",\"size\":" + index.length
                + ",\"annotations\":{\"org.opencontainers.image.ref.name\":\"example.com/multi:2\"}}]}");
        List<ImageRecord> r = ImageArchive.importFile(images, root, Platform.parse("linux/amd64"));
        assertEquals(List.of("example.com/multi:2"), r.get(0).repoTags());
        assertEquals("amd64", Files.readString(images.lowerDirs(r.get(0).id()).get(0).resolve("arch")));
    }

    private static String put(Path blobs, byte[] content) throws IOException {
        String d = Pusher.sha256(content);
        Files.write(blobs.resolve(d.substring(7)), content);
        return d;
    }

    /** Writes config, layer and manifest blobs; returns "digest size" of the manifest. */
    private static String writeImage(Path blobs, TestImage image, TestLayer.Built layer) throws IOException {
        byte[] config = image.config();
        String c = put(blobs, config);
        String l = put(blobs, layer.blob());
        byte[] manifest = ("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":"
                + "\"application/vnd.oci.image.config.v1+json\",\"digest\":\"" + c + "\",\"size\":" + config.length + "},\"layers\":[{\"mediaType\":\""
                + layer.mediaType() + "\",\"digest\":\"" + l + "\",\"size\":" + layer.blob().length + "}]}").getBytes(StandardCharsets.UTF_8);
        return put(blobs, manifest) + " " + manifest.length;
    }

    @Test
    void refusesArchivesThatLeaveTheirDirectory() throws Exception {
        Path archive = tmp.resolve("evil.tar");
        writeTar(archive, Map.of("../../evil", "x".getBytes(StandardCharsets.UTF_8)), false);
        BerthException e = assertThrows(BerthException.class, () -> ImageArchive.importFile(images, archive, Platform.parse("linux/amd64")));
        assertEquals(BerthException.Kind.INVALID_ARGUMENT, e.kind());
        assertTrue(Files.notExists(tmp.resolve("evil")) && Files.notExists(tmp.getParent().resolve("evil")));
        BerthException missing = assertThrows(BerthException.class, () -> ImageArchive.importFile(images, tmp.resolve("none.tar"), Platform.host()));
        assertEquals(BerthException.Kind.NOT_FOUND, missing.kind());
        Path junk = tmp.resolve("junk.tar");
        writeTar(junk, Map.of("hello.txt", "x".getBytes(StandardCharsets.UTF_8)), false);
        assertEquals(BerthException.Kind.INVALID_ARGUMENT,
                assertThrows(BerthException.class, () -> ImageArchive.importFile(images, junk, Platform.host())).kind());
    }
}
