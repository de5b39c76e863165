package dev.berth.images.layer;

import dev.berth.common.Trees;
import dev.berth.common.BerthException;
import dev.berth.host.Libc;
import dev.berth.images.reference.Digest;
import dev.berth.images.testing.TestLayer;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Unpacking layers as root: attributes kept, whiteouts converted, hostile entries refused. */
@Tag("root")
class LayerUnpackerTest {
    @TempDir
    Path tmp;
    Path layer;
    Path outside;

    @BeforeEach
    void dirs() throws IOException {
        layer = Files.createDirectory(tmp.resolve("layer"));
        outside = Files.createDirectory(tmp.resolve("outside"));
    }

    private LayerUnpacker.Result unpack(TestLayer l, TestLayer.Compression c) throws IOException {
        TestLayer.Built b = l.build(c);
        return LayerUnpacker.unpack(new ByteArrayInputStream(b.blob()), layer, Digest.parse(b.diffId()));
    }

    private static int mode(Path p) throws IOException {
        return (Integer) Files.getAttribute(p, "unix:mode", LinkOption.NOFOLLOW_LINKS);
    }

    private static int uid(Path p) throws IOException {
        return (Integer) Files.getAttribute(p, "unix:uid", LinkOption.NOFOLLOW_LINKS);
    }

    private static String xattr(Path p, String name) {
        byte[] buf = new byte[256];
        long n = Libc.c().lgetxattr(p.toString(), name, buf, buf.length);
        return n < 0 ? null : new String(buf, 0, (int) n, StandardCharsets.ISO_8859_1);
    }

    @Test
    void keepsOwnersModesXattrsLinksAndDevices() throws IOException {
        for (TestLayer.Compression c : TestLayer.Compression.values()) {
            Trees.deleteRecursively(layer);
            Files.createDirectory(layer);
            TestLayer l = TestLayer.create()
                    .dir("usr", 0755).dir("usr/bin", 0755)
                    .file("usr/bin/suid", "x".getBytes(StandardCharsets.UTF_8), 04755, 0, 0, Map.of())
                    .file("home/u/f", "data".getBytes(StandardCharsets.UTF_8), 0600, 1234, 5678, Map.of("user.note", "hello"))
                    .dir("tmp", 01777)
                    .symlink("usr/bin/sh", "/bin/busybox")
                    .hardlink("usr/bin/suid2", "usr/bin/suid")
                    .charDevice("dev/null", 1, 3, 0666)
                    .fifo("run/fifo");
            LayerUnpacker.Result r = unpack(l, c);
            assertEquals(05, r.bytes());
            assertEquals(04755, mode(layer.resolve("usr/bin/suid")) & 07777, c.name());
            assertEquals(1234, uid(layer.resolve("home/u/f")));
            assertEquals(5678, (Integer) Files.getAttribute(layer.resolve("home/u/f"), "unix:gid"));
            assertEquals(0600, mode(layer.resolve("home/u/f")) & 07777);
            assertEquals("hello", xattr(layer.resolve("home/u/f"), "user.note"));
            assertEquals(01777, mode(layer.resolve("tmp")) & 07777);
            assertEquals(Path.of("/bin/busybox"), Files.readSymbolicLink(layer.resolve("usr/bin/sh")));
            assertEquals(Files.getAttribute(layer.resolve("usr/bin/suid"), "unix:ino"), Files.getAttribute(layer.resolve("usr/bin/suid2"), "unix:ino"));
            assertEquals(0020000, mode(layer.resolve("dev/null")) & 0170000);
            assertEquals(0x103L, ((Long) Files.getAttribute(layer.resolve("dev/null"), "unix:rdev")) & 0xffff);
            assertEquals(0010000, mode(layer.resolve("run/fifo")) & 0170000);
        }
    }

    @Test
    void convertsWhiteoutsToOverlayWhiteouts() throws IOException {
        unpack(TestLayer.create().whiteout("etc/gone").opaque("var/cache").file("var/cache/new", "n"), TestLayer.Compression.GZIP);
        Path w = layer.resolve("etc/gone");
        assertEquals(0020000, mode(w) & 0170000, "a whiteout is a character device");
        assertEquals(0L, (Long) Files.getAttribute(w, "unix:rdev"));
        assertFalse(Files.exists(layer.resolve("etc/.wh.gone"), LinkOption.NOFOLLOW_LINKS));
        assertEquals("y", xattr(layer.resolve("var/cache"), "trusted.overlay.opaque"));
        assertFalse(Files.exists(layer.resolve("var/cache/.wh..wh..opq"), LinkOption.NOFOLLOW_LINKS));
        assertTrue(Files.isRegularFile(layer.resolve("var/cache/new")));
    }

