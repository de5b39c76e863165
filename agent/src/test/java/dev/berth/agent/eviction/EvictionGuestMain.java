package dev.berth.agent.eviction;

import dev.berth.cgroups.guest.Cgroup2Guest;
import java.util.List;

/** Runs {@link EvictionInGuest} inside the cgroup v2 guest (see {@link Cgroup2Guest#runTests}). */
public final class EvictionGuestMain {
    private EvictionGuestMain() {
    }

    public static void main(String[] args) {
        Cgroup2Guest.runTests("eviction checks", List.of(Cgroup2Guest.all(EvictionInGuest.class)));
    }
}
