package dev.berth.images.layer;

import dev.berth.common.BerthException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;

/**
 * A tar reader that bounds what it holds in memory for one entry's metadata, which a layer
 * chooses freely: a PAX header at most {@link #MAX_PAX} bytes, a GNU long name or link at most
 * {@link #MAX_NAME} (PATH_MAX), all metadata read for one entry at most {@link #MAX_METADATA};
 * beyond, the layer is refused before the bytes are read. It also keeps the raw bytes of each
 * entry's PAX header, so that extended attribute values, which are binary
 * ({@code security.capability}), are not decoded as UTF-8 as commons-compress does.
 *
 * <p>commons-compress reads long names and PAX records through this stream's own
 * {@link #read(byte[], int, int)} while {@link #getNextEntry()} runs; the bound is enforced
 * there. The previous entry's unread content is drained first, so it is not mistaken for metadata.
 */
final class BoundedTarInputStream extends TarArchiveInputStream {
    static final int MAX_PAX = 1 << 20;
    static final int MAX_NAME = 4096;
    static final int MAX_METADATA = 2 * MAX_PAX + 2 * MAX_NAME;
    private static final String SCHILY_XATTR = "SCHILY.xattr.";

    private boolean inHeader;
    private long metadata;
    private final ByteArrayOutputStream pax = new ByteArrayOutputStream();
    private Map<String, byte[]> xattrs = Map.of();

    BoundedTarInputStream(InputStream in) {
        super(in, StandardCharsets.UTF_8.name());
    }

    @Override
    public TarArchiveEntry getNextEntry() throws IOException {
        if (inHeader) {
            return super.getNextEntry(); // commons-compress moving on after a long name or PAX header
        }
        if (getCurrentEntry() != null) {
            transferTo(OutputStream.nullOutputStream()); // unread content of the previous entry is not metadata
        }
        inHeader = true;
        metadata = 0;
        pax.reset();
        try {
            TarArchiveEntry e = super.getNextEntry();
            xattrs = e == null ? Map.of() : parseXattrs(pax.toByteArray());
            return e;
        } finally {
            inHeader = false;
        }
    }

    /** The entry's {@code SCHILY.xattr.*} PAX records, attribute name to raw value bytes. */
    Map<String, byte[]> rawXattrs() {
        return xattrs;
    }

    @Override
    protected byte[] getLongNameData() throws IOException {
        TarArchiveEntry e = getCurrentEntry();
        if (e != null && e.getSize() > MAX_NAME) {
            throw BerthException.failedPrecondition("refusing layer: a GNU long %s of %d bytes (at most %d)",
                    e.isGNULongLinkEntry() ? "link" : "name", e.getSize(), MAX_NAME);
        }
        return super.getLongNameData();
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
        if (!inHeader) {
            return super.read(b, off, len);
        }
        TarArchiveEntry e = getCurrentEntry();
        boolean isPax = e != null && (e.isPaxHeader() || e.isGlobalPaxHeader());
        if (isPax && e.getSize() > MAX_PAX) {
            throw BerthException.failedPrecondition("refusing layer: a PAX header of %d bytes (at most %d)", e.getSize(), MAX_PAX);
        }
        int n = super.read(b, off, Math.min(len, 64 * 1024));
        if (n > 0) {
            metadata += n;
            if (metadata > MAX_METADATA) {
                throw BerthException.failedPrecondition("refusing layer: more than %d bytes of metadata for one entry", MAX_METADATA);
            }
            if (isPax && e.isPaxHeader()) {
                pax.write(b, off, n);
            }
        }
        return n;
    }

    /** Parses PAX records ({@code "<length> <key>=<value>\n"}) keeping values as bytes; only extended attributes are kept. */
    static Map<String, byte[]> parseXattrs(byte[] raw) {
        Map<String, byte[]> out = new LinkedHashMap<>();
        int i = 0;
        while (i < raw.length) {
            if (raw[i] == 0) {
                break; // padding
            }
            int sp = i;
            long len = 0;
            while (sp < raw.length && raw[sp] >= '0' && raw[sp] <= '9' && len <= raw.length) {
                len = len * 10 + (raw[sp] - '0');
                sp++;
            }
            if (sp >= raw.length || raw[sp] != ' ' || len <= sp - i || i + len > raw.length || raw[(int) (i + len - 1)] != '\n') {
                throw BerthException.failedPrecondition("refusing layer: malformed PAX record");
            }
            int end = (int) (i + len - 1);
            int eq = sp + 1;
            while (eq < end && raw[eq] != '=') {
                eq++;
            }
            if (eq >= end) {
                throw BerthException.failedPrecondition("refusing layer: malformed PAX record");
            }
            String key = new String(raw, sp + 1, eq - sp - 1, StandardCharsets.UTF_8);
            if (key.startsWith(SCHILY_XATTR)) {
                byte[] value = java.util.Arrays.copyOfRange(raw, eq + 1, end);
                String attr = key.substring(SCHILY_XATTR.length());
                out.put(attr, value);
            }
            i = end + 1;
        }
        return out;
    }
}
