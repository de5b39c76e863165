package dev.berth.common;

import java.util.concurrent.atomic.AtomicReference;

/**
 * Runs work that changes its own thread's kernel state (joining or creating namespaces with
 * setns/unshare, which act on the calling thread only) on a short-lived thread of its own and
 * waits for it: the thread ends with the work, so no thread of the daemon is ever left in a
 * pod's namespace. What the work throws is rethrown to the caller.
 */
public final class OwnThread {
    private OwnThread() {
    }

    /**
     * Runs {@code work} on a new thread named {@code threadName}; {@code what} names the work
     * in the error when the caller is interrupted while waiting.
     */
    public static void run(String threadName, String what, Runnable work) {
        AtomicReference<RuntimeException> failure = new AtomicReference<>();
        Thread t = new Thread(() -> {
            try {
                work.run();
            } catch (RuntimeException e) {
                failure.set(e);
            }
        }, threadName);
        t.setDaemon(true);
        t.start();
        try {
            t.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new BerthException(BerthException.Kind.CANCELLED, "interrupted while " + what);
        }
        if (failure.get() != null) {
            throw failure.get();
        }
    }
}
