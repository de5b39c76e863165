package dev.berth.images.layer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.common.BerthException;
import dev.berth.host.Libc;
import dev.berth.images.reference.Digest;
import dev.berth.images.testing.RawTar;
import dev.berth.images.testing.TestLayer;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Layers built to hurt: huge headers, bombs, trailing data, binary attributes, odd whiteouts; as root. */
@Tag("root")
class HostileLayerTest {
    @TempDir
    Path tmp;
    Path layer;
    Path outside;

    @BeforeEach
    void dirs() throws IOException {
        layer = Files.createDirectory(tmp.resolve("layer"));
        outside = Files.createDirectory(tmp.resolve("outside"));
        Files.writeString(outside.resolve("target"), "secret");
    }

    private static byte[] gzip(byte[] b) throws IOException {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        try (GZIPOutputStream out = new GZIPOutputStream(buf)) {
            out.write(b);
        }
        return buf.toByteArray();
    }

    private LayerUnpacker.Result unpackTar(byte[] tar) throws IOException {
        return LayerUnpacker.unpack(new ByteArrayInputStream(gzip(tar)), layer, Digest.sha256(tar));
    }

    private static BerthException refused(org.junit.jupiter.api.function.Executable e) {
        return assertThrows(BerthException.class, e);
    }

    private void assertOutsideUntouched() throws IOException {
        try (Stream<Path> s = Files.walk(outside)) {
            assertEquals(List.of(outside, outside.resolve("target")), s.sorted().toList());
        }
        assertEquals("secret", Files.readString(outside.resolve("target")));
    }

    // ------------------------------------------------------------------ unbounded reads

    @Test
    void aPaxHeaderOverOneMebibyteIsRefusedBeforeItIsRead() {
        byte[] comment = new byte[2 << 20];
        Arrays.fill(comment, (byte) 'a');
        byte[] tar = RawTar.create().pax(Map.of("comment", comment)).file("f", "x".getBytes()).end().bytes();
        BerthException e = refused(() -> unpackTar(tar));
        assertTrue(e.getMessage().contains("PAX header of"), e.getMessage());
    }

    @Test
    void aGnuLongNameOverPathMaxIsRefused() {
        byte[] name = new byte[64 << 10];
        Arrays.fill(name, (byte) 'a');
        byte[] tar = RawTar.create().header("././@LongLink", 'L', name.length, 0644, "").data(name)
                .file("short", "x".getBytes()).end().bytes();
        BerthException e = refused(() -> unpackTar(tar));
        assertTrue(e.getMessage().contains("GNU long name of 65536 bytes"), e.getMessage());
    }

    @Test
    void aGnuLongLinkOverPathMaxIsRefused() {
        byte[] name = new byte[8192];
        Arrays.fill(name, (byte) 'b');
        byte[] tar = RawTar.create().header("././@LongLink", 'K', name.length, 0644, "").data(name)
                .header("l", '2', 0, 0777, "x").end().bytes();
        BerthException e = refused(() -> unpackTar(tar));
        assertTrue(e.getMessage().contains("GNU long link of 8192 bytes"), e.getMessage());
    }

    @Test
    void aPaxPathLongerThanPathMaxIsRefused() {
        byte[] path = ("d/" + "n".repeat(5000)).getBytes(StandardCharsets.US_ASCII);
        byte[] tar = RawTar.create().pax(Map.of("path", path)).file("f", "x".getBytes()).end().bytes();
        BerthException e = refused(() -> unpackTar(tar));
        assertTrue(e.getMessage().contains("longer than 4096"), e.getMessage());
    }

    @Test
    void aNulInAPaxPathIsRefused() throws IOException {
        byte[] tar = RawTar.create().pax(Map.of("path", "../outside/x\0ok".getBytes(StandardCharsets.US_ASCII)))
                .file("f", "x".getBytes()).end().bytes();
        BerthException e = refused(() -> unpackTar(tar));
        assertTrue(e.getMessage().contains("refusing"), e.getMessage());
        assertOutsideUntouched();
    }

    // ------------------------------------------------------------------ trailing data

    @Test
    void dataAfterTheEndOfTheArchiveIsReadOnlyUpToABound() throws IOException {
        byte[] tar = TestLayer.create().file("f", "x").tar();
        // tar writers pad with zeros; a few KiB after the end are accepted and hashed
        byte[] padded = Arrays.copyOf(tar, tar.length + 20 * 512);
        unpackTar(padded);
        assertEquals("x", Files.readString(layer.resolve("f")));

        Files.delete(layer.resolve("f"));
        byte[] bomb = Arrays.copyOf(tar, tar.length + (64 << 20)); // 64 MiB of zeros after the end, about 64 KiB gzipped
        byte[] blob = gzip(bomb);
        BerthException e = refused(() -> LayerUnpacker.unpack(new ByteArrayInputStream(blob), layer, Digest.sha256(bomb)));
        assertTrue(e.getMessage().contains("after the end of its tar archive"), e.getMessage());
    }

