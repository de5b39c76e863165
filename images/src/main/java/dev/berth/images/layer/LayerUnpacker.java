package dev.berth.images.layer;

import dev.berth.common.Trees;
import com.github.luben.zstd.ZstdInputStream;
import dev.berth.common.BerthException;
import dev.berth.host.Libc;
import dev.berth.images.reference.Digest;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPInputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;

/**
 * Unpacks one layer (a tar, plain, gzip or zstd compressed) into an empty directory, ready to
 * be an overlayfs lower directory: OCI whiteouts become overlayfs whiteouts (0:0 character
 * devices; {@code trusted.overlay.opaque=y} on opaque directories); owners, modes (with
 * setuid/setgid/sticky), extended attributes, times, symlinks, hard links and device nodes are
 * kept. Hostile input is refused: an entry whose name is absolute or contains {@code ..}, a
 * hard link to such a name, and any entry below a symbolic link, so nothing is ever written
 * outside the directory. The uncompressed stream is checked against the layer's diff id.
 */
public final class LayerUnpacker {
    static final String WHITEOUT_PREFIX = ".wh.";
    static final String OPAQUE = ".wh..wh..opq";

    /** What unpacking produced. */
    public record Result(long bytes, long inodes) {
    }

    private final Path dir;
    private final UnpackLimits.Budget budget;
    private long streamBytes;
    /** The current entry's extended attributes from its PAX header, values as raw bytes. */
    private Map<String, byte[]> xattrs = Map.of();
    private long entries;
    private final List<Path> directories = new ArrayList<>();
    private final List<FileTime> directoryTimes = new ArrayList<>();
    private long bytes;
    private long inodes;

    private LayerUnpacker(Path dir, UnpackLimits.Budget budget) {
        this.dir = dir;
        this.budget = budget;
    }

    /** Bytes after the end of the tar archive still read (and hashed, the diff id covers them); beyond, the layer is refused. */
    static final int MAX_TRAILING = 1 << 20;

    /** Unpacks {@code compressed} into {@code dir} (which must exist and be empty), verifying it against {@code diffId}. */
    public static Result unpack(InputStream compressed, Path dir, Digest diffId) throws IOException {
        return unpack(compressed, dir, diffId, UnpackLimits.Budget.unlimited());
    }

    /**
     * As {@link #unpack(InputStream, Path, Digest)}, within {@code budget}: the layer's and the
     * image's caps on uncompressed bytes and entries; a cancelled budget stops between entries
     * and every 1 MiB of content. Only {@link #MAX_TRAILING} bytes after the end of the archive
     * are read: the diff id is checked over them, and a layer with more is refused rather than
     * inflated to the end (a few kilobytes of zeros are what tar writers leave).
     */
    public static Result unpack(InputStream compressed, Path dir, Digest diffId, UnpackLimits.Budget budget) throws IOException {
        LayerUnpacker u = new LayerUnpacker(dir, budget);
        MessageDigest hasher = diffId.newHasher();
        try (InputStream raw = decompress(new BufferedInputStream(compressed, 64 * 1024));
             DigestInputStream digesting = new DigestInputStream(u.counting(raw), hasher)) {
            BoundedTarInputStream tar = new BoundedTarInputStream(digesting);
            TarArchiveEntry e;
            while ((e = tar.getNextEntry()) != null) {
                budget.checkCancelled();
                u.xattrs = tar.rawXattrs();
                u.apply(e, tar);
            }
            long trailing = digesting.transferTo(new BoundedSink(MAX_TRAILING));
            if (trailing > MAX_TRAILING) {
                throw BerthException.failedPrecondition("refusing layer: more than %d bytes after the end of its tar archive", MAX_TRAILING);
            }
        }
        Digest actual = diffId.withValue(hasher.digest());
        if (!actual.equals(diffId)) {
            throw BerthException.failedPrecondition("layer content hashes to %s, not to its diff id %s", actual, diffId);
        }
        u.finishDirectories();
        return new Result(u.bytes, u.inodes);
    }

