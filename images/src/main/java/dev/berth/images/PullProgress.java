package dev.berth.images;

import dev.berth.common.BerthException;
import dev.berth.images.content.Descriptor;
import dev.berth.images.reference.Digest;
import dev.berth.images.reference.Reference;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The progress of one pull, watched by the image service's watchdog: it logs a line at most
 * once a second while the pull runs (reference, bytes done of total, layers done), and when no
 * byte has arrived from the registry for the progress timeout while the pull is reading, it
 * cancels the pull by closing the streams it reads and interrupting its reading threads.
 *
 * <p>Only time spent reading from the registry counts: a pull waiting for a blob that another
 * pull is downloading has no reader of its own, and that other pull is watched instead.
 */
final class PullProgress implements ActivePulls.Watched {
    private static final Logger LOG = LoggerFactory.getLogger(ImageService.class);
    private static final long LOG_EVERY = 1_000_000_000L;

    /** A thread reading from the registry for this pull, and what it reads (null while it waits for headers). */
    final class Reader implements AutoCloseable {
        private final Thread thread = Thread.currentThread();
        private final String what;
        private InputStream stream;
        private boolean active = true;
        private volatile boolean watched;

        private Reader(String what) {
            this.what = what;
        }

        /** From now on a stall of this reader cancels the pull. */
        void watch() {
            if (!watched) {
                if (readers.stream().noneMatch(r -> r.watched)) {
                    lastProgress = System.nanoTime(); // time spent waiting on other pulls is not this pull's stall
                }
                watched = true;
            }
        }

        synchronized void reading(InputStream in) {
            stream = in;
        }

        /** The body has been read and closed: what the thread does next is not reading from the registry. */
        private void bodyClosed() {
            synchronized (this) {
                stream = null;
            }
            watched = false;
        }

        /** Closes the stream and interrupts the thread, unless the reader has ended. */
        private synchronized boolean cancel() {
            if (!active) {
                return false;
            }
            try {
                if (stream != null) {
                    stream.close();
                }
            } catch (IOException | RuntimeException e) {
                // the interrupt unblocks the thread anyway
            }
            thread.interrupt();
            return true;
        }

        /** Ends the reader: no interrupt can reach its thread after this; one that came before is cleared. */
        @Override
        public void close() {
            synchronized (this) {
                active = false;
            }
            readers.remove(this);
            if (stopped) {
                Thread.interrupted();
            }
        }
    }

    private final Reference ref;
    private final long timeoutNanos;
    private final long start = System.nanoTime();
    private final Set<Reader> readers = ConcurrentHashMap.newKeySet();
    private final Map<Digest, Long> blobBytes = new ConcurrentHashMap<>();
    private final AtomicInteger layersDone = new AtomicInteger();
    private volatile long totalBytes = -1;
    private volatile int layersTotal = -1;
    private volatile long lastProgress = start;
    private volatile long lastLog = start;
    private volatile boolean callerCancelled;
    /** Stalled or cancelled by its caller: every thread working for the pull stops. */
    private volatile boolean stopped;
    private volatile String stalledOn = "";
    /** The manifest's layers, once known; their states by digest (absent: waiting). */
    private volatile List<Descriptor> layers = List.of();
    private final Map<Digest, ActivePulls.LayerState> states = new ConcurrentHashMap<>();
    private volatile boolean ended;
    private volatile String error;

    PullProgress(Reference ref, Duration timeout) {
        this.ref = ref;
        this.timeoutNanos = timeout.toNanos();
    }

    /** The pull's size and layers, once its manifest is known. */
    void expect(long bytes, List<Descriptor> layerDescs) {
        layers = List.copyOf(layerDescs);
        totalBytes = bytes;
        layersTotal = layerDescs.size();
    }

    /** The normalised reference pulled. */
    String reference() {
        return ref.toString();
    }

    /** A layer's blob {@code d} is in this state now (a digest that is no layer's, e.g. the config's, is ignored when shown). */
    void state(Digest d, ActivePulls.LayerState s) {
        states.put(d, s);
    }

    /** The pull ended: {@code failure} null when it succeeded. */
    void end(Throwable failure) {
        error = failure == null ? null : failure.getMessage() == null ? failure.getClass().getSimpleName() : failure.getMessage();
        ended = true;
    }

