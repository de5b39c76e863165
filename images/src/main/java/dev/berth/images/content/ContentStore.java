package dev.berth.images.content;

import dev.berth.common.PrivateFiles;
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
            // closed to other users (blobs can be private images); an older berth left them 0755
            PrivateFiles.directory(root);
            PrivateFiles.directory(blobs);
            PrivateFiles.directory(ingest);
            try (DirectoryStream<Path> ds = Files.newDirectoryStream(blobs)) {
                for (Path alg : ds) {
                    if (Files.isDirectory(alg, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                        PrivateFiles.directory(alg);
                    }
                }
            }
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

    /**
     * The content of a small blob (a config or manifest), at most {@code max} bytes: a larger
     * one is refused without being read, so a stored blob never decides an allocation.
     */
    public byte[] read(Digest d, int max) {
        try (InputStream in = Files.newInputStream(path(d))) {
            byte[] b = in.readNBytes(max);
            if (b.length == max && in.read() >= 0) {
                throw BerthException.failedPrecondition("blob %s is larger than %d bytes", d, max);
            }
            return b;
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
                if (e.getCause() instanceof BerthException be && be.kind() == BerthException.Kind.CANCELLED
                        && !Thread.currentThread().isInterrupted()) {
                    continue; // the pull that was downloading it was cancelled, not this one
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
            if (BerthException.isNoSpace(e)) {
                // the store's disk, not the registry: the kubelet must not read it as a network failure
                throw BerthException.fromIo("cannot store blob " + d.digest(), root, e);
            }
            throw BerthException.unavailable("download of blob %s failed: %s", d.digest(), e.getMessage() == null ? e.toString() : e.getMessage());
        } catch (UncheckedIOException e) {
            if (BerthException.isNoSpace(e)) {
                throw BerthException.fromIo("cannot store blob " + d.digest(), root, e.getCause());
            }
            throw BerthException.unavailable("download of blob %s failed: %s", d.digest(), e.getCause().getMessage());
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
            this.out = Files.newOutputStream(Files.createFile(tmp, PrivateFiles.fileAttribute()), StandardOpenOption.WRITE);
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
            PrivateFiles.directory(target.getParent());
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
