package dev.berth.images.content;

import dev.berth.common.BerthException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;

/**
 * The image store is closed to other local users: its directories are {@code 0700} and its
 * files {@code 0600}, whatever the umask. Blobs can be private images; unpacked layers hold
 * setuid files and device nodes that must not be reachable by anyone but root (a layer's own
 * contents keep their modes: a {@code 0700} parent is what makes them unreachable).
 * Directories an older berth created {@code 0755} are closed when the store opens.
 */
public final class StoreModes {
    public static final Set<PosixFilePermission> DIRECTORY = PosixFilePermissions.fromString("rwx------");
    public static final Set<PosixFilePermission> FILE = PosixFilePermissions.fromString("rw-------");

    private StoreModes() {
    }

    /** {@code 0600} at creation, for {@link Files#createFile} and channels. */
    public static FileAttribute<Set<PosixFilePermission>> file() {
        return PosixFilePermissions.asFileAttribute(FILE);
    }

    /** Creates {@code dir} (and missing parents) and makes it {@code 0700}, also when it existed with another mode. */
    public static Path closedDirectory(Path dir) throws IOException {
        Files.createDirectories(dir);
        close(dir);
        return dir;
    }

    /** Makes an existing directory {@code 0700} (never through a symlink). */
    public static void close(Path dir) throws IOException {
        if (Files.isSymbolicLink(dir)) {
            throw BerthException.failedPrecondition("%s is a symbolic link, not a directory of the image store", dir);
        }
        if (!Files.getPosixFilePermissions(dir, LinkOption.NOFOLLOW_LINKS).equals(DIRECTORY)) {
            Files.setPosixFilePermissions(dir, DIRECTORY);
        }
    }
}
