package dev.berth.images.store;

import dev.berth.common.PrivateFiles;
import dev.berth.common.AtomicFiles;
import dev.berth.common.BerthException;
import dev.berth.common.Json;
import dev.berth.images.reference.Digest;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Image records, one JSON file per image under {@code <root>/<hex>.json}, written crash-safely
 * and read back at start. A repo tag names at most one image: giving it to a new image takes it
 * from the old one. All mutations are serialised by the store's lock; reads see a snapshot.
 */
public final class ImageStore {
    private static final Logger LOG = LoggerFactory.getLogger(ImageStore.class);
    private final Path root;
    private final Path staging;
    private final Map<Digest, ImageRecord> images = new HashMap<>();

    private long seenStamp = Long.MIN_VALUE;

    /**
     * A record written ahead to a temporary file, not synced and not visible: made durable by
     * a filesystem sync its writer runs, and visible by {@link #put(ImageRecord, Staged)}.
     */
    public static final class Staged {
        private final ImageRecord record;
        private final Path file;

        private Staged(ImageRecord record, Path file) {
            this.record = record;
            this.file = file;
        }
    }

    public ImageStore(Path root) {
        this.root = root;
        this.staging = root.resolve(".staging"); // not the records' directory: staging does not change its time stamp
        try {
            // closed to other users; an older berth left them 0755
            PrivateFiles.directory(root);
            // writes cut short by a crash
            PrivateFiles.directory(staging);
            for (Path dir : List.of(root, staging)) {
                try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, ".*")) {
                    for (Path p : ds) {
                        if (Files.isRegularFile(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                            Files.delete(p);
                        }
                    }
                }
            }
        } catch (IOException e) {
            throw BerthException.failedPrecondition("cannot create image record directory %s: %s", root, e.getMessage());
        }
        reload();
    }

    /** Reads the records again when the directory changed (e.g. {@code berth image import} added one). */
    private void refresh() {
        try {
            long stamp = Files.getLastModifiedTime(root).to(java.util.concurrent.TimeUnit.NANOSECONDS);
            if (stamp != seenStamp) {
                reload();
            }
        } catch (IOException e) {
            // keep what is known
        }
    }

    private void reload() {
        try {
            long stamp = Files.getLastModifiedTime(root).to(java.util.concurrent.TimeUnit.NANOSECONDS);
            images.clear();
            try (DirectoryStream<Path> ds = Files.newDirectoryStream(root, "*.json")) {
                for (Path p : ds) {
                    try {
                        ImageRecord r = Json.mapper().readValue(p.toFile(), ImageRecord.class);
                        images.put(r.id(), r);
                    } catch (IOException | RuntimeException e) {
                        LOG.warn("ignoring unreadable image record {}: {}", p, e.getMessage());
                    }
                }
            }
            seenStamp = stamp;
        } catch (IOException e) {
            throw BerthException.failedPrecondition("cannot read image records in %s: %s", root, e.getMessage());
        }
    }

    public synchronized List<ImageRecord> list() {
        refresh();
        return new ArrayList<>(images.values());
    }

    public synchronized Optional<ImageRecord> get(Digest id) {
        refresh();
        return Optional.ofNullable(images.get(id));
    }

    public synchronized Optional<ImageRecord> byTag(String tag) {
        refresh();
        return images.values().stream().filter(r -> r.repoTags().contains(tag)).findFirst();
    }

    public synchronized Optional<ImageRecord> byRepoDigest(String repoDigest) {
        refresh();
        return images.values().stream().filter(r -> r.repoDigests().contains(repoDigest)).findFirst();
    }

    /**
     * Writes {@code record} ahead, for {@link #put(ImageRecord, Staged)}: the caller syncs the
     * filesystem in between, so that making the record visible costs one rename and one
     * directory sync. Needs no lock.
     */
    public Staged stage(ImageRecord record) {
        Path tmp = staging.resolve("." + file(record.id()).getFileName() + ".staged-" + Long.toHexString(java.util.concurrent.ThreadLocalRandom.current().nextLong()));
        try {
            Files.write(Files.createFile(tmp, PrivateFiles.fileAttribute()),
                    Json.write(record).getBytes(java.nio.charset.StandardCharsets.UTF_8), java.nio.file.StandardOpenOption.WRITE);
        } catch (IOException e) {
            throw BerthException.fromIo("cannot write image record " + record.id(), root, e);
        }
        return new Staged(record, tmp);
    }

    /** Drops a staged record that was not put (e.g. the pull failed after staging it). */
    public void discard(Staged staged) {
        try {
            Files.deleteIfExists(staged.file);
        } catch (IOException e) {
            // removed at the next start
        }
    }

    /**
     * As {@link #put(ImageRecord)}; when the record to store is the one staged (as it is for an
     * image new to the store), its staged file, synced by the caller since it was staged, is
     * renamed into place. The staged file is gone afterwards either way.
     */
    public synchronized ImageRecord put(ImageRecord record, Staged staged) {
        try {
            return merge(record, staged);
        } finally {
            discard(staged);
        }
    }

    /**
     * Adds an image or merges its references into the one with the same id; the tags it
     * carries are taken from any other image.
     */
    public synchronized ImageRecord put(ImageRecord record) {
        return merge(record, null);
    }

    private ImageRecord merge(ImageRecord record, Staged staged) {
        refresh();
        ImageRecord current = images.get(record.id());
        List<String> tags = new ArrayList<>(current == null ? List.of() : current.repoTags());
        List<String> digests = new ArrayList<>(current == null ? List.of() : current.repoDigests());
        for (String t : record.repoTags()) {
            if (!tags.contains(t)) {
                tags.add(t);
            }
        }
        for (String d : record.repoDigests()) {
            if (!digests.contains(d)) {
                digests.add(d);
            }
        }
        ImageRecord merged = (current == null ? record : current.withPinned(current.pinned() || record.pinned())).withRefs(tags, digests);
        for (ImageRecord other : List.copyOf(images.values())) {
            if (!other.id().equals(record.id()) && other.repoTags().stream().anyMatch(tags::contains)) {
                List<String> left = new ArrayList<>(other.repoTags());
                left.removeAll(tags);
                write(other.withRefs(left, other.repoDigests()));
            }
        }
        if (staged != null && staged.record.equals(merged)) {
            long before = stamp();
            try {
                Files.move(staged.file, file(merged.id()), java.nio.file.StandardCopyOption.ATOMIC_MOVE,
                        java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                AtomicFiles.syncDirectory(root);
            } catch (IOException e) {
                throw BerthException.fromIo("cannot write image record " + merged.id(), root, e);
            }
            images.put(merged.id(), merged);
            ownChange(before);
        } else {
            write(merged);
        }
        return merged;
    }

    public synchronized void remove(Digest id) {
        refresh();
        if (images.remove(id) != null) {
            long before = stamp();
            try {
                Files.deleteIfExists(file(id));
                AtomicFiles.syncDirectory(root);
            } catch (IOException e) {
                throw BerthException.internal("cannot remove image record " + id, e);
            }
            ownChange(before);
        }
    }

    public synchronized Collection<ImageRecord> snapshot() {
        refresh();
        return List.copyOf(images.values());
    }

    private void write(ImageRecord r) {
        long before = stamp();
        try {
            AtomicFiles.writeString(file(r.id()), Json.write(r));
        } catch (IOException e) {
            throw BerthException.fromIo("cannot write image record " + r.id(), root, e);
        }
        images.put(r.id(), r);
        ownChange(before);
    }

    private long stamp() {
        try {
            return Files.getLastModifiedTime(root).to(java.util.concurrent.TimeUnit.NANOSECONDS);
        } catch (IOException e) {
            return Long.MIN_VALUE;
        }
    }

    /** Our own change need not be read back, unless another process changed the directory too. */
    private void ownChange(long before) {
        if (before == seenStamp) {
            seenStamp = stamp();
        }
    }

    private Path file(Digest id) {
        return root.resolve(id.algorithm() + "-" + id.hex() + ".json");
    }
}