    // ------------------------------------------------------------------ caps

    private static Digest diffId(TestLayer.Built l) {
        return Digest.parse(l.diffId());
    }

    private static LayerStore.Source gz(TestLayer.Built l) {
        return () -> new ByteArrayInputStream(l.blob());
    }

    private static void assertStoreEmpty(LayerStore store) throws IOException {
        assertEquals(java.util.Set.of(), store.list());
        try (Stream<Path> s = Files.list(store.root())) {
            assertEquals(List.of(), s.filter(p -> p.getFileName().toString().startsWith(".")).toList(), "the partial layer is removed");
        }
    }

    @Test
    void aDecompressionBombFailsCleanlyAtTheLayerCap() throws IOException {
        LayerStore store = new LayerStore(tmp.resolve("layers"));
        TestLayer.Built bomb = TestLayer.create().file("zeros", new byte[64 << 20], 0644).build(TestLayer.Compression.GZIP); // ~64 KiB
        UnpackLimits limits = new UnpackLimits(16 << 20, 1000, 1L << 40, 1000);
        Digest d = diffId(bomb);
        BerthException e = refused(() -> store.ensure(d, d, gz(bomb), limits.budget(() -> false)));
        assertEquals(BerthException.Kind.RESOURCE_EXHAUSTED, e.kind(), e.getMessage());
        assertTrue(e.getMessage().contains("more than 16777216 bytes (the layer cap)"), e.getMessage());
        assertStoreEmpty(store);
    }

    @Test
    void entriesAreCappedPerLayer() throws IOException {
        LayerStore store = new LayerStore(tmp.resolve("layers"));
        TestLayer many = TestLayer.create();
        for (int i = 0; i < 50; i++) {
            many.file("d/f" + i, "");
        }
        TestLayer.Built built = many.hardlink("d/h", "d/f0").build(TestLayer.Compression.GZIP);
        UnpackLimits limits = new UnpackLimits(1 << 30, 20, 1 << 30, 1000);
        Digest d = diffId(built);
        BerthException e = refused(() -> store.ensure(d, d, gz(built), limits.budget(() -> false)));
        assertEquals(BerthException.Kind.RESOURCE_EXHAUSTED, e.kind(), e.getMessage());
        assertTrue(e.getMessage().contains("more than 20 entries"), e.getMessage());
        assertStoreEmpty(store);
        // within the cap it unpacks
        LayerStore.Layer l = store.ensure(d, d, gz(built), new UnpackLimits(1 << 30, 52, 1 << 30, 1000).budget(() -> false));
        assertEquals(52, l.inodes(), "50 files, their directory and the layer's root");
    }

    @Test
    void theImageCapCountsEveryLayerOfTheImage() throws IOException {
        LayerStore store = new LayerStore(tmp.resolve("layers"));
        TestLayer.Built a = TestLayer.create().file("a", new byte[3 << 20], 0644).build(TestLayer.Compression.GZIP);
        TestLayer.Built b = TestLayer.create().file("b", new byte[3 << 20], 0644).build(TestLayer.Compression.GZIP);
        UnpackLimits limits = new UnpackLimits(4 << 20, 1000, 5 << 20, 1000);
        UnpackLimits.Budget budget = limits.budget(() -> false);
        Digest da = diffId(a);
        Digest db = diffId(b);
        store.ensure(da, da, gz(a), budget);
        BerthException e = refused(() -> store.ensure(db, db, gz(b), budget));
        assertTrue(e.getMessage().contains("(the image cap)"), e.getMessage());
        assertEquals(java.util.Set.of(da), store.list());
        // a layer already present counts too
        BerthException again = refused(() -> store.ensure(da, da, gz(a), new UnpackLimits(4 << 20, 1000, 1 << 20, 1000).budget(() -> false)));
        assertTrue(again.getMessage().contains("(the image cap)"), again.getMessage());
    }

    @Test
    void aCancelledBudgetStopsUnpackingAndLeavesNothing() throws IOException {
        LayerStore store = new LayerStore(tmp.resolve("layers"));
        TestLayer.Built big = TestLayer.create().file("zeros", new byte[8 << 20], 0644).build(TestLayer.Compression.GZIP);
        Digest d = diffId(big);
        int[] checks = {0};
        UnpackLimits.Budget budget = UnpackLimits.DEFAULTS.budget(() -> ++checks[0] > 3);
        BerthException e = refused(() -> store.ensure(d, d, gz(big), budget));
        assertEquals(BerthException.Kind.CANCELLED, e.kind(), e.getMessage());
        assertStoreEmpty(store);
    }

