package dev.berth.cgroups.guest;

import static org.junit.jupiter.api.Assumptions.abort;
import static org.junit.jupiter.api.Assumptions.assumeTrue;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectMethod;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.junit.platform.engine.DiscoverySelector;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.engine.support.descriptor.MethodSource;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;
import org.junit.platform.launcher.listeners.TestExecutionSummary;

/**
 * Both halves of running tests in a throw-away cgroup v2 guest (QEMU, cgroup2 only, every
 * controller), shared by the modules whose checks need one:
 * <ul>
 * <li>on the host, {@link #run} boots the guest through
 * {@code <berth.shared>/vm/run-in-cgroup2-vm.sh} and runs a main class there with a plain
 * {@code java} command on the test's own class path (Maven in an emulated guest is far too
 * slow); the test fails with the guest's output when a check fails, and is reported as
 * skipped, with the reason, only when the guest cannot start at all (no script, exit 125);</li>
 * <li>in the guest, {@link #runTests} runs the selected JUnit tests and exits 0 only when every
 * one ran and passed: a skipped test counts as a failure there, since the guest exists to run
 * them all.</li>
 * </ul>
 */
public final class Cgroup2Guest {
    private Cgroup2Guest() {
    }

    /** What the guest printed and how it exited. */
    public record Result(int exit, String output, double seconds) {
    }

    /**
     * Boots the guest and runs {@code mainClass} with {@code jvmOptions} (system properties) in
     * it. {@code scriptOptions} go to the guest script before the command (e.g. {@code --tmpfs
     * DIR}). Aborts the calling test when the host cannot run a guest at all.
     */
    public static Result run(int timeoutSeconds, List<String> scriptOptions, List<String> jvmOptions, String mainClass)
            throws IOException, InterruptedException {
        assumeTrue(isRoot(), "the cgroup v2 guest needs root");
        Path script = findScript();
        assumeTrue(script != null, "run-in-cgroup2-vm.sh not found (berth.shared=" + System.getProperty("berth.shared")
                + ", BERTH_SHARED=" + System.getenv("BERTH_SHARED") + ")");
        String classpath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();

        List<String> command = new ArrayList<>(List.of(script.toString(), "--timeout", Integer.toString(timeoutSeconds)));
        command.addAll(scriptOptions);
        // the guest sees the host's root read-only but gets a fresh /tmp, and only the working
        // directory is shared: share every class directory of the other modules explicitly
        Path cwd = Path.of(System.getProperty("user.dir")).toAbsolutePath();
        Path m2 = Path.of(System.getProperty("user.home"), ".m2").toAbsolutePath();
        Set<Path> shared = new LinkedHashSet<>();
        for (String entry : classpath.split(File.pathSeparator)) {
            Path p = Path.of(entry).toAbsolutePath();
            if (p.startsWith(cwd) || p.startsWith(m2) || !Files.exists(p)) {
                continue;
            }
            shared.add(Files.isDirectory(p) ? p : p.getParent());
        }
        for (Path dir : shared) {
            command.add("--share");
            command.add(dir.toString());
        }
        command.addAll(List.of("--", java, "-cp", classpath));
        command.addAll(jvmOptions);
        command.add(mainClass);
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true).directory(cwd.toFile());
        pb.environment().put("JAVA_TOOL_OPTIONS", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC");
        pb.redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        long started = System.nanoTime();
        Process guest = pb.start();
        ByteArrayOutputStream output = new ByteArrayOutputStream();
        Thread pump = new Thread(() -> copy(guest.getInputStream(), output), "guest-output");
        pump.start();
        try {
            if (!guest.waitFor(timeoutSeconds + 60L, TimeUnit.SECONDS)) {
                guest.destroy();
                guest.waitFor(10, TimeUnit.SECONDS);
            }
        } finally {
            if (guest.isAlive()) {
                guest.destroyForcibly();
                guest.waitFor(10, TimeUnit.SECONDS);
            }
            pump.join(10_000);
        }
        String text;
        synchronized (output) {
            text = output.toString(StandardCharsets.UTF_8);
        }
        int exit = guest.exitValue();
        if (exit == 125) {
            abort("the cgroup v2 guest could not start (exit 125): " + tail(text));
        }
        System.out.println(text);
        double seconds = (System.nanoTime() - started) / 1e9;
        System.out.printf("cgroup v2 guest round trip: %.1f s%n", seconds);
        return new Result(exit, text, seconds);
    }

