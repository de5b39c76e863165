package dev.berth.cgroups;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.cgroups.guest.Cgroup2Guest;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The cgroup enforcement group again, in a real cgroup v2 system: boots one throw-away guest
 * ({@link Cgroup2Guest}) and runs {@link GuestTestMain} there on this module's compiled classes.
 */
@Tag("cgroups")
@Tag("vm")
@Tag("root")
class CgroupV2GuestTest {
    /** The guest's own deadline; JVMs run about ten times slower under emulation. */
    private static final int GUEST_TIMEOUT_SECONDS = 240;

    @Test
    void enforcementChecksPassInACgroupV2Guest() throws Exception {
        Cgroup2Guest.Result r = Cgroup2Guest.run(GUEST_TIMEOUT_SECONDS, List.of(),
                List.of("-Dberth.cgroups.expectMode=v2"), GuestTestMain.class.getName());
        assertEquals(0, r.exit(), "cgroup v2 checks in the guest failed (exit " + r.exit() + "):\n" + r.output());
        assertTrue(r.output().contains("guest: all cgroup v2 checks passed"), r.output());
    }
}
