package dev.berth.podsandbox.container;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.cgroups.guest.Cgroup2Guest;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The container lifecycle with the crun handler (and runc) on a pure cgroup v2 system, and the
 * selected tests of the container suite with crun ({@link CrunSuiteInGuest}): boots one
 * throw-away guest ({@link Cgroup2Guest}) and runs {@link CrunGuestMain} there on this module's
 * compiled classes, with the state directories on a guest tmpfs.
 */
@Tag("vm")
@Tag("root")
class CrunGuestTest {
    /**
     * The guest's own deadline; JVMs run about ten times slower under emulation. The checks take
     * about 3-4 minutes on a loaded 2-core host; the opt-in benchmark (-Dberth.benchmark=true) adds
     * about as much again.
     */
    private static final boolean BENCHMARK = Boolean.getBoolean("berth.benchmark");
    private static final int GUEST_TIMEOUT_SECONDS = BENCHMARK ? 1200 : 480;

    @Test
    void crunAndRuncLifecycleChecksPassInACgroupV2Guest() throws Exception {
        List<String> jvm = new ArrayList<>();
        if (BENCHMARK) {
            jvm.add("-Dberth.benchmark=true");
            jvm.add("-Dberth.benchmark.n=" + Integer.getInteger("berth.benchmark.n", 50));
        }
        Cgroup2Guest.Result r = Cgroup2Guest.run(GUEST_TIMEOUT_SECONDS,
                List.of("--tmpfs", CrunLifecycleInGuest.STATE_BASE.toString()), jvm, CrunGuestMain.class.getName());
        assertEquals(0, r.exit(), "container lifecycle checks in the guest failed (exit " + r.exit() + "):\n" + r.output());
        assertTrue(r.output().contains("guest: all container lifecycle checks passed"), r.output());
    }
}
