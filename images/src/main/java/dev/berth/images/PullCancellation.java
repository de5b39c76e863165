package dev.berth.images;

import java.util.ArrayList;
import java.util.List;

/**
 * Lets the caller of a pull give up on it: {@link #cancel} stops the pull's downloads (their
 * streams are closed) and unpacking (between tar entries and every MiB of content) on every
 * thread working for it, and the pull ends with CANCELLED; what it stored and nothing else
 * needs is swept. Blobs and layers another pull is waiting for are then fetched by that pull.
 *
 * <p>A server hands one to {@link ImageService#pull(String, dev.berth.images.registry.Credentials,
 * java.util.Map, PullCancellation)} and cancels it when its client goes away (with gRPC, from a
 * listener on the call's {@code Context}). Interrupting the pulling thread cancels it too.
 */
public final class PullCancellation {
    private final List<Runnable> listeners = new ArrayList<>();
    private boolean cancelled;

    /** Cancels the pull (once; later calls do nothing). */
    public void cancel() {
        List<Runnable> run;
        synchronized (this) {
            if (cancelled) {
                return;
            }
            cancelled = true;
            run = List.copyOf(listeners);
            listeners.clear();
        }
        run.forEach(Runnable::run);
    }

    public synchronized boolean isCancelled() {
        return cancelled;
    }

    /** Runs {@code r} on cancellation, at once if the pull is cancelled already. */
    void onCancel(Runnable r) {
        synchronized (this) {
            if (!cancelled) {
                listeners.add(r);
                return;
            }
        }
        r.run();
    }
}
