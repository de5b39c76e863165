package dev.berth.images.content;

import dev.berth.common.BerthException;
import dev.berth.images.reference.Digest;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.LongConsumer;

/**
 * Blobs stored by digest under {@code <root>/blobs/<algorithm>/<hex>}. Every byte written is
 * checked against the expected digest and size while it streams; a download goes to a
 * temporary file under {@code <root>/ingest} that is renamed into place only once verified, so
 * a blob is either absent or whole (durable once the image service has synced the filesystem
 * before recording an image that needs it). Concurrent requests for the same blob share one download.
 */
public final class ContentStore {
    /** Opens the content of a blob (e.g. from a registry). */
    @FunctionalInterface
    public interface Source {
        InputStream open() throws IOException;
    }

    private final Path root;
    private final Path blobs;
    private final Path ingest;
    private final ConcurrentHashMap<Digest, CompletableFuture<Path>> inFlight = new ConcurrentHashMap<>();

    public ContentStore(Path root) {
        this.root = root;
        this.blobs = root.resolve("blobs");
        this.ingest = root.resolve("ingest");
        try {
            Files.createDirectories(blobs);
            Files.createDirectories(ingest);
            // whatever was being downloaded when berth last stopped is incomplete
            try (DirectoryStream<Path> ds = Files.newDirectoryStream(ingest)) {
                for (Path p : ds) {
                    Files.deleteIfExists(p);
                }
            }
        } catch (IOException e) {
            throw BerthException.failedPrecondition("cannot prepare content store %s: %s", root, e.getMessage());
        }
    }

    public Path root() {
        return root;
    }

    public Path path(Digest d) {
        return blobs.resolve(d.algorithm()).resolve(d.hex());
    }

    public boolean has(Digest d) {
        return Files.isRegularFile(path(d));
    }

    public byte[] read(Digest d) {
        try {
            return Files.readAllBytes(path(d));
        } catch (IOException e) {
            throw BerthException.notFound("blob %s is not in the content store", d);
        }
    }

    /** Stores bytes already in memory (a manifest or config), after checking them against {@code d}. */
    public Path put(Descriptor d, byte[] content) {
        return ensure(d, () -> new java.io.ByteArrayInputStream(content), n -> { });
    }

    /**
     * Makes sure the blob is present: returns at once if it is; joins a download of the same
     * blob already under way; otherwise copies it from {@code source}, verifying as it goes.
     * {@code progress} hears the bytes copied so far.
     */
    public Path ensure(Descriptor d, Source source, LongConsumer progress) {
        Path target = path(d.digest());
        if (Files.isRegularFile(target)) {
            return target;
        }
        CompletableFuture<Path> mine = new CompletableFuture<>();
        CompletableFuture<Path> existing;
        while ((existing = inFlight.putIfAbsent(d.digest(), mine)) != null) {
            try {
                return existing.join();
            } catch (java.util.concurrent.CompletionException e) {
                if (e.getCause() instanceof Abandoned) {
                    continue; // its reader gave up on it: download it here
                }
                if (e.getCause() instanceof RuntimeException re) {
                    throw re;
                }
                throw e;
            }
        }
        try {
            Path p = Files.isRegularFile(target) ? target : download(d, source, progress);
            mine.complete(p);
            return p;
        } catch (RuntimeException e) {
            mine.completeExceptionally(e);
            throw e;
        } finally {
            inFlight.remove(d.digest(), mine);
        }
    }

    private Path download(Descriptor d, Source source, LongConsumer progress) {
        try (Writer w = new Writer(d, progress); InputStream in = source.open()) {
            byte[] buf = new byte[128 * 1024];
            int n;
            while ((n = in.read(buf)) > 0) {
                w.write(buf, 0, n);
            }
            return w.commit();
        } catch (InterruptedIOException e) {
            throw new BerthException(BerthException.Kind.CANCELLED, "download of blob " + d.digest() + " was cancelled", e);
        } catch (IOException e) {
            throw BerthException.unavailable("download of blob %s failed: %s", d.digest(), e.getMessage() == null ? e.toString() : e.getMessage());
        } catch (UncheckedIOException e) {
            throw BerthException.unavailable("download of blob %s failed: %s", d.digest(), e.getCause().getMessage());
        }
    }

