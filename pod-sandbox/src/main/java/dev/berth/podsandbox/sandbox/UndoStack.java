package dev.berth.podsandbox.sandbox;

import java.util.ArrayDeque;
import java.util.Deque;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The completed steps of an operation, undone in reverse order when a later step fails. */
final class UndoStack {
    private static final Logger LOG = LoggerFactory.getLogger(UndoStack.class);

    private record Step(String what, Runnable undo) {
    }

    private final Deque<Step> steps = new ArrayDeque<>();

    void push(String what, Runnable undo) {
        steps.push(new Step(what, undo));
    }

    /**
     * Undoes every step, newest first; failures are attached to {@code cause} and the rest
     * still run. True when every step was undone.
     */
    boolean unwind(Throwable cause) {
        boolean undone = true;
        while (!steps.isEmpty()) {
            Step s = steps.pop();
            try {
                s.undo().run();
            } catch (RuntimeException e) {
                LOG.warn("undoing '{}' failed: {}", s.what(), e.toString());
                cause.addSuppressed(e);
                undone = false;
            }
        }
        return undone;
    }

    void clear() {
        steps.clear();
    }
}
