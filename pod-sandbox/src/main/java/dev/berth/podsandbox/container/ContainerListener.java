package dev.berth.podsandbox.container;

/**
 * Hears what happens to containers, in the order it happened: each container is reported
 * CREATED once, STARTED at most once and always before its STOPPED, and DELETED last. Calls
 * come from the thread that made the change (a CRI call, or the exit watcher for an exit
 * nobody asked about) while the service holds its event lock, so a listener must not block.
 */
public interface ContainerListener {
    ContainerListener NONE = new ContainerListener() {
    };

    /** CreateContainer made {@code container}. */
    default void created(ContainerRecord container) {
    }

    /** The container started (reported also when it ended before StartContainer returned). */
    default void started(ContainerRecord container) {
    }

    /** The container was recorded EXITED (its exit, its stop, or its monitor's death). */
    default void stopped(ContainerRecord container) {
    }

    /** The container is about to be removed; it can still be described. */
    default void deleting(ContainerRecord container) {
    }

    /** The container that {@link #deleting} named is gone. */
    default void deleted(ContainerRecord container) {
    }
}