    /**
     * Opens {@code source} for a reader that consumes the blob as it arrives (e.g. unpacks a
     * layer while it downloads): every byte read is also written to the store and hashed.
     * {@link Storing#finish()} then reads what the consumer left, verifies the blob against its
     * digest and size and only then moves it into place; {@link Storing#abort()} drops it.
     * Returns null when the blob is present or another thread is storing it: the caller then
     * waits for it with {@link #ensure} instead.
     *
     * <p>Failures reading {@code source} come out of every call as {@link BerthException}s
     * (unavailable, cancelled); a digest or size mismatch as failed precondition.
     */
    public Storing openStoring(Descriptor d, Source source, LongConsumer progress) {
        if (Files.isRegularFile(path(d.digest()))) {
            return null;
        }
        CompletableFuture<Path> mine = new CompletableFuture<>();
        if (inFlight.putIfAbsent(d.digest(), mine) != null) {
            return null;
        }
        Writer w = null;
        try {
            w = new Writer(d, progress);
            return new Storing(d, source.open(), w, mine);
        } catch (IOException | RuntimeException e) {
            BerthException b = asBerth(d, e);
            if (w != null) {
                w.close();
            }
            mine.completeExceptionally(b);
            inFlight.remove(d.digest(), mine);
            throw b;
        }
    }

    /** What waiters on a download see when its reader abandons it: they try it themselves. */
    private static final class Abandoned extends RuntimeException {
        Abandoned() {
            super("abandoned", null, false, false);
        }
    }

    private static BerthException asBerth(Descriptor d, Exception e) {
        if (e instanceof BerthException b) {
            return b;
        }
        if (e instanceof InterruptedIOException) {
            return new BerthException(BerthException.Kind.CANCELLED, "download of blob " + d.digest() + " was cancelled", e);
        }
        String m = e instanceof UncheckedIOException u ? u.getCause().getMessage() : e.getMessage();
        return BerthException.unavailable("download of blob %s failed: %s", d.digest(), m == null ? e.toString() : m);
    }

    /**
     * A blob read by a consumer as it is stored ({@link #openStoring}). Closing the stream
     * (as a consumer does) does not end the download: {@link #finish()} or {@link #abort()} does.
     */
    public final class Storing extends InputStream {
        private final Descriptor d;
        private final InputStream in;
        private final Writer w;
        private final CompletableFuture<Path> done;
        private boolean ended;

        private Storing(Descriptor d, InputStream in, Writer w, CompletableFuture<Path> done) {
            this.d = d;
            this.in = in;
            this.w = w;
            this.done = done;
        }

        @Override
        public int read() {
            byte[] one = new byte[1];
            int n = read(one, 0, 1);
            return n < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) {
            if (ended) {
                throw BerthException.failedPrecondition("blob %s: read after the download ended", d.digest());
            }
            try {
                int n = in.read(b, off, len);
                if (n > 0) {
                    w.write(b, off, n);
                }
                return n;
            } catch (IOException | RuntimeException e) {
                throw asBerth(d, e);
            }
        }

        @Override
        public void close() {
            // the consumer is done; the download ends with finish() or abort()
        }

        /** Whether the download has ended (finished, failed or aborted). */
        public boolean ended() {
            return ended;
        }

        /** Whether the blob has been stored by {@link #finish()}. */
        public boolean finished() {
            return done.isDone() && !done.isCompletedExceptionally();
        }

