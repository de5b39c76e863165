package dev.berth.host.testing;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Small tmpfs mounts that a test fills, so that any code writing state meets "No space left on
 * device" where it would on a full node (root: mounting needs CAP_SYS_ADMIN).
 */
public final class SmallFilesystems {
    /** What the kernel's ENOSPC reads as in an IOException's message. */
    public static final String NO_SPACE = "No space left on device";

    private SmallFilesystems() {
    }

    /** Mounts a tmpfs of {@code size} (e.g. {@code 8m}) with mode {@code 0700} at {@code at}. */
    public static void mount(Path at, String size) throws IOException, InterruptedException {
        Process p = new ProcessBuilder("mount", "-t", "tmpfs", "-o", "size=" + size + ",mode=0700", "tmpfs", at.toString())
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        if (p.waitFor() != 0) {
            throw new IOException("cannot mount a tmpfs at " + at + ": " + out.strip());
        }
    }

    /** Unmounts {@code at} lazily (whatever still holds it), for a test's finally block. */
    public static void unmount(Path at) throws IOException, InterruptedException {
        new ProcessBuilder("umount", "--lazy", at.toString()).inheritIO().start().waitFor();
    }

    /**
     * Writes {@code file} until its filesystem has no block left (in ever smaller chunks, so
     * not even a byte fits), then gives {@code leaveFree} bytes back; returns the bytes it holds.
     */
    public static long fill(Path file, long leaveFree) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            for (int chunk : new int[] {1 << 20, 4096, 1}) {
                ByteBuffer b = ByteBuffer.allocate(chunk);
                try {
                    while (true) {
                        b.clear();
                        ch.write(b);
                    }
                } catch (IOException e) {
                    if (!String.valueOf(e.getMessage()).contains(NO_SPACE)) {
                        throw e;
                    }
                }
            }
            ch.truncate(Math.max(0, ch.size() - leaveFree));
            return ch.size();
        }
    }
}