    /** Swallows bytes and fails once more than {@code max} came, so a stream is never read to its end. */
    private static final class BoundedSink extends OutputStream {
        private final long max;
        private long n;

        BoundedSink(long max) {
            this.max = max;
        }

        @Override
        public void write(int b) {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) {
            n += len;
            if (n > max) {
                throw BerthException.failedPrecondition("refusing layer: more than %d bytes after the end of its tar archive", max);
            }
        }
    }

    /** The uncompressed stream, every byte counted against the layer's and the image's caps. */
    private InputStream counting(InputStream in) {
        return new java.io.FilterInputStream(in) {
            @Override
            public int read() throws IOException {
                byte[] one = new byte[1];
                return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
            }

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                int n = super.read(b, off, len);
                if (n > 0) {
                    streamBytes += n;
                    if (streamBytes > budget.limits().layerBytes()) {
                        throw BerthException.resourceExhausted("refusing layer: it unpacks to more than %d bytes (the layer cap)",
                                budget.limits().layerBytes());
                    }
                    budget.chargeBytes(n);
                }
                return n;
            }

            @Override
            public long skip(long n) throws IOException {
                return read(new byte[(int) Math.min(n, 8192)], 0, (int) Math.min(n, 8192));
            }
        };
    }

    private void newInode() {
        inodes++;
        entry();
    }

    /** One more inode or hard link, against the layer's and the image's caps. */
    private void entry() {
        entries++;
        if (entries > budget.limits().layerEntries()) {
            throw BerthException.resourceExhausted("refusing layer: more than %d entries (the layer cap)", budget.limits().layerEntries());
        }
        budget.chargeEntries(1);
    }

    static InputStream decompress(BufferedInputStream in) throws IOException {
        in.mark(4);
        byte[] magic = in.readNBytes(4);
        in.reset();
        if (magic.length >= 2 && (magic[0] & 0xff) == 0x1f && (magic[1] & 0xff) == 0x8b) {
            return new GZIPInputStream(in, 64 * 1024);
        }
        if (magic.length == 4 && (magic[0] & 0xff) == 0x28 && (magic[1] & 0xff) == 0xb5 && (magic[2] & 0xff) == 0x2f
                && (magic[3] & 0xff) == 0xfd) {
            return new ZstdInputStream(in);
        }
        return in;
    }

    private static BerthException hostile(String name, String why) {
        return BerthException.failedPrecondition("refusing layer entry \"%s\": %s", name, why);
    }

    /** The path of a tar name inside the layer directory, or a refusal. */
    private Path resolve(String name) {
        if (name.indexOf('\0') >= 0) {
            throw hostile(name, "NUL in name");
        }
        if (name.length() > BoundedTarInputStream.MAX_NAME) {
            throw hostile(name.substring(0, 64) + "...", "name longer than " + BoundedTarInputStream.MAX_NAME + " bytes");
        }
        if (name.startsWith("/")) {
            throw hostile(name, "absolute path");
        }
        Path p = dir;
        for (String c : name.split("/")) {
            if (c.isEmpty() || c.equals(".")) {
                continue;
            }
            if (c.equals("..")) {
                throw hostile(name, "'..' in path");
            }
            p = p.resolve(c);
        }
        if (!p.startsWith(dir)) {
            throw hostile(name, "outside the layer");
        }
        return p;
    }

    /** Creates the missing parents of {@code p} (as root-owned 0755 directories); refuses a parent that is a symlink or not a directory. */
    private void prepareParents(Path p, String name) throws IOException {
        Path rel = dir.relativize(p);
        Path cur = dir;
        for (int i = 0; i < rel.getNameCount() - 1; i++) {
            cur = cur.resolve(rel.getName(i));
            BasicFileAttributes a = lstat(cur);
            if (a == null) {
                Files.createDirectory(cur);
                newInode();
            } else if (a.isSymbolicLink()) {
                throw hostile(name, "a parent directory (" + dir.relativize(cur) + ") is a symbolic link");
            } else if (!a.isDirectory()) {
                throw hostile(name, "a parent (" + dir.relativize(cur) + ") is not a directory");
            }
        }
    }

    private static BasicFileAttributes lstat(Path p) throws IOException {
        try {
            return Files.readAttributes(p, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        } catch (java.nio.file.NoSuchFileException e) {
            return null;
        }
    }

    /** Removes what is at {@code p} (never following a symlink), so a new entry can take its place. */
    private static void clear(Path p, boolean keepDirectory) throws IOException {
        BasicFileAttributes a = lstat(p);
        if (a == null) {
            return;
        }
        if (a.isDirectory()) {
            if (keepDirectory) {
                return;
            }
            Trees.deleteRecursively(p);
        } else {
            Files.delete(p);
        }
    }

    private void apply(TarArchiveEntry e, InputStream content) throws IOException {
        String name = e.getName();
        Path p = resolve(name);
        if (p.equals(dir)) {
            if (e.isDirectory()) {
                setAttributes(p, e, false);
            }
            return;
        }
        prepareParents(p, name);
        String base = p.getFileName().toString();
        if (base.equals(OPAQUE)) {
            Path parent = p.getParent();
            setXattr(parent, "trusted.overlay.opaque", "y".getBytes(StandardCharsets.US_ASCII), name);
            return;
        }
        if (base.startsWith(WHITEOUT_PREFIX)) {
            String hidden = base.substring(WHITEOUT_PREFIX.length());
            if (hidden.isEmpty() || hidden.equals(".") || hidden.equals("..") || hidden.startsWith(WHITEOUT_PREFIX)) {
                throw hostile(name, "malformed whiteout");
            }
            Path target = p.resolveSibling(hidden);
            clear(target, false);
            mknod(target, Libc.S_IFCHR, 0, 0, name);
            newInode();
            return;
        }
        if (e.isDirectory()) {
            clear(p, true);
            if (lstat(p) == null) {
                Files.createDirectory(p);
                newInode();
            }
            setAttributes(p, e, false);
            return;
        }
        clear(p, false);
        if (e.isSymbolicLink()) {
            Files.createSymbolicLink(p, Path.of(e.getLinkName()));
            newInode();
            setAttributes(p, e, true);
            return;
        }
        if (e.isLink()) {
            Path target = resolve(e.getLinkName());
            prepareParents(target, e.getLinkName());
            BasicFileAttributes a = lstat(target);
            if (a == null) {
                throw hostile(name, "hard link to \"" + e.getLinkName() + "\", which the layer does not contain");
            }
            if (a.isDirectory()) {
                throw hostile(name, "hard link to a directory");
            }
            entry();
            Files.createLink(p, target);
            return;
        }
        if (e.isCharacterDevice() || e.isBlockDevice() || e.isFIFO()) {
            int type = e.isCharacterDevice() ? Libc.S_IFCHR : e.isBlockDevice() ? Libc.S_IFBLK : Libc.S_IFIFO;
            mknod(p, type, e.getDevMajor(), e.getDevMinor(), name);
            newInode();
            setAttributes(p, e, false);
            return;
        }
        if (e.isFile()) {
            try (OutputStream out = Files.newOutputStream(p, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS)) {
                byte[] buf = new byte[64 * 1024];
                int n;
                long sinceCheck = 0;
                while ((n = content.read(buf)) > 0) {
                    out.write(buf, 0, n);
                    bytes += n;
                    sinceCheck += n;
                    if (sinceCheck >= 1 << 20) {
                        sinceCheck = 0;
                        budget.checkCancelled();
                    }
                }
            } catch (FileAlreadyExistsException ex) {
                throw hostile(name, "appeared twice at once");
            }
            newInode();
            setAttributes(p, e, false);
        }
        // other entry types (global PAX headers, GNU volume headers) carry no file
    }

    private void mknod(Path p, int type, long major, long minor, String name) {
        if (Libc.c().mknod(p.toString(), type, Libc.makedev(major, minor)) != 0) {
            int err = Libc.errno();
            throw BerthException.failedPrecondition("cannot create device node for layer entry \"%s\": %s", name, Libc.strerror(err));
        }
    }

    /** An attribute a layer names: any but overlayfs's own, which come only from whiteout entries. */
    private void setXattrFromLayer(Path p, String attr, byte[] value, String name) {
        if (attr.startsWith("trusted.overlay.")) {
            return;
        }
        setXattr(p, attr, value, name);
    }

    private void setXattr(Path p, String key, byte[] value, String name) {
        if (Libc.c().lsetxattr(p.toString(), key, value, value.length, 0) != 0) {
            int err = Libc.errno();
            throw BerthException.failedPrecondition("cannot set extended attribute %s for layer entry \"%s\": %s", key, name, Libc.strerror(err));
        }
    }

    private void setAttributes(Path p, TarArchiveEntry e, boolean symlink) throws IOException {
        String path = p.toString();
        if (Libc.c().lchown(path, (int) e.getLongUserId(), (int) e.getLongGroupId()) != 0) {
            int err = Libc.errno();
            throw BerthException.failedPrecondition("cannot set the owner of layer entry \"%s\": %s", e.getName(), Libc.strerror(err));
        }
        if (!symlink && Libc.c().chmod(path, e.getMode() & 07777) != 0) {
            int err = Libc.errno();
            throw BerthException.failedPrecondition("cannot set the mode of layer entry \"%s\": %s", e.getName(), Libc.strerror(err));
        }
        for (Map.Entry<String, byte[]> x : xattrs.entrySet()) {
            setXattrFromLayer(p, x.getKey(), x.getValue(), e.getName());
        }
        for (Map.Entry<String, String> h : e.getExtraPaxHeaders().entrySet()) {
            if (h.getKey().startsWith("LIBARCHIVE.xattr.")) {
                // libarchive's form: the name URL-encoded is rare, the value base64 (so ASCII, safe as a String)
                byte[] value;
                try {
                    value = java.util.Base64.getDecoder().decode(h.getValue());
                } catch (IllegalArgumentException ex) {
                    throw hostile(e.getName(), "malformed LIBARCHIVE.xattr value");
                }
                setXattrFromLayer(p, h.getKey().substring("LIBARCHIVE.xattr.".length()), value, e.getName());
            }
        }
        FileTime mtime = FileTime.from(e.getLastModifiedTime().toInstant());
        if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
            directories.add(p);
            directoryTimes.add(mtime);
        } else {
            setTimes(p, mtime);
        }
    }

    /** Sets atime and mtime without opening or following the entry (a FIFO must not be opened). */
    private static void setTimes(Path p, FileTime t) {
        long nanos = t.to(java.util.concurrent.TimeUnit.NANOSECONDS);
        long sec = Math.floorDiv(nanos, 1_000_000_000L);
        long ns = Math.floorMod(nanos, 1_000_000_000L);
        if (Libc.c().utimensat(Libc.AT_FDCWD, p.toString(), new long[] {sec, ns, sec, ns}, Libc.AT_SYMLINK_NOFOLLOW) != 0) {
            int err = Libc.errno();
            throw BerthException.failedPrecondition("cannot set the times of %s: %s", p, Libc.strerror(err));
        }
    }

    /** Directory times last: creating their entries changed them. */
    private void finishDirectories() throws IOException {
        for (int i = directories.size() - 1; i >= 0; i--) {
            Path d = directories.get(i);
            if (Files.isDirectory(d, LinkOption.NOFOLLOW_LINKS)) {
                setTimes(d, directoryTimes.get(i));
            }
        }
    }
}