    @Test
    void aLaterEntryReplacesAnEarlierOneWithoutFollowingSymlinks() throws IOException {
        Path victim = outside.resolve("victim");
        Files.writeString(victim, "original");
        unpack(TestLayer.create().symlink("f", victim.toString()).file("f", "replaced"), TestLayer.Compression.NONE);
        assertEquals("original", Files.readString(victim));
        assertEquals("replaced", Files.readString(layer.resolve("f")));
    }

    @Test
    void rejectsContentThatDoesNotMatchItsDiffId() throws IOException {
        TestLayer.Built b = TestLayer.create().file("a", "a").build(TestLayer.Compression.GZIP);
        BerthException e = assertThrows(BerthException.class, () -> LayerUnpacker.unpack(new ByteArrayInputStream(b.blob()), layer,
                Digest.sha256(new byte[] {1})));
        assertTrue(e.getMessage().contains("diff id"), e.getMessage());
    }

    static Stream<Arguments> hostileLayers() {
        return Stream.of(
                Arguments.of("dot-dot", (LayerFactory) o -> TestLayer.create().file("../outside/pwned", "x")),
                Arguments.of("nested dot-dot", (LayerFactory) o -> TestLayer.create().dir("a", 0755).file("a/../../outside/pwned", "x")),
                Arguments.of("absolute path", (LayerFactory) o -> TestLayer.create().file(o.resolve("pwned").toString(), "x")),
                Arguments.of("symlink to outside, then a file below it", (LayerFactory) o -> TestLayer.create().symlink("link", o.toString())
                        .file("link/pwned", "x")),
                Arguments.of("relative symlink escape, then a file below it", (LayerFactory) o -> TestLayer.create().symlink("up", "../outside")
                        .file("up/pwned", "x")),
                Arguments.of("symlink, then a directory below it", (LayerFactory) o -> TestLayer.create().symlink("link", o.toString())
                        .dir("link/pwned", 0755)),
                Arguments.of("symlinked parent, then a whiteout below it", (LayerFactory) o -> TestLayer.create().symlink("link", o.toString())
                        .whiteout("link/pwned")),
                Arguments.of("symlinked parent, then an opaque marker below it", (LayerFactory) o -> TestLayer.create().symlink("link", o.toString())
                        .opaque("link")),
                Arguments.of("hard link to a file outside", (LayerFactory) o -> TestLayer.create().hardlink("pwned", "../outside/target")),
                Arguments.of("hard link to an absolute path", (LayerFactory) o -> TestLayer.create().hardlink("pwned", o.resolve("target").toString())),
                Arguments.of("hard link through a symlink", (LayerFactory) o -> TestLayer.create().symlink("link", o.toString())
                        .hardlink("pwned", "link/target")),
                Arguments.of("whiteout of the parent", (LayerFactory) o -> TestLayer.create().file("a/.wh...", "")),
                Arguments.of("symlink then device below it", (LayerFactory) o -> TestLayer.create().symlink("link", o.toString())
                        .charDevice("link/pwned", 1, 3, 0666)));
    }

    interface LayerFactory {
        TestLayer make(Path outside) throws IOException;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("hostileLayers")
    void refusesEntriesThatWouldWriteOutsideTheLayer(String what, LayerFactory f) throws IOException {
        Files.writeString(outside.resolve("target"), "secret");
        List<Path> before;
        try (Stream<Path> s = Files.walk(outside)) {
            before = s.sorted().toList();
        }
        BerthException e = assertThrows(BerthException.class, () -> unpack(f.make(outside), TestLayer.Compression.GZIP));
        assertEquals(BerthException.Kind.FAILED_PRECONDITION, e.kind());
        assertTrue(e.getMessage().contains("refusing"), e.getMessage());
        try (Stream<Path> s = Files.walk(outside)) {
            assertEquals(before, s.sorted().toList(), "nothing may be written outside the layer");
        }
        assertEquals("secret", Files.readString(outside.resolve("target")));
        assertEquals("rw-r--r--", PosixFilePermissions.toString(Files.getPosixFilePermissions(outside.resolve("target"))));
        assertEquals(1, ((Number) Files.getAttribute(outside.resolve("target"), "unix:nlink")).intValue(), "no hard link to a file outside");
    }

    @Test
    void chainIdsFollowTheOciDefinition() {
        Digest a = Digest.sha256(new byte[] {1});
        Digest b = Digest.sha256(new byte[] {2});
        List<Digest> chain = LayerStore.chainIds(List.of(a, b));
        assertEquals(a, chain.get(0));
        assertEquals(Digest.sha256((a + " " + b).getBytes(StandardCharsets.UTF_8)), chain.get(1));
        assertArrayEquals(new Object[] {a}, LayerStore.chainIds(List.of(a)).toArray());
    }
}
