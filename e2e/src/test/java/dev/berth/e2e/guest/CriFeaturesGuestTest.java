package dev.berth.e2e.guest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.cgroups.guest.Cgroup2Guest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * #17's features through the CRI of a real daemon in the cgroup v2 guest (Debian 12, Linux 6.1,
 * where crun runs), with berth's root and run root on an ext4 file system on the guest's scratch
 * disk: boots one throw-away guest ({@link Cgroup2Guest}) and runs {@link CriFeaturesGuestMain}
 * there on this module's compiled classes.
 */
@Tag("vm")
@Tag("root")
class CriFeaturesGuestTest {
    /** The guest's own deadline; JVMs run about ten times slower under emulation; the checks took 192 s of a 213 s round trip on a loaded 2-core host. */
    private static final int GUEST_TIMEOUT_SECONDS = 420;

    @Test
    void userNamespacesIdmappedMountsAndRecursiveReadOnlyWorkWithRuncAndCrunInACgroupV2GuestOnExt4() throws Exception {
        // in the module's target directory, which the guest shares
        Path archive = Path.of("target", "guest-busybox.tar").toAbsolutePath();
        CriFeaturesGuestMain.writeBusybox(archive);
        try {
            // no bytecode verification of the class path: the emulated JVM loads thousands of classes
            Cgroup2Guest.Result r = Cgroup2Guest.run(GUEST_TIMEOUT_SECONDS, List.of("--disk", "1G"), List.of("-Xmx256m",
                    "-XX:+UnlockDiagnosticVMOptions", "-XX:-BytecodeVerificationRemote", "-Dberth.guest.log=" + System.getProperty("berth.guest.log", "warn"), "-D" + CriFeaturesGuestMain.ARCHIVE_PROPERTY + "=" + archive),
                    CriFeaturesGuestMain.class.getName());
            assertEquals(0, r.exit(), "CRI feature checks in the guest failed (exit " + r.exit() + "):\n" + r.output());
            assertTrue(r.output().contains(CriFeaturesGuestMain.PASSED), r.output());
        } finally {
            Files.deleteIfExists(archive);
        }
    }
}
