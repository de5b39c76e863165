package dev.berth.podsandbox.container;

import dev.berth.common.AtomicFiles;
import dev.berth.common.Trees;
import dev.berth.common.BerthException;
import dev.berth.common.Json;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The container records: one {@code <dir>/<id>/record.json} per container, replaced atomically
 * (and synced) on every change, and held in memory for reads. A new record is on disk before
 * anyone sees it. A change of a known record that cannot be written (a full disk) still takes
 * effect in memory, so what berth reports matches the container, and is written again by
 * {@link #flush} until it is on disk; {@link #update} tells the caller it is not on disk yet.
 */
final class ContainerStore {
    private static final Logger LOG = LoggerFactory.getLogger(ContainerStore.class);

    /** A record before and after one change; {@code unwritten} when the change is in memory only (the write failed). */
    record Change(ContainerRecord before, ContainerRecord after, BerthException unwritten) {
    }

    /** The name of the marker whose presence says a removal of the container began (see {@link #markRemoving}). */
    static final String REMOVING = "removing";

    /** How a record reaches the disk ({@link AtomicFiles#write}; the tests' stand-in for a full disk). */
    @FunctionalInterface
    interface Writer {
        void write(Path file, byte[] content) throws IOException;

        /** As {@link #write}, atomic but not synced (a create's first record, see {@link #persistCreating}). */
        default void writeUnsynced(Path file, byte[] content) throws IOException {
            write(file, content);
        }
    }

    /** Records through {@link AtomicFiles}: synced, or atomic only. */
    static final Writer FILES = new Writer() {
        @Override
        public void write(Path file, byte[] content) throws IOException {
            AtomicFiles.write(file, content);
        }

        @Override
        public void writeUnsynced(Path file, byte[] content) throws IOException {
            AtomicFiles.write(file, content, dev.berth.common.PrivateFiles.FILE, false);
        }
    };

    private final Path dir;
    private final Writer writer;
    private final ConcurrentHashMap<String, ContainerRecord> records = new ConcurrentHashMap<>();
    /** Ids whose record in memory is newer than the one on disk (its write failed). */
    private final Set<String> unwritten = ConcurrentHashMap.newKeySet();

    ContainerStore(Path dir) {
        this(dir, FILES);
    }

    ContainerStore(Path dir, Writer writer) {
        this.dir = dir;
        this.writer = writer;
    }

    Path dir() {
        return dir;
    }

    /**
     * Reads every readable record on disk (unreadable ones are logged and skipped), without
     * taking them in: the caller decides which to {@link #adopt}. A directory without a record
     * (a crash during the first write of a record left it, empty or with the write's temporary
     * file) is removed: no container was created before its record was on disk; so is one whose
     * record is empty or all zero bytes, which only a power loss leaves of a create's unsynced
     * first record ({@link #persistCreating}; a synced record is never so). Temporary files of
     * an interrupted replacement beside a record are removed too.
     */
    List<ContainerRecord> load() {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        List<ContainerRecord> out = new ArrayList<>();
        try (Stream<Path> dirs = Files.list(dir)) {
            for (Path d : dirs.toList()) {
                Path file = d.resolve("record.json");
                if (!Files.isRegularFile(file) || lostToAPowerLoss(file)) {
                    if (Files.isDirectory(d, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                        LOG.info("removing {}, a container directory without a record", d);
                        try {
                            Trees.deleteRecursively(d);
                        } catch (IOException e) {
                            LOG.warn("cannot remove {}: {}", d, e.getMessage());
                        }
                    }
                    continue;
                }
                removeTemporaries(d);
                try {
                    out.add(Json.mapper().readValue(file.toFile(), ContainerRecord.class));
                } catch (IOException e) {
                    LOG.error("ignoring unreadable container record {}: {}", file, e.getMessage());
                }
            }
        } catch (IOException e) {
            throw BerthException.internal("cannot read container records in " + dir, e);
        }
        return out;
    }

    /** Whether {@code file} is empty or all zero bytes: what a power loss may leave of an unsynced new file. */
    private static boolean lostToAPowerLoss(Path file) {
        try {
            if (Files.size(file) > 1 << 20) {
                return false;
            }
            for (byte b : Files.readAllBytes(file)) {
                if (b != 0) {
                    return false;
                }
            }
            return true;
        } catch (IOException e) {
            return false; // logged as unreadable by the caller
        }
    }

    /** Removes what an atomic write a crash cut short left beside a record ({@code .record.json.tmp-*}). */
    private static void removeTemporaries(Path recordDir) {
        try {
            AtomicFiles.sweepTemporaries(recordDir);
        } catch (IOException e) {
            LOG.warn("cannot remove temporary files in {}: {}", recordDir, e.getMessage());
        }
    }

    /** Whether a removal of the container began before berth stopped (see {@link #markRemoving}). */
    boolean removing(String id) {
        return Files.exists(dir.resolve(id).resolve(REMOVING));
    }

    /**
     * Notes, durably, that the container's removal begins: a container found with this mark at
     * start-up is removed to the end, never listed with half of it gone.
     */
    void markRemoving(String id) {
        Path mark = dir.resolve(id).resolve(REMOVING);
        try {
            if (!Files.exists(mark)) {
                writer.write(mark, new byte[0]);
            }
        } catch (IOException e) {
            throw BerthException.fromIo("cannot mark container " + id + " as being removed", e);
        }
    }

    /** Takes a record found on disk in. */
    void adopt(ContainerRecord rec) {
        records.put(rec.id(), rec);
    }

    /**
     * Takes a new container's record in (in memory only; {@link #persist} writes it).
     *
     * @throws BerthException ALREADY_EXISTS for a known id, or for a container of the same name
     *         and attempt in the same sandbox
     */
    synchronized void add(ContainerRecord rec) {
        if (records.containsKey(rec.id())) {
            throw BerthException.alreadyExists("container %s already exists", rec.id());
        }
        for (ContainerRecord r : records.values()) {
            if (r.sandboxId().equals(rec.sandboxId()) && r.name().equals(rec.name()) && r.attempt() == rec.attempt()) {
                throw BerthException.alreadyExists("container %s (attempt %d) already exists in sandbox %s as %s",
                        rec.name(), rec.attempt(), rec.sandboxId(), r.id());
            }
        }
        records.put(rec.id(), rec);
    }

    /** Writes the record to disk and holds it. */
    void put(ContainerRecord rec) {
        persist(rec);
        records.put(rec.id(), rec);
    }

    /** Writes the record to disk (crash-safe: the old file or the new one, never half of it). */
    void persist(ContainerRecord rec) {
        try {
            writer.write(dir.resolve(rec.id()).resolve("record.json"), Json.mapper().writeValueAsBytes(rec));
        } catch (IOException e) {
            throw BerthException.fromIo("cannot persist the record of container " + rec.id(), e);
        }
    }

    /**
     * Writes a new container's first record ({@code creating}), atomically but without a sync:
     * a crash of berth alone leaves it readable (the page cache outlives the process), so the
     * create is rolled back from it; only a power loss can lose it or leave it empty, and then
     * nothing else of the create outlived it but what start-up removes without a record (the
     * writable layer, image volumes and image hold; bundles, mounts, the runtime's state and
     * conmon lived in memory). The record that says the container exists is synced.
     */
    void persistCreating(ContainerRecord rec) {
        if (!rec.creating()) {
            throw new IllegalArgumentException("not a creating record: " + rec.id());
        }
        try {
            writer.writeUnsynced(dir.resolve(rec.id()).resolve("record.json"), Json.mapper().writeValueAsBytes(rec));
        } catch (IOException e) {
            throw BerthException.fromIo("cannot persist the record of container " + rec.id(), e);
        }
    }

    /**
     * Applies a change to the record under the store's lock for it and persists it when it
     * changed. A change that cannot be written takes effect in memory all the same (it is
     * what happened to the container) and is written by {@link #flush}; the returned change
     * names the failure.
     *
     * @throws BerthException NOT_FOUND for an unknown id
     */
    Change update(String id, UnaryOperator<ContainerRecord> fn) {
        Change[] out = new Change[1];
        records.computeIfPresent(id, (k, r) -> {
            ContainerRecord n = fn.apply(r);
            BerthException failed = null;
            if (n != r || unwritten.contains(id)) {
                try {
                    persist(n);
                    unwritten.remove(id);
                } catch (BerthException e) {
                    failed = e;
                    if (unwritten.add(id)) { // warned once, not on every retry
                        LOG.warn("container {}: the record stays in memory until it can be written: {}", id,
                                e.getMessage());
                    }
                }
            }
            out[0] = new Change(r, n, failed);
            return n;
        });
        if (out[0] == null) {
            throw BerthException.notFound("container %s not found", id);
        }
        return out[0];
    }

    /** Writes the records whose last change could not be written; those that still fail wait for the next call. */
    void flush() {
        for (String id : List.copyOf(unwritten)) {
            if (!records.containsKey(id)) {
                unwritten.remove(id);
                continue;
            }
            update(id, r -> r);
        }
    }

    /** Whether the record in memory is newer than the one on disk. */
    boolean unwritten(String id) {
        return unwritten.contains(id);
    }

    /** @throws BerthException NOT_FOUND for an unknown id */
    ContainerRecord get(String id) {
        ContainerRecord r = records.get(id);
        if (r == null) {
            throw BerthException.notFound("container %s not found", id);
        }
        return r;
    }

    Optional<ContainerRecord> find(String id) {
        return Optional.ofNullable(records.get(id));
    }

    Collection<ContainerRecord> all() {
        return records.values();
    }

    /** Forgets the record in memory (its file stays until {@link #delete}). */
    void forget(String id) {
        records.remove(id);
        unwritten.remove(id);
    }

    /** Deletes the record's directory on disk, durably. */
    void delete(String id) throws IOException {
        Trees.deleteRecursively(dir.resolve(id));
        AtomicFiles.syncDirectory(dir);
    }
}
