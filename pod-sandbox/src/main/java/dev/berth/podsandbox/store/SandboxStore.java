package dev.berth.podsandbox.store;

import dev.berth.common.AtomicFiles;
import dev.berth.common.BerthException;
import dev.berth.common.Json;
import dev.berth.common.PrivateFiles;
import java.io.IOException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The sandbox records: in memory for reads, on disk ({@code <dir>/<id>/sandbox.json}, crash-safe)
 * for restarts. Each sandbox has its own operation lock (run, stop and remove of one sandbox are
 * serialised; different sandboxes never wait on each other), and reads take the current record
 * without any lock, so status and list never wait behind a slow stop.
 */
public final class SandboxStore {
    private static final Logger LOG = LoggerFactory.getLogger(SandboxStore.class);
    private static final String FILE = "sandbox.json";

    /** One sandbox: its operation lock and its current record. */
    public static final class Entry {
        private final ReentrantLock lock = new ReentrantLock();
        private volatile SandboxRecord record;
        private volatile boolean removed;

        private Entry(SandboxRecord record) {
            this.record = record;
        }

        public SandboxRecord record() {
            return record;
        }

        public ReentrantLock lock() {
            return lock;
        }

        /** True once the sandbox was removed while a caller waited for its lock. */
        public boolean removed() {
            return removed;
        }
    }

    private final Path dir;
    private final ConcurrentHashMap<String, Entry> byId = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<String, String> idByName = new ConcurrentHashMap<>();

    public SandboxStore(Path dir) {
        this.dir = dir;
    }