    // ------------------------------------------------------------------ binary extended attributes

    @Test
    void binaryExtendedAttributesKeepTheirBytes() throws IOException {
        // VFS_CAP_REVISION_2, effective; permitted CAP_SETUID (bit 7: byte 0x80) and CAP_NET_BIND_SERVICE (bit 10)
        byte[] cap = {0x01, 0x00, 0x00, 0x02, (byte) 0x80, 0x04, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
        byte[] user = {(byte) 0xff, 0x00, (byte) 0xc3, 0x28, (byte) 0x80, 0x0a, '='};
        Map<String, byte[]> pax = new LinkedHashMap<>();
        pax.put("SCHILY.xattr.security.capability", cap);
        pax.put("SCHILY.xattr.user.bin", user);
        byte[] tar = RawTar.create().pax(pax).file("bin/ping", "elf".getBytes()).end().bytes();
        unpackTar(tar);
        assertArrayEquals(cap, xattr(layer.resolve("bin/ping"), "security.capability"));
        assertArrayEquals(user, xattr(layer.resolve("bin/ping"), "user.bin"));
    }

    private static byte[] xattr(Path p, String name) {
        byte[] buf = new byte[256];
        long n = Libc.c().lgetxattr(p.toString(), name, buf, buf.length);
        assertTrue(n >= 0, name + " is set");
        return Arrays.copyOf(buf, (int) n);
    }

    @Test
    void overlayAttributesFromALayerAreIgnored() throws IOException {
        byte[] tar = RawTar.create().pax(Map.of("SCHILY.xattr.trusted.overlay.opaque", "y".getBytes()))
                .header("d/", '5', 0, 0755, "").end().bytes();
        unpackTar(tar);
        byte[] buf = new byte[16];
        assertTrue(Libc.c().lgetxattr(layer.resolve("d").toString(), "trusted.overlay.opaque", buf, buf.length) < 0);
    }

    // ------------------------------------------------------------------ whiteouts, links and devices

    @Test
    void whiteoutsThatWouldEscapeAreRefused() throws IOException {
        for (String name : List.of("../.wh.outside", "../outside/.wh.target", "../outside/.wh..wh..opq", "a/../../outside/.wh.target",
                "/.wh.etc", tmp.resolve("outside/.wh.target").toString())) {
            BerthException e = refused(() -> unpackTar(RawTar.create().file(name, new byte[0]).end().bytes()));
            assertTrue(e.getMessage().contains("refusing"), name + ": " + e.getMessage());
        }
        assertOutsideUntouched();
        assertTrue(Files.isDirectory(outside));
    }

    @Test
    void anOpaqueMarkerInOddPlacesStaysInsideTheLayer() throws IOException {
        // at the layer's root, as a directory name, and below a directory it created itself
        byte[] tar = RawTar.create().file(".wh..wh..opq", new byte[0]).header(".wh..wh..opq/", '5', 0, 0755, "")
                .file("x/.wh..wh..opq/f", "f".getBytes()).file("y/.wh..wh..opq", new byte[0]).end().bytes();
        unpackTar(tar);
        assertEquals("y", new String(xattr(layer, "trusted.overlay.opaque"), StandardCharsets.US_ASCII));
        assertEquals("y", new String(xattr(layer.resolve("y"), "trusted.overlay.opaque"), StandardCharsets.US_ASCII));
        assertTrue(Files.isDirectory(layer.resolve("y")));
        assertFalse(Files.exists(layer.resolve("y/.wh..wh..opq"), LinkOption.NOFOLLOW_LINKS));
        assertOutsideUntouched();
    }

    @Test
    void aHardLinkToASymlinkLinksTheSymlinkNotItsTarget() throws IOException {
        unpackTar(TestLayer.create().symlink("s", outside.resolve("target").toString()).hardlink("h", "s").tar());
        assertTrue(Files.isSymbolicLink(layer.resolve("h")), "the link is to the symlink itself");
        assertEquals(1, ((Number) Files.getAttribute(outside.resolve("target"), "unix:nlink")).intValue());
        assertOutsideUntouched();
    }

    @Test
    void deviceNodesAreCreatedInsideTheLayerOnly() throws IOException {
        unpackTar(TestLayer.create().charDevice("dev/mem", 1, 1, 0600).tar());
        assertEquals(0020000, (Integer) Files.getAttribute(layer.resolve("dev/mem"), "unix:mode", LinkOption.NOFOLLOW_LINKS) & 0170000);
        BerthException e = refused(() -> unpackTar(TestLayer.create().charDevice("../outside/mem", 1, 1, 0600).tar()));
        assertTrue(e.getMessage().contains("refusing"), e.getMessage());
        assertOutsideUntouched();
    }
}
