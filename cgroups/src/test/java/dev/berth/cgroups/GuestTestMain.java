package dev.berth.cgroups;

import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;

import java.io.PrintWriter;
import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;
import org.junit.platform.launcher.listeners.TestExecutionSummary;

/**
 * Runs the cgroup enforcement group inside the cgroup v2 guest with a plain {@code java}
 * command (Maven in an emulated guest is far too slow). Exits 0 only when every test ran and
 * passed: a skipped test counts as a failure here, since the guest exists to run them all.
 */
public final class GuestTestMain {
    private GuestTestMain() {
    }

    public static void main(String[] args) {
        LauncherDiscoveryRequest request = LauncherDiscoveryRequestBuilder.request()
                .selectors(selectClass(CgroupEnforcementTest.class))
                .build();
        Launcher launcher = LauncherFactory.create();
        SummaryGeneratingListener summary = new SummaryGeneratingListener();
        TestExecutionListener progress = new TestExecutionListener() {
            @Override
            public void executionFinished(TestIdentifier id, org.junit.platform.engine.TestExecutionResult result) {
                if (id.isTest()) {
                    System.out.println("guest: " + id.getDisplayName() + " " + result.getStatus()
                            + result.getThrowable().map(t -> ": " + t).orElse(""));
                }
            }

            @Override
            public void executionSkipped(TestIdentifier id, String reason) {
                System.out.println("guest: " + id.getDisplayName() + " SKIPPED: " + reason);
            }
        };
        launcher.execute(request, summary, progress);
        TestExecutionSummary s = summary.getSummary();
        PrintWriter out = new PrintWriter(System.out, true);
        s.printTo(out);
        s.printFailuresTo(out, 30);
        boolean ok = s.getTestsFoundCount() > 0 && s.getTotalFailureCount() == 0
                && s.getTestsSkippedCount() == 0 && s.getTestsAbortedCount() == 0
                && s.getTestsSucceededCount() == s.getTestsFoundCount();
        System.out.println(ok ? "guest: all cgroup v2 checks passed" : "guest: cgroup v2 checks FAILED");
        System.exit(ok ? 0 : 1);
    }
}
