package dev.berth.common;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashSet;
import java.util.Set;

/**
 * Files and directories with explicit modes: berth's state is closed to other local users
 * whatever the umask. A file is created with its mode (so it is never readable by others, not
 * even between creation and a chmod) and then given exactly that mode, since the umask may
 * have taken bits away; a directory that already exists (left by an older berth) is given its
 * mode too.
 */
public final class PrivateFiles {
    /** {@code 0600}: records, bundles, logs. */
    public static final Set<PosixFilePermission> FILE = PosixFilePermissions.fromString("rw-------");
    /** {@code 0700}: every directory of berth's state that no container has to traverse. */
    public static final Set<PosixFilePermission> DIRECTORY = PosixFilePermissions.fromString("rwx------");
    /** {@code 0711}: the state roots, which a container's own (possibly mapped) user may have to traverse. */
    public static final Set<PosixFilePermission> TRAVERSABLE = PosixFilePermissions.fromString("rwx--x--x");
    /** {@code 0644}: files a container reads (hosts, resolv.conf, hostname) and public configuration. */
    public static final Set<PosixFilePermission> READABLE = PosixFilePermissions.fromString("rw-r--r--");

    private PrivateFiles() {
    }

    /** {@link #FILE} as an attribute, for files created with their mode ({@link Files#createFile}, channels). */
    public static FileAttribute<Set<PosixFilePermission>> fileAttribute() {
        return PosixFilePermissions.asFileAttribute(FILE);
    }

    /** {@link #directory(Path, Set)} with {@link #DIRECTORY}. */
    public static Path directory(Path dir) throws IOException {
        return directory(dir, DIRECTORY);
    }

    /**
     * Creates {@code dir} with {@code mode}, and its missing parents {@code 0700}; an existing
     * {@code dir} is given {@code mode}. Existing parents are left as they are.
     */
    public static Path directory(Path dir, Set<PosixFilePermission> mode) throws IOException {
        try {
            // the common case, a directory that is already as it should be, costs one stat
            PosixFileAttributes a = Files.readAttributes(dir, PosixFileAttributes.class);
            if (a.isDirectory() && a.permissions().equals(mode)) {
                return dir;
            }
        } catch (NoSuchFileException e) {
            // made below
        }
        createMissing(dir.toAbsolutePath().getParent());
        try {
            Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(DIRECTORY));
        } catch (FileAlreadyExistsException e) {
            if (!Files.isDirectory(dir)) {
                throw e;
            }
        }
        Files.setPosixFilePermissions(dir, mode);
        return dir;
    }

    /** Creates the missing directories of {@code dir} (and {@code dir}) {@code 0700}; existing ones are left as they are. */
    public static Path createDirectories(Path dir) throws IOException {
        createMissing(dir.toAbsolutePath());
        return dir;
    }

    private static void createMissing(Path dir) throws IOException {
        if (dir == null || Files.isDirectory(dir)) {
            return;
        }
        Deque<Path> missing = new ArrayDeque<>();
        for (Path p = dir; p != null && !Files.isDirectory(p); p = p.getParent()) {
            missing.push(p);
        }
        while (!missing.isEmpty()) {
            Path p = missing.pop();
            try {
                Files.createDirectory(p, PosixFilePermissions.asFileAttribute(DIRECTORY));
                Files.setPosixFilePermissions(p, DIRECTORY);
            } catch (FileAlreadyExistsException e) {
                if (!Files.isDirectory(p)) {
                    throw e;
                }
            }
        }
    }

    /**
     * Opens {@code file} for writing, creating it with {@code mode} if it is missing, and gives
     * it exactly {@code mode} before anything is written. With {@code noFollow} a symbolic link
     * at {@code file} is refused.
     */
    public static FileChannel open(Path file, Set<PosixFilePermission> mode, boolean noFollow, OpenOption... options)
            throws IOException {
        Set<OpenOption> opts = new HashSet<>(Set.of(options));
        opts.add(StandardOpenOption.WRITE);
        if (!opts.contains(StandardOpenOption.CREATE_NEW)) {
            opts.add(StandardOpenOption.CREATE);
        }
        if (noFollow) {
            opts.add(LinkOption.NOFOLLOW_LINKS);
        }
        FileChannel ch = FileChannel.open(file, opts, PosixFilePermissions.asFileAttribute(mode));
        try {
            Files.setPosixFilePermissions(file, mode);
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
        return ch;
    }

    /** Writes {@code content} to {@code file} (replaced in place, not atomically), which has {@code mode} before it holds any of it. */
    public static void write(Path file, byte[] content, Set<PosixFilePermission> mode) throws IOException {
        try (FileChannel ch = open(file, mode, true, StandardOpenOption.TRUNCATE_EXISTING)) {
            ByteBuffer buf = ByteBuffer.wrap(content);
            while (buf.hasRemaining()) {
                ch.write(buf);
            }
        }
    }

    /** {@link #write(Path, byte[], Set)} with {@link #FILE}. */
    public static void write(Path file, byte[] content) throws IOException {
        write(file, content, FILE);
    }
}