    /**
     * Reads every record on disk; a record that cannot be read is logged and left in place.
     * What a kill left of a write is swept first: the temporary files of record writes, and the
     * directories of sandboxes without a record (a run whose first record write failed or was
     * cut short, or a removal cut short after the record went). Nothing but the record is ever
     * written in a sandbox's directory, and the record is the first thing a run writes and the
     * last a removal deletes, so such a directory holds nothing of a live sandbox.
     */
    public List<SandboxRecord> load() {
        List<SandboxRecord> loaded = new ArrayList<>();
        if (!Files.isDirectory(dir)) {
            return loaded;
        }
        try (Stream<Path> dirs = Files.list(dir)) {
            for (Path d : dirs.toList()) {
                if (!Files.isDirectory(d, LinkOption.NOFOLLOW_LINKS)) {
                    continue;
                }
                Path file = d.resolve(FILE);
                try {
                    AtomicFiles.sweepTemporaries(d);
                } catch (IOException ex) {
                    LOG.warn("cannot sweep temporary files in {}: {}", d, ex.toString());
                }
                if (!Files.exists(file, LinkOption.NOFOLLOW_LINKS)) {
                    sweepRecordless(d);
                    continue;
                }
                if (!Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS)) {
                    continue;
                }
                try {
                    SandboxRecord r = Json.mapper().readValue(file.toFile(), SandboxRecord.class);
                    Entry e = new Entry(r);
                    byId.put(r.id(), e);
                    idByName.put(r.config().metadata().key(), r.id());
                    loaded.add(r);
                } catch (IOException | RuntimeException ex) {
                    LOG.error("cannot read sandbox record {}: {}", file, ex.toString());
                }
            }
        } catch (IOException e) {
            throw BerthException.internal("cannot list sandbox records in " + dir, e);
        }
        return loaded;
    }

    /** Deletes a sandbox directory without a record; one that still holds anything is logged and kept. */
    private void sweepRecordless(Path d) {
        try {
            Files.delete(d);
            LOG.info("removed {}: a sandbox directory without a record (its run or removal was cut short)", d);
        } catch (DirectoryNotEmptyException ex) {
            LOG.warn("keeping {}: it has no sandbox record but holds other files", d);
        } catch (IOException ex) {
            LOG.warn("cannot remove {}, a sandbox directory without a record: {}", d, ex.toString());
        }
    }

    /**
     * Claims the pod's name for {@code id}.
     * @throws BerthException ALREADY_EXISTS naming the sandbox that holds the name
     */
    public void reserveName(String nameKey, String id) {
        String holder = idByName.putIfAbsent(nameKey, id);
        if (holder != null && !holder.equals(id)) {
            throw BerthException.alreadyExists("a sandbox named %s already exists: %s (remove it first)", nameKey, holder);
        }
    }

    public void releaseName(String nameKey, String id) {
        idByName.remove(nameKey, id);
    }

    /** Adds a new sandbox, its record already written to disk and synced. The returned entry is locked by the caller. */
    public Entry add(SandboxRecord record) {
        return add(record, true);
    }

    /**
     * Adds a new sandbox, its record already written to disk (synced when {@code durable}; see
     * {@link #update(Entry, UnaryOperator, boolean)}). The returned entry is locked by the caller.
     */
    public Entry add(SandboxRecord record, boolean durable) {
        try {
            if (durable) {
                persist(record);
            } else {
                replace(record);
            }
        } catch (RuntimeException ex) {
            discardDirectory(record.id(), ex);
            throw ex;
        }
        Entry e = new Entry(record);
        e.lock.lock();
        if (byId.putIfAbsent(record.id(), e) != null) {
            e.lock.unlock();
            throw BerthException.alreadyExists("sandbox %s already exists", record.id());
        }
        return e;
    }

    /** Applies {@code change} to the record: written to disk and synced, then visible. Caller holds the entry's lock. */
    public SandboxRecord update(Entry e, UnaryOperator<SandboxRecord> change) {
        return update(e, change, true);
    }

    /**
     * Applies {@code change}; with {@code durable} false the new record replaces the old one
     * atomically (a reader or a restarted daemon sees one or the other, whatever kills the
     * daemon) but is not synced, so after a power loss the previous record may come back.
     * For changes that a reboot undoes anyway (a pod turning READY: after a reboot its
     * namespaces and cgroup are gone and it is NOTREADY either way) that costs nothing and
     * saves two disk flushes.
     */
    public SandboxRecord update(Entry e, UnaryOperator<SandboxRecord> change, boolean durable) {
        SandboxRecord next = change.apply(e.record);
        if (durable) {
            persist(next);
        } else {
            replace(next);
        }
        e.record = next;
        return next;
    }

    /**
     * Deletes the directory of a sandbox whose first record write failed (e.g. on a full disk):
     * nothing refers to it yet. A failure is attached to {@code cause}; {@link #load} sweeps it.
     */
    private void discardDirectory(String id, RuntimeException cause) {
        Path d = dir.resolve(id);
        try {
            Files.deleteIfExists(d.resolve(FILE));
            AtomicFiles.sweepTemporaries(d);
            Files.deleteIfExists(d);
        } catch (IOException e) {
            cause.addSuppressed(e);
        }
    }

    /**
     * Changes the record in memory only: for start-up, when a change it derives from the disk
     * again at every start (a CREATING or lost sandbox turning NOTREADY) cannot be written, e.g.
     * on a full disk. Caller holds the entry's lock.
     */
    public SandboxRecord updateInMemory(Entry e, UnaryOperator<SandboxRecord> change) {
        SandboxRecord next = change.apply(e.record);
        e.record = next;
        return next;
    }

    /** Forgets the sandbox: record file and directory deleted, name released. Caller holds the lock. */
    public void delete(Entry e) {
        SandboxRecord r = e.record;
        Path d = dir.resolve(r.id());
        try {
            Files.deleteIfExists(d.resolve(FILE));
            try (Stream<Path> rest = Files.exists(d) ? Files.list(d) : Stream.empty()) {
                for (Path p : rest.toList()) {
                    Files.deleteIfExists(p);
                }
            }
            Files.deleteIfExists(d);
            AtomicFiles.syncDirectory(dir);
        } catch (IOException ex) {
            throw BerthException.internal("cannot delete the record of sandbox " + r.id(), ex);
        }
        e.removed = true;
        byId.remove(r.id(), e);
        releaseName(r.config().metadata().key(), r.id());
    }

    public Optional<Entry> get(String id) {
        return Optional.ofNullable(byId.get(id));
    }

    /**
     * The sandbox named by a full id or a prefix that matches exactly one sandbox.
     * @throws BerthException INVALID_ARGUMENT when the prefix is ambiguous
     */
    public Optional<Entry> find(String idOrPrefix) {
        Entry exact = byId.get(idOrPrefix);
        if (exact != null || idOrPrefix.isEmpty()) {
            return Optional.ofNullable(exact);
        }
        List<Entry> matches = byId.entrySet().stream().filter(en -> en.getKey().startsWith(idOrPrefix))
                .map(java.util.Map.Entry::getValue).limit(2).toList();
        if (matches.size() > 1) {
            throw BerthException.invalidArgument("sandbox id prefix %s is ambiguous", idOrPrefix);
        }
        return matches.stream().findFirst();
    }

    /** Every sandbox, oldest first. */
    public List<Entry> all() {
        Collection<Entry> values = byId.values();
        return values.stream().sorted(Comparator.comparingLong((Entry e) -> e.record.createdAtNanos())).toList();
    }

    private void replace(SandboxRecord r) {
        try {
            AtomicFiles.writeString(dir.resolve(r.id()).resolve(FILE), Json.write(r), PrivateFiles.FILE, false);
        } catch (IOException e) {
            throw BerthException.fromIo("cannot write the record of sandbox " + r.id(), dir, e);
        }
    }

    private void persist(SandboxRecord r) {
        try {
            AtomicFiles.writeString(dir.resolve(r.id()).resolve(FILE), Json.write(r));
        } catch (IOException e) {
            throw BerthException.fromIo("cannot write the record of sandbox " + r.id(), dir, e);
        }
    }
}
