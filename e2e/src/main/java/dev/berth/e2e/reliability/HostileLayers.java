package dev.berth.e2e.reliability;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.Deflater;

/**
 * Layers no honest image builder writes, for the hostile-image suite. {@link Tar} writes
 * headers byte by byte (so names may be absolute, hold {@code ..}, PAX values may be any
 * bytes, sizes any number); {@link #gzipWithZeros} compresses a tar that is mostly zeros
 * without ever holding or deflating the zeros (one deflated MiB of zeros, repeated), which
 * makes gigabyte bombs of a few megabytes in well under a second.
 */
public final class HostileLayers {
    private HostileLayers() {
    }

    /** A tar written header by header. */
    public static final class Tar {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();

        public Tar file(String name, byte[] data, int mode) {
            return entry(name, '0', data.length, mode, "", 0, 0, data);
        }

        public Tar dir(String name, int mode) {
            return entry(name, '5', 0, mode, "", 0, 0, null);
        }

        public Tar symlink(String name, String target) {
            return entry(name, '2', 0, 0777, target, 0, 0, null);
        }

        public Tar hardlink(String name, String target) {
            return entry(name, '1', 0, 0644, target, 0, 0, null);
        }

        /** A character ({@code '3'}) or block ({@code '4'}) device, or a FIFO ({@code '6'}). */
        public Tar node(String name, char type, int major, int minor, int mode) {
            return entry(name, type, 0, mode, "", major, minor, null);
        }

        /** A PAX extended header ({@code x}) for the next entry: its records' values are written as raw bytes. */
        public Tar pax(Map<String, byte[]> records) {
            ByteArrayOutputStream body = new ByteArrayOutputStream();
            for (Map.Entry<String, byte[]> r : records.entrySet()) {
                body.writeBytes(paxRecord(r.getKey(), r.getValue()));
            }
            byte[] b = body.toByteArray();
            return entry("PaxHeaders/x", 'x', b.length, 0644, "", 0, 0, b);
        }

        /** A GNU long-name entry ({@code L}) naming the next entry with {@code name}, however long. */
        public Tar gnuLongName(byte[] name) {
            return entry("././@LongLink", 'L', name.length, 0644, "", 0, 0, name);
        }

        /** The header of a regular file of {@code size} bytes whose content the caller writes with {@link #raw} (or a bomb supplies). */
        public Tar fileHeader(String name, long size, int mode) {
            if (size > 077777777777L) {
                pax(Map.of("size", Long.toString(size).getBytes(StandardCharsets.US_ASCII)));
            }
            header(name, '0', Math.min(size, 077777777777L), mode, "", 0, 0);
            return this;
        }

        /** Bytes as they are, e.g. an entry's content or garbage. */
        public Tar raw(byte[] bytes) {
            out.writeBytes(bytes);
            return this;
        }

        /** The end of the archive: two zero blocks. */
        public Tar end() {
            out.writeBytes(new byte[1024]);
            return this;
        }

        public byte[] bytes() {
            return out.toByteArray();
        }

        private Tar entry(String name, char type, long size, int mode, String link, int major, int minor, byte[] data) {
            if (name.getBytes(StandardCharsets.UTF_8).length > 100 && type != 'x') {
                pax(Map.of("path", name.getBytes(StandardCharsets.UTF_8)));
            }
            if (link.getBytes(StandardCharsets.UTF_8).length > 100) {
                pax(Map.of("linkpath", link.getBytes(StandardCharsets.UTF_8)));
            }
            header(name, type, size, mode, link, major, minor);
            if (data != null) {
                out.writeBytes(data);
                out.writeBytes(new byte[(int) ((512 - data.length % 512) % 512)]);
            }
            return this;
        }

        private void header(String name, char type, long size, int mode, String link, int major, int minor) {
            byte[] h = new byte[512];
            put(h, 0, 100, name.getBytes(StandardCharsets.UTF_8));
            octal(h, 100, 8, mode);
            octal(h, 108, 8, 0);
            octal(h, 116, 8, 0);
            octal(h, 124, 12, size);
            octal(h, 136, 12, 0);
            h[156] = (byte) type;
            put(h, 157, 100, link.getBytes(StandardCharsets.UTF_8));
            put(h, 257, 6, "ustar\0".getBytes(StandardCharsets.US_ASCII));
            put(h, 263, 2, "00".getBytes(StandardCharsets.US_ASCII));
            octal(h, 329, 8, major);
            octal(h, 337, 8, minor);
            for (int i = 148; i < 156; i++) {
                h[i] = ' ';
            }
            long sum = 0;
            for (byte b : h) {
                sum += b & 0xff;
            }
            octal(h, 148, 7, sum);
            h[155] = ' ';
            out.writeBytes(h);
        }

        private static void put(byte[] h, int off, int len, byte[] value) {
            System.arraycopy(value, 0, h, off, Math.min(len, value.length));
        }

