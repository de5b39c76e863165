package dev.berth.agent.eviction;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.cgroups.guest.Cgroup2Guest;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Eviction against a real memory signal in a cgroup v2 system: boots one throw-away guest
 * ({@link Cgroup2Guest}) and runs {@link EvictionGuestMain} there on this module's compiled
 * classes, with a small heap so the JVM itself moves the signal little.
 */
@Tag("vm")
@Tag("root")
class EvictionGuestTest {
    /**
     * The guest's own deadline; JVMs run about ten times slower under emulation, and more on a
     * busy host (150 s ran out at load average 16, where the container guest took 158 s).
     */
    private static final int GUEST_TIMEOUT_SECONDS = 300;

    @Test
    void thePodAboveItsRequestIsEvictedInACgroupV2Guest() throws Exception {
        Cgroup2Guest.Result r = Cgroup2Guest.run(GUEST_TIMEOUT_SECONDS, List.of(), List.of("-Xms64m", "-Xmx64m"),
                EvictionGuestMain.class.getName());
        assertEquals(0, r.exit(), "eviction checks in the guest failed (exit " + r.exit() + "):\n" + r.output());
        assertTrue(r.output().contains("guest: all eviction checks passed"), r.output());
    }
}
