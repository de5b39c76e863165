package dev.berth.images.testing;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Map;

/**
 * A tar written header by header, for what commons-compress will not write: PAX values that
 * are raw bytes, oversized PAX headers and GNU long names, NULs in names, data after the end.
 */
public final class RawTar {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    public static RawTar create() {
        return new RawTar();
    }

    /** A ustar header block: name (at most 100 bytes), type flag, size, mode, link name. */
    public RawTar header(String name, char type, long size, int mode, String link) {
        byte[] h = new byte[512];
        put(h, 0, 100, name.getBytes(StandardCharsets.UTF_8));
        octal(h, 100, 8, mode);
        octal(h, 108, 8, 0);
        octal(h, 116, 8, 0);
        octal(h, 124, 12, size);
        octal(h, 136, 12, 1_700_000_000L);
        h[156] = (byte) type;
        put(h, 157, 100, link.getBytes(StandardCharsets.UTF_8));
        put(h, 257, 6, "ustar\0".getBytes(StandardCharsets.US_ASCII));
        put(h, 263, 2, "00".getBytes(StandardCharsets.US_ASCII));
        for (int i = 148; i < 156; i++) {
            h[i] = ' ';
        }
        long sum = 0;
        for (byte b : h) {
            sum += b & 0xff;
        }
        byte[] chk = String.format("%06o\0 ", sum).getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(chk, 0, h, 148, 8);
        out.writeBytes(h);
        return this;
    }

    /** Content, padded to the next block. */
    public RawTar data(byte[] b) {
        out.writeBytes(b);
        int pad = (512 - b.length % 512) % 512;
        out.writeBytes(new byte[pad]);
        return this;
    }

    public RawTar file(String name, byte[] content) {
        return header(name, '0', content.length, 0644, "").data(content);
    }

    /** A PAX extended header ('x') for the next entry, its values raw bytes. */
    public RawTar pax(Map<String, byte[]> records) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        records.forEach((k, v) -> b.writeBytes(record(k, v)));
        byte[] body = b.toByteArray();
        return header("PaxHeaders/x", 'x', body.length, 0644, "").data(body);
    }

    /** One PAX record, {@code "<length> <key>=<value>\n"}, its length counting itself. */
    public static byte[] record(String key, byte[] value) {
        byte[] k = key.getBytes(StandardCharsets.UTF_8);
        int rest = 1 + k.length + 1 + value.length + 1;
        int len = rest + 1;
        while (len != rest + String.valueOf(len).length()) {
            len = rest + String.valueOf(len).length();
        }
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.writeBytes((len + " " + key + "=").getBytes(StandardCharsets.UTF_8));
        b.writeBytes(value);
        b.write('\n');
        return b.toByteArray();
    }

    /** The end of the archive: two zero blocks. */
    public RawTar end() {
        out.writeBytes(new byte[1024]);
        return this;
    }

    public RawTar raw(byte[] b) {
        out.writeBytes(b);
        return this;
    }

    public byte[] bytes() {
        return out.toByteArray();
    }

    private static void put(byte[] h, int off, int max, byte[] v) {
        System.arraycopy(v, 0, h, off, Math.min(max, v.length));
    }

    private static void octal(byte[] h, int off, int len, long v) {
        String s = String.format("%0" + (len - 1) + "o", v);
        put(h, off, len - 1, s.getBytes(StandardCharsets.US_ASCII));
    }
}
