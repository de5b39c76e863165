package dev.berth.podsandbox.container;

import java.util.List;
import org.junit.jupiter.api.condition.EnabledIfEnvironmentVariable;

/**
 * {@link ContainerLifecycleTest} with the crun handler on a pure cgroup v2 system: the same test
 * methods, each container created with {@code crun}, state on the guest's tmpfs. Runs only inside
 * the guest that {@link CrunGuestTest} boots, and there only the methods {@link #METHODS} names
 * (the guest is slow, about 5-15 s per test: the others concern the engine rather than the OCI
 * runtime, or read v1 files). Its name keeps surefire from picking it up on the host.
 */
@EnabledIfEnvironmentVariable(named = "CGROUP2_VM", matches = "1")
class CrunSuiteInGuest extends ContainerLifecycleTest {
    /** The tests of the suite that the crun handler must pass too. */
    static final List<String> METHODS = List.of(
            "runsTheCommandWithArgsEnvUserAndWorkingDirectoryAsGiven",
            "readonlyRootfsRefusesWrites",
            "runtimeDefaultSeccompRefusesABlockedSyscallThatUnconfinedAllows",
            "stopFallsBackToSigkillWhenTheProcessIgnoresTheStopSignal",
            "logsAreInTheCriFormatWithPartialLinesForLongLines",
            "execSyncReturnsOutputAndExitCodeAndKillsOnTimeout",
            "aContainerKilledByTheOomKillerIsReportedOomKilled");

    @Override
    ContainerFixture newFixture() throws Exception {
        return new ContainerFixture(CrunLifecycleInGuest.STATE_BASE, "crun");
    }
}