        /** Reads the rest of the blob, verifies it and moves it into place. */
        public Path finish() {
            if (ended) {
                throw BerthException.failedPrecondition("blob %s: the download already ended", d.digest());
            }
            try {
                byte[] buf = new byte[128 * 1024];
                int n;
                while ((n = in.read(buf)) > 0) {
                    w.write(buf, 0, n);
                }
                Path p = w.commit();
                done.complete(p);
                return p;
            } catch (IOException | RuntimeException e) {
                BerthException b = asBerth(d, e);
                done.completeExceptionally(b);
                throw b;
            } finally {
                end();
            }
        }

        /** Drops the download (nothing is stored); does nothing after {@link #finish()}. */
        public void abort() {
            if (!ended) {
                done.completeExceptionally(new Abandoned());
                end();
            }
        }

        private void end() {
            ended = true;
            w.close();
            try {
                in.close();
            } catch (IOException | RuntimeException e) {
                // nothing more to read
            }
            inFlight.remove(d.digest(), done);
        }
    }

    /**
     * A blob being written to a temporary file under {@code ingest}: bytes are counted and
     * hashed as they come; {@link #commit} checks size and digest and moves the file into
     * place; {@link #close} without a commit deletes it.
     */
    private final class Writer implements AutoCloseable {
        private final Descriptor d;
        private final LongConsumer progress;
        private final Path tmp;
        private final MessageDigest hasher;
        private final OutputStream out;
        private long total;

        Writer(Descriptor d, LongConsumer progress) throws IOException {
            this.d = d;
            this.progress = progress;
            this.tmp = ingest.resolve(d.digest().hex() + "." + Long.toHexString(ThreadLocalRandom.current().nextLong()));
            this.hasher = d.digest().newHasher();
            this.out = Files.newOutputStream(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
        }

        void write(byte[] b, int off, int n) throws IOException {
            total += n;
            if (total > d.size()) {
                throw BerthException.failedPrecondition("blob %s is larger than the %d bytes its descriptor says", d.digest(), d.size());
            }
            hasher.update(b, off, n);
            out.write(b, off, n);
            progress.accept(total);
        }

        Path commit() throws IOException {
            out.close();
            if (total != d.size()) {
                throw BerthException.failedPrecondition("blob %s ended after %d of %d bytes", d.digest(), total, d.size());
            }
            Digest actual = d.digest().withValue(hasher.digest());
            if (!actual.equals(d.digest())) {
                throw BerthException.failedPrecondition("blob %s does not match its digest (content hashes to %s)", d.digest(), actual);
            }
            // not synced here: the image service syncs the filesystem once before it records an image
            Path target = path(d.digest());
            Files.createDirectories(target.getParent());
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, target);
            }
            return target;
        }

        @Override
        public void close() {
            try {
                out.close();
            } catch (IOException e) {
                // the file goes anyway
            }
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException e) {
                // best effort; ingest is emptied at start-up too
            }
        }
    }

    public void delete(Digest d) {
        try {
            Files.deleteIfExists(path(d));
        } catch (IOException e) {
            throw BerthException.internal("cannot delete blob " + d, e);
        }
    }

    /** Every blob present. */
    public Set<Digest> list() {
        Set<Digest> out = new HashSet<>();
        try (DirectoryStream<Path> algs = Files.newDirectoryStream(blobs)) {
            for (Path alg : algs) {
                try (DirectoryStream<Path> ds = Files.newDirectoryStream(alg)) {
                    for (Path p : ds) {
                        try {
                            out.add(new Digest(alg.getFileName().toString(), p.getFileName().toString()));
                        } catch (BerthException e) {
                            // not a blob
                        }
                    }
                }
            }
        } catch (IOException e) {
            throw BerthException.internal("cannot list content store " + root, e);
        }
        return out;
    }

    /** Temporary files of downloads under way (none once every pull has ended). */
    public long ingestCount() {
        try (var s = Files.list(ingest)) {
            return s.count();
        } catch (IOException e) {
            return 0;
        }
    }
}
