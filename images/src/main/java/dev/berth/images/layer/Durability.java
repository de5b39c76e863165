package dev.berth.images.layer;

import dev.berth.common.BerthException;
import dev.berth.host.Libc;
import java.nio.file.Path;

/**
 * Makes everything written to a filesystem durable with one {@code syncfs}: blobs and unpacked
 * layers are written without a sync each, and an image's record is written only after this
 * call, so a record never names content a crash could have lost (what no record names is
 * swept at the next start).
 */
public final class Durability {
    private static final int O_RDONLY = 0;
    private static final int O_DIRECTORY = 0200000;
    private static final int O_CLOEXEC = 02000000;

    private Durability() {
    }

    public static void syncFilesystemOf(Path dir) {
        int fd = Libc.c().open(dir.toString(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
            int err = Libc.errno();
            throw BerthException.internal("cannot open " + dir + " to sync it: " + Libc.strerror(err), null);
        }
        try {
            if (Libc.c().syncfs(fd) != 0) {
                int err = Libc.errno();
                throw BerthException.internal("syncfs of " + dir + " failed: " + Libc.strerror(err), null);
            }
        } finally {
            Libc.c().close(fd);
        }
    }
}
