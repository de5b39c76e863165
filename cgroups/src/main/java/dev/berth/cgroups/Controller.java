package dev.berth.cgroups;

import java.nio.file.Path;

/**
 * One cgroup controller in one hierarchy version: turns {@link Resources} into its
 * files and its files into stats. Implementations live in {@code v1} and {@code v2}; the
 * manager decides which one serves each controller on this host.
 */
public interface Controller {
    /** The controller's name in its hierarchy ("cpu", "memory", "blkio", "io", ...). */
    String name();

    /** Prepares a cgroup directory berth just created (e.g. v1 cpuset inherits cpus/mems). */
    default void prepare(Path dir) {
    }

    /** Writes the fields of {@code resources} this controller owns; unset fields are left alone. */
    void apply(Path dir, Resources resources);

    /** Adds this controller's counters, read from {@code dir} (a string path ending in '/'). */
    void stats(String dir, StatsAccumulator out);
}
