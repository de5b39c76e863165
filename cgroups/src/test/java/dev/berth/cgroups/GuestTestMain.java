package dev.berth.cgroups;

import dev.berth.cgroups.guest.Cgroup2Guest;
import java.util.List;

/** Runs the cgroup enforcement group inside the cgroup v2 guest (see {@link Cgroup2Guest#runTests}). */
public final class GuestTestMain {
    private GuestTestMain() {
    }

    public static void main(String[] args) {
        Cgroup2Guest.runTests("cgroup v2 checks", List.of(Cgroup2Guest.all(CgroupEnforcementTest.class)));
    }
}
