package dev.berth.podsandbox.container;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.abort;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The container lifecycle with the crun handler (and runc) on a pure cgroup v2 system, and the
 * selected tests of the container suite with crun ({@link CrunSuiteInGuest}): boots one
 * throw-away QEMU guest through {@code <berth.shared>/vm/run-in-cgroup2-vm.sh} and runs
 * {@link CrunGuestMain} there on this module's compiled classes, with the state directories on a
 * guest tmpfs. Fails with the guest's output when a check fails; reported as skipped, with the
 * reason, only when the guest cannot start at all (no script, exit 125).
 */
@Tag("vm")
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
        assumeTrue(isRoot(), "the cgroup v2 guest needs root");
        Path script = findScript();
        assumeTrue(script != null, "run-in-cgroup2-vm.sh not found (berth.shared=" + System.getProperty("berth.shared")
                + ", BERTH_SHARED=" + System.getenv("BERTH_SHARED") + ")");
        String classpath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();

        List<String> command = new ArrayList<>(List.of(script.toString(), "--timeout",
                Integer.toString(GUEST_TIMEOUT_SECONDS), "--tmpfs", CrunLifecycleInGuest.STATE_BASE.toString()));
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
        if (BENCHMARK) {
            command.add("-Dberth.benchmark=true");
            command.add("-Dberth.benchmark.n=" + Integer.getInteger("berth.benchmark.n", 50));
        }
        command.add(CrunGuestMain.class.getName());
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true).directory(cwd.toFile());
        pb.environment().put("JAVA_TOOL_OPTIONS", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC");
        pb.redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        long started = System.nanoTime();
        Process guest = pb.start();
        ByteArrayOutputStream output = new ByteArrayOutputStream();
        Thread pump = new Thread(() -> copy(guest.getInputStream(), output), "guest-output");
        pump.start();
        try {
            if (!guest.waitFor(GUEST_TIMEOUT_SECONDS + 60, TimeUnit.SECONDS)) {
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
        System.out.printf("cgroup v2 guest round trip: %.1f s%n", (System.nanoTime() - started) / 1e9);
        assertEquals(0, exit, "container lifecycle checks in the guest failed (exit " + exit + "):\n" + text);
        assertTrue(text.contains("guest: all container lifecycle checks passed"), text);
    }

    private static boolean isRoot() throws IOException {
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
