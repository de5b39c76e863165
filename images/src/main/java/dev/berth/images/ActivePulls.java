package dev.berth.images;

import dev.berth.common.BerthException;
import dev.berth.images.reference.Reference;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The pulls under way, by normalised reference, for whoever shows their progress (berth's
 * PullProgress gRPC service, which the {@code berth pull} display reads). At most
 * {@link #MAX_TRACKED} pulls are tracked at once: a pull beyond that runs as usual, only
 * unseen. A pull's entry is dropped when it ends; a watcher that holds its {@link Watched}
 * still sees the final state.
 */
public final class ActivePulls {
    /** Pulls tracked at once; the CRI server runs far fewer (its pull pool), so this only bounds misuse. */
    public static final int MAX_TRACKED = 64;
    /** The longest reference a watcher may ask for. */
    public static final int MAX_REFERENCE = 4096;

    /** Where one layer is. */
    public enum LayerState { WAITING, DOWNLOADING, EXTRACTING, DONE, EXISTS }

    /** One layer of a pull: blob digest, compressed size, bytes stored so far, state. */
    public record Layer(String digest, long size, long done, LayerState state) {
    }

    /**
     * A pull as it stands: the normalised reference, time since it began, bytes of config and
     * layers to fetch (0 while resolving) and stored so far, its layers in manifest order, and
     * whether it ended (with {@code error} null on success).
     */
    public record Snapshot(String reference, long elapsedNanos, long totalBytes, long doneBytes, List<Layer> layers, boolean done,
                           String error) {
        public Snapshot {
            layers = List.copyOf(layers);
        }
    }

    /** A pull being watched. */
    public interface Watched {
        Snapshot snapshot();
    }

    private final int capacity;
    private final Map<String, List<PullProgress>> pulls = new LinkedHashMap<>();
    private int size;

    public ActivePulls() {
        this(MAX_TRACKED);
    }

    ActivePulls(int capacity) {
        this.capacity = capacity;
    }

    /**
     * The reference {@code image} normalises to, as pulls are keyed.
     * @throws BerthException INVALID_ARGUMENT for an overlong or invalid reference
     */
    public static String normalise(String image) {
        if (image == null || image.length() > MAX_REFERENCE) {
            throw BerthException.invalidArgument("image reference is longer than %d characters", MAX_REFERENCE);
        }
        return Reference.parse(image).toString();
    }

    /** The oldest pull of the reference under way. */
    public synchronized Optional<Watched> find(String normalised) {
        List<PullProgress> l = pulls.get(normalised);
        return l == null || l.isEmpty() ? Optional.empty() : Optional.of(l.get(0));
    }

    /** Pulls tracked now. */
    public synchronized int size() {
        return size;
    }

    /** Tracks a pull; false (and untracked) when {@link #MAX_TRACKED} already are. */
    synchronized boolean add(PullProgress p) {
        if (size >= capacity) {
            return false;
        }
        pulls.computeIfAbsent(p.reference(), k -> new ArrayList<>(1)).add(p);
        size++;
        return true;
    }

    synchronized void remove(PullProgress p) {
        List<PullProgress> l = pulls.get(p.reference());
        if (l != null && l.remove(p)) {
            size--;
            if (l.isEmpty()) {
                pulls.remove(p.reference());
            }
        }
    }
}