    /** Selects every test of {@code testClass}. */
    public static DiscoverySelector all(Class<?> testClass) {
        return selectClass(testClass);
    }

    /** Selects one test method. */
    public static DiscoverySelector method(Class<?> testClass, String name) {
        return selectMethod(testClass, name);
    }

    /**
     * In the guest: runs the selected tests, prints each result with its time and a summary,
     * then {@code guest: all <what> passed} or {@code guest: <what> FAILED}, and exits 0 only
     * when every test ran and passed.
     */
    public static void runTests(String what, List<DiscoverySelector> selectors) {
        long begun = System.nanoTime();
        LauncherDiscoveryRequest request = LauncherDiscoveryRequestBuilder.request().selectors(selectors).build();
        SummaryGeneratingListener summary = new SummaryGeneratingListener();
        Map<String, Long> started = new ConcurrentHashMap<>();
        TestExecutionListener progress = new TestExecutionListener() {
            @Override
            public void executionStarted(TestIdentifier id) {
                started.put(id.getUniqueId(), System.nanoTime());
            }

            @Override
            public void executionFinished(TestIdentifier id, TestExecutionResult result) {
                if (id.isTest()) {
                    double seconds = (System.nanoTime() - started.getOrDefault(id.getUniqueId(), System.nanoTime())) / 1e9;
                    String owner = id.getSource().filter(MethodSource.class::isInstance)
                            .map(src -> ((MethodSource) src).getJavaClass().getSimpleName() + " ").orElse("");
                    System.out.printf("guest: %s%s %s (%.1f s)%s%n", owner, id.getDisplayName(), result.getStatus(),
                            seconds, result.getThrowable().map(t -> ": " + t).orElse(""));
                }
            }

            @Override
            public void executionSkipped(TestIdentifier id, String reason) {
                System.out.println("guest: " + id.getDisplayName() + " SKIPPED: " + reason);
            }
        };
        LauncherFactory.create().execute(request, summary, progress);
        TestExecutionSummary s = summary.getSummary();
        PrintWriter out = new PrintWriter(System.out, true);
        s.printTo(out);
        s.printFailuresTo(out, 30);
        boolean ok = s.getTestsFoundCount() > 0 && s.getTotalFailureCount() == 0
                && s.getTestsSkippedCount() == 0 && s.getTestsAbortedCount() == 0
                && s.getTestsSucceededCount() == s.getTestsFoundCount();
        System.out.printf("guest: launcher ran %.1f s%n", (System.nanoTime() - begun) / 1e9);
        System.out.println(ok ? "guest: all " + what + " passed" : "guest: " + what + " FAILED");
        System.exit(ok ? 0 : 1);
    }

    public static boolean isRoot() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("Uid:")) {
                return line.split("\\s+")[2].equals("0");
            }
        }
        return false;
    }

    private static Path findScript() {
        List<String> bases = new ArrayList<>();
        if (System.getProperty("berth.shared") != null) {
            bases.add(System.getProperty("berth.shared"));
        }
        if (System.getenv("BERTH_SHARED") != null) {
            bases.add(System.getenv("BERTH_SHARED"));
        }
        for (String base : bases) {
            Path p = Path.of(base, "vm", "run-in-cgroup2-vm.sh");
            if (Files.isExecutable(p)) {
                return p;
            }
        }
        return null;
    }

    private static void copy(InputStream in, ByteArrayOutputStream out) {
        byte[] buf = new byte[8192];
        try {
            for (int n; (n = in.read(buf)) > 0; ) {
                synchronized (out) {
                    out.write(buf, 0, n);
                }
            }
        } catch (IOException e) {
            // the guest ended
        }
    }

    private static String tail(String text) {
        return text.length() <= 4000 ? text : text.substring(text.length() - 4000);
    }
}
