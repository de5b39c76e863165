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
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The container records: one {@code <dir>/<id>/record.json} per container, replaced atomically
 * (and synced) on every change, and held in memory for reads. A change is on disk before anyone
 * sees it.
 */
final class ContainerStore {
    private static final Logger LOG = LoggerFactory.getLogger(ContainerStore.class);

    /** A record before and after one change. */
    record Change(ContainerRecord before, ContainerRecord after) {
    }

    private final Path dir;
    private final ConcurrentHashMap<String, ContainerRecord> records = new ConcurrentHashMap<>();

    ContainerStore(Path dir) {
        this.dir = dir;
    }

    Path dir() {
        return dir;
    }

    /**
     * Reads every readable record on disk (unreadable ones are logged and skipped), without
     * taking them in: the caller decides which to {@link #adopt}.
     */
    List<ContainerRecord> load() {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        List<ContainerRecord> out = new ArrayList<>();
        try (Stream<Path> dirs = Files.list(dir)) {
            for (Path d : dirs.toList()) {
                Path file = d.resolve("record.json");
                if (!Files.isRegularFile(file)) {
                    continue;
                }
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
            AtomicFiles.write(dir.resolve(rec.id()).resolve("record.json"), Json.mapper().writeValueAsBytes(rec));
        } catch (IOException e) {
            throw BerthException.internal("cannot persist the record of container " + rec.id(), e);
        }
    }

    /**
     * Applies a change to the record under the store's lock for it and persists it when it
     * changed.
     *
     * @throws BerthException NOT_FOUND for an unknown id
     */
    Change update(String id, UnaryOperator<ContainerRecord> fn) {
        Change[] out = new Change[1];
        records.computeIfPresent(id, (k, r) -> {
            ContainerRecord n = fn.apply(r);
            if (n != r) {
                persist(n);
            }
            out[0] = new Change(r, n);
            return n;
        });
        if (out[0] == null) {
            throw BerthException.notFound("container %s not found", id);
        }
        return out[0];
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
    }

    /** Deletes the record's directory on disk, durably. */
    void delete(String id) throws IOException {
        Trees.deleteRecursively(dir.resolve(id));
        AtomicFiles.syncDirectory(dir);
    }
}
