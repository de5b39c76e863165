package dev.berth.podsandbox.idmap;

import dev.berth.common.BerthException;
import dev.berth.host.Libc;
import java.io.IOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.function.LongUnaryOperator;

/**
 * The fallback where a filesystem takes no idmapped mounts: the owners of what berth made for a
 * pod in a user namespace are shifted on disk into the pod's range (host id = the map's host id
 * for the owner's id inside), so the pod sees them owned as they were meant.
 */
public final class IdShift {
    private IdShift() {
    }

    /**
     * Shifts the owner of every file at and below {@code root} (not following links, not into
     * other mounts) through {@code uid} and {@code gid} (an id they map to -1 keeps its owner).
     * chown(2) clears the setuid and setgid bits of a file, so they are set again.
     */
    public static void tree(Path root, LongUnaryOperator uid, LongUnaryOperator gid) {
        try {
            Object rootDev = Files.getAttribute(root, "unix:dev", LinkOption.NOFOLLOW_LINKS);
            Files.walkFileTree(root, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) throws IOException {
                    if (!rootDev.equals(Files.getAttribute(dir, "unix:dev", LinkOption.NOFOLLOW_LINKS))) {
                        return FileVisitResult.SKIP_SUBTREE;
                    }
                    one(dir, uid, gid);
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                    one(file, uid, gid);
                    return FileVisitResult.CONTINUE;
                }
            });
        } catch (IOException e) {
            throw BerthException.internal("cannot shift the owners below " + root + " into the pod's user namespace", e);
        }
    }

    /** Shifts the owner of one file (not following a link). */
    public static void one(Path p, LongUnaryOperator uid, LongUnaryOperator gid) throws IOException {
        int u = (Integer) Files.getAttribute(p, "unix:uid", LinkOption.NOFOLLOW_LINKS);
        int g = (Integer) Files.getAttribute(p, "unix:gid", LinkOption.NOFOLLOW_LINKS);
        int mode = (Integer) Files.getAttribute(p, "unix:mode", LinkOption.NOFOLLOW_LINKS);
        long nu = uid.applyAsLong(Integer.toUnsignedLong(u));
        long ng = gid.applyAsLong(Integer.toUnsignedLong(g));
        nu = nu < 0 ? Integer.toUnsignedLong(u) : nu;
        ng = ng < 0 ? Integer.toUnsignedLong(g) : ng;
        if (nu == Integer.toUnsignedLong(u) && ng == Integer.toUnsignedLong(g)) {
            return;
        }
        if (Libc.c().lchown(p.toString(), (int) nu, (int) ng) != 0) {
            throw new IOException("chown " + p + ": " + Libc.describe(Libc.errno()));
        }
        boolean link = (mode & 0170000) == 0120000;
        if (!link && (mode & 06000) != 0 && Libc.c().chmod(p.toString(), mode & 07777) != 0) {
            throw new IOException("chmod " + p + ": " + Libc.describe(Libc.errno()));
        }
    }
}