        private static void octal(byte[] h, int off, int len, long value) {
            String s = Long.toOctalString(value);
            s = "0".repeat(Math.max(0, len - 1 - s.length())) + s;
            put(h, off, len - 1, s.getBytes(StandardCharsets.US_ASCII));
        }
    }

    /** One PAX record, {@code "<len> key=value\n"}, whose length counts its own digits. */
    public static byte[] paxRecord(String key, byte[] value) {
        byte[] k = key.getBytes(StandardCharsets.UTF_8);
        int rest = 1 + k.length + 1 + value.length + 1;
        int len = rest + Integer.toString(rest).length();
        if (Integer.toString(len).length() != Integer.toString(rest).length()) {
            len++;
        }
        ByteArrayOutputStream b = new ByteArrayOutputStream(len);
        b.writeBytes((len + " " + key + "=").getBytes(StandardCharsets.UTF_8));
        b.writeBytes(value);
        b.write('\n');
        return b.toByteArray();
    }

    /** A layer as pushed: the compressed blob, its digest, and the digest of the uncompressed tar (its diff id). */
    public record Blob(byte[] blob, String digest, String diffId) {
    }

    /** Gzip of {@code tar} as it is. */
    public static Blob gzip(byte[] tar) {
        return gzipWithZeros(tar, 0, new byte[0], sha256(tar, 0, new byte[0]));
    }

    /**
     * Gzip of {@code prefix}, then {@code zeros} zero bytes (a multiple of 1 MiB), then
     * {@code suffix}; {@code diffId} is the SHA-256 of that uncompressed stream (computing it
     * takes minutes for tens of gigabytes, so the caller passes a known one; see
     * {@link #sha256}).
     */
    public static Blob gzipWithZeros(byte[] prefix, long zeros, byte[] suffix, String diffId) {
        if (zeros % (1 << 20) != 0) {
            throw new IllegalArgumentException("zeros must be a multiple of 1 MiB: " + zeros);
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(new byte[] {0x1f, (byte) 0x8b, 8, 0, 0, 0, 0, 0, 0, (byte) 0xff});
        // each piece comes from a fresh deflater and ends byte-aligned on a full flush: pieces concatenate
        out.writeBytes(deflate(prefix, Deflater.FULL_FLUSH));
        byte[] mib = new byte[1 << 20];
        byte[] chunk = deflate(mib, Deflater.FULL_FLUSH);
        for (long i = 0; i < zeros >> 20; i++) {
            out.writeBytes(chunk);
        }
        out.writeBytes(deflate(suffix, -1));
        CRC32 crc = new CRC32();
        crc.update(prefix);
        for (long i = 0; i < zeros >> 20; i++) {
            crc.update(mib);
        }
        crc.update(suffix);
        long size = prefix.length + zeros + suffix.length;
        writeLe(out, crc.getValue());
        writeLe(out, size & 0xffffffffL);
        byte[] blob = out.toByteArray();
        return new Blob(blob, "sha256:" + hex(digest(blob)), diffId);
    }

    private static byte[] deflate(byte[] data, int flush) {
        Deflater d = new Deflater(9, true);
        try {
            d.setInput(data);
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            byte[] buf = new byte[64 * 1024];
            if (flush < 0) {
                d.finish();
                while (!d.finished()) {
                    out.write(buf, 0, d.deflate(buf));
                }
            } else {
                int n;
                do {
                    n = d.deflate(buf, 0, buf.length, flush);
                    out.write(buf, 0, n);
                } while (n == buf.length || !d.needsInput());
            }
            return out.toByteArray();
        } finally {
            d.end();
        }
    }

    private static void writeLe(OutputStream out, long v) {
        try {
            for (int i = 0; i < 4; i++) {
                out.write((int) (v >>> (8 * i)) & 0xff);
            }
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** SHA-256 of prefix + zeros + suffix, as {@code sha256:<hex>}. */
    public static String sha256(byte[] prefix, long zeros, byte[] suffix) {
        try {
            MessageDigest d = MessageDigest.getInstance("SHA-256");
            d.update(prefix);
            byte[] mib = new byte[1 << 20];
            for (long left = zeros; left > 0; left -= mib.length) {
                d.update(mib, 0, (int) Math.min(left, mib.length));
            }
            d.update(suffix);
            return "sha256:" + hex(d.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    public static byte[] digest(byte[] b) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(b);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    public static String hex(byte[] b) {
        return HexFormat.of().formatHex(b);
    }

    /** Records in insertion order, for {@link Tar#pax}. */
    public static Map<String, byte[]> records(Object... keyValues) {
        Map<String, byte[]> m = new LinkedHashMap<>();
        for (int i = 0; i < keyValues.length; i += 2) {
            Object v = keyValues[i + 1];
            m.put((String) keyValues[i], v instanceof byte[] b ? b : v.toString().getBytes(StandardCharsets.UTF_8));
        }
        return m;
    }
}
