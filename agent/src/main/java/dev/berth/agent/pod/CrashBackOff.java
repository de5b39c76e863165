package dev.berth.agent.pod;

import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.function.LongSupplier;

/**
 * The restart back-off of a pod's containers, by key, with the kubelet's rules: a container
 * whose run ended at {@code exit} waits while less than its current back-off has passed since
 * then; once it may restart, its back-off doubles (capped) for the next time, or starts over at
 * the initial one when the run lasted longer than the reset period since its last restart (the
 * kubelet compares the exit with its last restart: "stable" after twice the cap). The first
 * restart of a container is at once. Times are {@link System#nanoTime}-like from {@code clock}.
 */
public final class CrashBackOff {
    private final RestartSettings settings;
    private final LongSupplier clock;
    /** Per key: its current back-off and when it last restarted, in nanoseconds. */
    private final Map<String, long[]> entries = new HashMap<>();

    public CrashBackOff(RestartSettings settings, LongSupplier clock) {
        this.settings = settings;
        this.clock = clock;
    }

    /**
     * Whether the container {@code key}, whose run ended at {@code exit}, must still wait; when it
     * need not, its restart is counted (the back-off grows for the next exit) and false is returned.
     */
    public synchronized boolean holdBack(String key, long exit) {
        long[] e = entries.get(key);
        long now = clock.getAsLong();
        if (e != null && !expired(exit, e[1]) && now - exit < e[0]) {
            return true;
        }
        long backoff = e == null || expired(exit, e[1]) ? settings.initial().toNanos() : Math.min(e[0] * 2, settings.max().toNanos());
        entries.put(key, new long[] {backoff, now});
        return false;
    }

    /** The back-off {@code key} waits out now (zero when it has none). */
    public synchronized Duration current(String key) {
        long[] e = entries.get(key);
        return e == null ? Duration.ZERO : Duration.ofNanos(e[0]);
    }

    /** When the wait of {@code key} for the run that ended at {@code exit} ends. */
    public synchronized long until(String key, long exit) {
        long[] e = entries.get(key);
        return e == null ? exit : exit + e[0];
    }

    /** Forgets the keys whose last restart is longer ago than the reset period, as the kubelet's housekeeping does. */
    public synchronized void forgetStable() {
        long now = clock.getAsLong();
        entries.values().removeIf(e -> expired(now, e[1]));
    }

    private boolean expired(long event, long lastRestart) {
        return event - lastRestart > settings.reset().toNanos();
    }

    /** A duration as the kubelet prints it in its back-off message (Go's notation: 10s, 1m20s, 5m0s, 500ms). */
    public static String goDuration(Duration d) {
        long ms = d.toMillis();
        if (ms < 1000) {
            return ms + "ms";
        }
        long h = d.toHours();
        long m = d.toMinutesPart();
        long s = d.toSecondsPart();
        long frac = d.toMillisPart();
        String secs = frac == 0 ? Long.toString(s) : s + "." + String.format("%03d", frac).replaceAll("0+$", "");
        if (h > 0) {
            return h + "h" + m + "m" + secs + "s";
        }
        if (m > 0) {
            return m + "m" + secs + "s";
        }
        return secs + "s";
    }
}
