package dev.berth.podsandbox.container;

import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectMethod;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import org.junit.platform.engine.DiscoverySelector;
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
 * Runs {@link CrunLifecycleInGuest} and the selected methods of {@link CrunSuiteInGuest} inside
 * the cgroup v2 guest with a plain {@code java} command (and {@link HandlerBenchmarkInGuest} with
 * {@code -Dberth.benchmark=true}). Exits 0 only when every test ran and
 * passed: a skipped test is a failure here.
 */
public final class CrunGuestMain {
    private CrunGuestMain() {
    }

    public static void main(String[] args) {
        long started = System.nanoTime();
        List<DiscoverySelector> selectors = new ArrayList<>();
        selectors.add(selectClass(CrunLifecycleInGuest.class));
        for (String method : CrunSuiteInGuest.METHODS) {
            selectors.add(selectMethod(CrunSuiteInGuest.class, method));
        }
        if (Boolean.getBoolean("berth.benchmark")) {
            selectors.add(selectClass(HandlerBenchmarkInGuest.class));
        }
        LauncherDiscoveryRequest request = LauncherDiscoveryRequestBuilder.request().selectors(selectors).build();
        Launcher launcher = LauncherFactory.create();
        SummaryGeneratingListener summary = new SummaryGeneratingListener();
        TestExecutionListener progress = new TestExecutionListener() {
            private final java.util.Map<String, Long> started = new java.util.concurrent.ConcurrentHashMap<>();

            @Override
            public void executionStarted(TestIdentifier id) {
                started.put(id.getUniqueId(), System.nanoTime());
            }

            @Override
            public void executionFinished(TestIdentifier id, TestExecutionResult result) {
                if (id.isTest()) {
                    double seconds = (System.nanoTime() - started.getOrDefault(id.getUniqueId(), System.nanoTime())) / 1e9;
                    System.out.printf("guest: %s %s %s (%.1f s)%s%n", id.getSource()
                                    .filter(org.junit.platform.engine.support.descriptor.MethodSource.class::isInstance)
                                    .map(src -> ((org.junit.platform.engine.support.descriptor.MethodSource) src).getJavaClass().getSimpleName())
                                    .orElse(""), id.getDisplayName(),
                            result.getStatus(), seconds, result.getThrowable().map(t -> ": " + t).orElse(""));
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
