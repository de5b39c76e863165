package dev.berth.images.testing;

import com.github.luben.zstd.ZstdOutputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.zip.GZIPOutputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.commons.compress.archivers.tar.TarConstants;

/** A layer built by a test: a tar written entry by entry (hostile ones included), then compressed. */
public final class TestLayer {
    public enum Compression {
        NONE("application/vnd.oci.image.layer.v1.tar"),
        GZIP("application/vnd.oci.image.layer.v1.tar+gzip"),
        ZSTD("application/vnd.oci.image.layer.v1.tar+zstd");

        public final String mediaType;

        Compression(String mediaType) {
            this.mediaType = mediaType;
        }
    }

    private final List<Consumer<TarArchiveOutputStream>> entries = new ArrayList<>();

    public static TestLayer create() {
        return new TestLayer();
    }

    /** A layer with the static busybox and {@code bin/sh} linking to it. */
    public static TestLayer busybox() throws IOException {
        byte[] bin = Files.readAllBytes(Path.of("/bin/busybox"));
        return create().dir("bin", 0755).file("bin/busybox", bin, 0755).symlink("bin/sh", "busybox")
                .dir("etc", 0755).file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n".getBytes(StandardCharsets.UTF_8), 0644);
    }

    private TestLayer add(Consumer<TarArchiveOutputStream> e) {
        entries.add(e);
        return this;
    }

    private static void put(TarArchiveOutputStream out, TarArchiveEntry e, byte[] data) {
        try {
            out.putArchiveEntry(e);
            if (data != null) {
                out.write(data);
            }
            out.closeArchiveEntry();
        } catch (IOException ex) {
            throw new java.io.UncheckedIOException(ex);
        }
    }

    public TestLayer file(String name, byte[] data, int mode) {
        return file(name, data, mode, 0, 0, Map.of());
    }

    public TestLayer file(String name, String data) {
        return file(name, data.getBytes(StandardCharsets.UTF_8), 0644);
    }

    public TestLayer file(String name, byte[] data, int mode, int uid, int gid, Map<String, String> xattrs) {
        return add(out -> {
            TarArchiveEntry e = new TarArchiveEntry(name, true);
            e.setSize(data.length);
            e.setMode(0100000 | mode);
            e.setUserId(uid);
            e.setGroupId(gid);
            xattrs.forEach((k, v) -> e.addPaxHeader("SCHILY.xattr." + k, v));
            put(out, e, data);
        });
    }

    public TestLayer dir(String name, int mode) {
        return add(out -> {
            TarArchiveEntry e = new TarArchiveEntry(name.endsWith("/") ? name : name + "/", true);
            e.setMode(040000 | mode);
            put(out, e, null);
        });
    }

    public TestLayer symlink(String name, String target) {
        return add(out -> {
            TarArchiveEntry e = new TarArchiveEntry(name, TarConstants.LF_SYMLINK, true);
            e.setLinkName(target);
            e.setMode(0120777);
            put(out, e, null);
        });
    }

    public TestLayer hardlink(String name, String target) {
        return add(out -> {
            TarArchiveEntry e = new TarArchiveEntry(name, TarConstants.LF_LINK, true);
            e.setLinkName(target);
            put(out, e, null);
        });
    }

    public TestLayer charDevice(String name, int major, int minor, int mode) {
        return add(out -> {
            TarArchiveEntry e = new TarArchiveEntry(name, TarConstants.LF_CHR, true);
            e.setDevMajor(major);
            e.setDevMinor(minor);
            e.setMode(mode);
            put(out, e, null);
        });
    }

    public TestLayer fifo(String name) {
        return add(out -> {
            TarArchiveEntry e = new TarArchiveEntry(name, TarConstants.LF_FIFO, true);
            e.setMode(0644);
            put(out, e, null);
        });
    }

    /** An OCI whiteout deleting {@code path} from the layers below. */
    public TestLayer whiteout(String path) {
        int slash = path.lastIndexOf('/');
        String name = slash < 0 ? ".wh." + path : path.substring(0, slash + 1) + ".wh." + path.substring(slash + 1);
        return file(name, new byte[0], 0644);
    }

    /** Makes directory {@code dir} opaque: nothing of the layers below shows through. */
    public TestLayer opaque(String dir) {
        return file(dir + "/.wh..wh..opq", new byte[0], 0644);
    }

    /** The uncompressed tar. */
    public byte[] tar() throws IOException {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        try (TarArchiveOutputStream out = new TarArchiveOutputStream(buf)) {
            out.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
            out.setBigNumberMode(TarArchiveOutputStream.BIGNUMBER_POSIX);
            for (Consumer<TarArchiveOutputStream> e : entries) {
                e.accept(out);
            }
        }
        return buf.toByteArray();
    }

    /** The layer as it is pushed: compressed bytes, its digest, its diff id and media type. */
    public record Built(byte[] blob, String digest, String diffId, String mediaType) {
    }

    public Built build(Compression c) throws IOException {
        byte[] tar = tar();
        byte[] blob = switch (c) {
            case NONE -> tar;
            case GZIP -> compress(tar, GZIPOutputStream::new);
            case ZSTD -> compress(tar, ZstdOutputStream::new);
        };
        return new Built(blob, Pusher.sha256(blob), Pusher.sha256(tar), c.mediaType);
    }

    private interface Wrapper {
        OutputStream wrap(OutputStream out) throws IOException;
    }

    private static byte[] compress(byte[] data, Wrapper w) throws IOException {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        try (OutputStream out = w.wrap(buf)) {
            out.write(data);
        }
        return buf.toByteArray();
    }
}
