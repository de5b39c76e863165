package dev.berth.streaming;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/** The test JVM's own open descriptors, as the kernel lists them in /proc/self/fd. */
public final class OpenFiles {
    private OpenFiles() {
    }

    /** What each open descriptor points at ("/dev/ptmx", "socket:[123]", a path, ...). */
    public static List<String> targets() throws IOException {
        List<String> out = new ArrayList<>();
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            for (Path fd : fds.toList()) {
                try {
                    out.add(Files.readSymbolicLink(fd).toString());
                } catch (IOException e) {
                    // closed meanwhile (the listing's own descriptor)
                }
            }
        }
        return out;
    }

    public static long count() throws IOException {
        return targets().size();
    }

    /** Terminal masters held open (descriptors of /dev/ptmx or /dev/pts/ptmx). */
    public static long terminals() throws IOException {
        return targets().stream().filter(t -> t.endsWith("ptmx")).count();
    }

    /** The descriptor count once it has not changed for a second (bounded wait): a baseline. */
    public static long quiet() throws IOException, InterruptedException {
        long end = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(20);
        long n = count();
        int still = 0;
        while (still < 10 && System.nanoTime() < end) {
            Thread.sleep(100);
            long m = count();
            still = m == n ? still + 1 : 0;
            n = m;
        }
        return n;
    }

    /**
     * Waits (bounded) for the descriptor count to come back to {@code baseline} or below: the
     * server releases a session's descriptors on its own threads after the client saw the end.
     */
    public static long settle(long baseline) throws IOException, InterruptedException {
        long end = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(20);
        long n = count();
        while (n > baseline && System.nanoTime() < end) {
            Thread.sleep(100);
            n = count();
        }
        return n;
    }
}