    @Override
    public ActivePulls.Snapshot snapshot() {
        boolean over = ended; // read first: a pull seen ended shows its final bytes
        List<ActivePulls.Layer> out = new ArrayList<>();
        for (Descriptor d : layers) {
            ActivePulls.LayerState s = states.getOrDefault(d.digest(), ActivePulls.LayerState.WAITING);
            long done = s == ActivePulls.LayerState.EXISTS ? d.size() : Math.min(d.size(), blobBytes.getOrDefault(d.digest(), 0L));
            out.add(new ActivePulls.Layer(d.digest().toString(), d.size(), done, s));
        }
        long done = 0;
        for (long b : blobBytes.values()) {
            done += b;
        }
        long total = Math.max(0, totalBytes);
        return new ActivePulls.Snapshot(ref.toString(), System.nanoTime() - start, total, Math.min(done, total), out, over,
                over ? error : null);
    }

    /**
     * Starts reading {@code what} on this thread; close the reader when done. The reader is
     * watched for stalls once {@link #watch} sees a response body (until then the registry
     * client's request timeout applies).
     */
    Reader reader(String what) {
        Reader r = new Reader(what);
        readers.add(r);
        if (stopped) {
            r.close();
            throw cancelled();
        }
        return r;
    }

    /** Wraps a registry response body: every byte read is progress; the watchdog may close it. */
    InputStream watch(Reader r, InputStream in) {
        r.reading(in);
        r.watch();
        lastProgress = System.nanoTime();
        return new FilterInputStream(in) {
            @Override
            public int read() throws IOException {
                int b = super.read();
                if (b >= 0) {
                    lastProgress = System.nanoTime();
                }
                return b;
            }

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                int n = super.read(b, off, len);
                if (n > 0) {
                    lastProgress = System.nanoTime();
                }
                return n;
            }

            @Override
            public void close() throws IOException {
                r.bodyClosed();
                super.close();
            }
        };
    }

    /** A blob has {@code done} bytes stored so far. */
    void blob(Digest d, long done) {
        blobBytes.put(d, done);
    }

    void layerDone() {
        layersDone.incrementAndGet();
    }

    /** The pull stalled or its caller cancelled it: whatever works for it stops. */
    boolean stopped() {
        return stopped;
    }

    /** Its caller gave up: stops the pull as a stall does (streams closed, readers interrupted). */
    void cancelByCaller() {
        if (stopped) {
            return;
        }
        callerCancelled = true;
        stopped = true;
        LOG.info("pull of {} cancelled by its caller", ref);
        for (Reader r : readers) {
            r.cancel();
        }
    }

    /**
     * The error a stopped pull ends with: CANCELLED when its caller gave up; for a stall,
     * names the registry, the reference and what was being read.
     */
    BerthException cancelled() {
        if (callerCancelled) {
            return new BerthException(BerthException.Kind.CANCELLED, "pull of " + ref + " cancelled by its caller");
        }
        return BerthException.deadlineExceeded("registry %s: pull of %s cancelled: no progress for %s (reading %s)",
                ref.registry(), ref, human(timeoutNanos), stalledOn);
    }

    /** Called by the watchdog: cancels a stalled pull, logs progress. */
    void check(long now) {
        if (!stopped && now - lastProgress > timeoutNanos && readers.stream().anyMatch(r -> r.watched)) {
            List<String> what = new ArrayList<>();
            for (Reader r : readers) {
                if (r.watched) {
                    what.add(r.what);
                }
            }
            stalledOn = String.join(", ", what);
            stopped = true;
            LOG.warn("pull of {} made no progress for {} (reading {}): cancelling it", ref, human(timeoutNanos), stalledOn);
            for (Reader r : readers) {
                r.cancel();
            }
        }
        if (now - lastLog >= LOG_EVERY && now - start >= LOG_EVERY) {
            lastLog = now;
            long done = 0;
            for (long b : blobBytes.values()) {
                done += b;
            }
            if (totalBytes < 0) {
                LOG.info("pulling {}: resolving the manifest ({} s)", ref, (now - start) / 1_000_000_000L);
            } else {
                LOG.info("pulling {}: {} of {} bytes, {} of {} layers ({} s)", ref, done, totalBytes, layersDone.get(), layersTotal,
                        (now - start) / 1_000_000_000L);
            }
        }
    }

    /** 5m, 90s, 500ms: as the setting is written. */
    static String human(long nanos) {
        long ms = nanos / 1_000_000;
        if (ms % 60_000 == 0 && ms > 0) {
            return ms / 60_000 + "m";
        }
        return ms % 1000 == 0 && ms > 0 ? ms / 1000 + "s" : ms + "ms";
    }
}
