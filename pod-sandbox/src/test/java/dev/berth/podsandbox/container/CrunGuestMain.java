package dev.berth.podsandbox.container;

import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;

import java.io.PrintWriter;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;
import org.junit.platform.launcher.listeners.TestExecutionSummary;

/**
 * Runs {@link CrunLifecycleInGuest} inside the cgroup v2 guest with a plain {@code java}
 * command. Exits 0 only when every test ran and passed: a skipped test is a failure here.
 */
public final class CrunGuestMain {
    private CrunGuestMain() {
    }

    public static void main(String[] args) {
        long started = System.nanoTime();
        LauncherDiscoveryRequest request = LauncherDiscoveryRequestBuilder.request()
                .selectors(selectClass(CrunLifecycleInGuest.class))
                .build();
        Launcher launcher = LauncherFactory.create();
        SummaryGeneratingListener summary = new SummaryGeneratingListener();
        TestExecutionListener progress = new TestExecutionListener() {
            @Override
            public void executionFinished(TestIdentifier id, TestExecutionResult result) {
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
        System.out.printf("guest: launcher ran %.1f s%n", (System.nanoTime() - started) / 1e9);
        System.out.println(ok ? "guest: all container lifecycle checks passed" : "guest: container lifecycle checks FAILED");
        System.exit(ok ? 0 : 1);
    }
}
