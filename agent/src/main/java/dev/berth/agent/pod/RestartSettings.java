package dev.berth.agent.pod;

import java.time.Duration;

/**
 * How the agent holds back the restarts of a container that keeps exiting (CrashLoopBackOff),
 * as the kubelet's crash back-off: the first restart of a container is at once, each later one
 * waits {@code initial}, then twice as long each time, up to {@code max}; a container that ran
 * longer than {@code reset} before it exited starts again from the beginning.
 * @param initial the first wait (the kubelet's 10 s)
 * @param max the longest wait (the kubelet's 5 min)
 * @param reset how long a run must last to forget the back-off (the kubelet's twice {@code max}: 10 min)
 */
public record RestartSettings(Duration initial, Duration max, Duration reset) {
    public static final Duration DEFAULT_INITIAL = Duration.ofSeconds(10);
    public static final Duration DEFAULT_MAX = Duration.ofMinutes(5);

    public RestartSettings {
        if (initial.isZero() || initial.isNegative()) {
            throw new IllegalArgumentException("restart_backoff_initial: must be positive");
        }
        if (max.compareTo(initial) < 0) {
            throw new IllegalArgumentException("restart_backoff_max: must not be shorter than restart_backoff_initial");
        }
        if (reset.isZero() || reset.isNegative()) {
            throw new IllegalArgumentException("restart_backoff_reset: must be positive");
        }
    }

    /** {@code initial} and {@code max}, reset after twice {@code max}, as the kubelet resets. */
    public RestartSettings(Duration initial, Duration max) {
        this(initial, max, max.multipliedBy(2));
    }

    /** The kubelet's: 10 s doubling to 5 min, reset after 10 min of running. */
    public static RestartSettings defaults() {
        return new RestartSettings(DEFAULT_INITIAL, DEFAULT_MAX);
    }
}
