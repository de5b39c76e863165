package dev.berth.common;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Pattern;

/**
 * Crash-safe file writes: the content goes to a temporary file beside the target, is synced,
 * and is renamed over the target; then the directory is synced. A reader, or berth after a
 * crash, sees either the old file or the new one, never a torn one. Files are {@code 0600}
 * unless a mode is given, and missing directories are created {@code 0700} (see
 * {@link PrivateFiles}): the umask decides nothing.
 */
public final class AtomicFiles {
    /** The name {@link #write} gives its temporary file. */
    private static final Pattern TEMPORARY = Pattern.compile("\\..+\\.tmp-[0-9a-f]{1,16}");

    private AtomicFiles() {
    }

    /** Writes {@code content} to {@code target}, {@code 0600}, synced. */
    public static void write(Path target, byte[] content) throws IOException {
        write(target, content, PrivateFiles.FILE, true);
    }

    /**
     * Writes {@code content} to {@code target} with {@code mode}; with {@code durable} false the
     * replacement is still atomic but not synced, so a power loss may bring the old file back.
     */
    public static void write(Path target, byte[] content, Set<PosixFilePermission> mode, boolean durable)
            throws IOException {
        Path dir = target.toAbsolutePath().getParent();
        PrivateFiles.createDirectories(dir);
        Path tmp = dir.resolve("." + target.getFileName() + ".tmp-" + Long.toHexString(ThreadLocalRandom.current().nextLong()));
        try {
            try (FileChannel ch = PrivateFiles.open(tmp, mode, true, StandardOpenOption.CREATE_NEW)) {
                ByteBuffer buf = ByteBuffer.wrap(content);
                while (buf.hasRemaining()) {
                    ch.write(buf);
                }
                if (durable) {
                    ch.force(true);
                }
            }
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
            }
            if (durable) {
                syncDirectory(dir);
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    public static void writeString(Path target, String content) throws IOException {
        write(target, content.getBytes(StandardCharsets.UTF_8));
    }

    /** {@link #write(Path, byte[], Set, boolean)} of a string in UTF-8. */
    public static void writeString(Path target, String content, Set<PosixFilePermission> mode, boolean durable)
            throws IOException {
        write(target, content.getBytes(StandardCharsets.UTF_8), mode, durable);
    }

    /**
     * Deletes the temporary files of {@link #write} calls that a crash cut short in {@code dir}
     * (named {@code .<target>.tmp-<hex>}; nothing else is touched) and returns how many. For a
     * store's load, while nothing writes in {@code dir}: a write under way would lose its file.
     * A missing directory has none.
     */
    public static int sweepTemporaries(Path dir) throws IOException {
        if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
            return 0;
        }
        int n = 0;
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, p -> TEMPORARY.matcher(p.getFileName().toString()).matches())) {
            for (Path p : ds) {
                if (Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS) && Files.deleteIfExists(p)) {
                    n++;
                }
            }
        }
        return n;
    }

    /** Makes a rename or unlink in {@code dir} durable. */
    public static void syncDirectory(Path dir) throws IOException {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException e) {
            // some filesystems refuse fsync on directories; the rename itself is still atomic
        }
    }
}
