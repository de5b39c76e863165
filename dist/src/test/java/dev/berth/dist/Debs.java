package dev.berth.dist;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** The .deb this Maven run built, and running the tools that look at and install it. */
final class Debs {
    /** The checkout (berth.home, set by the parent pom's surefire configuration). */
    static final Path HOME = Path.of(System.getProperty("berth.home", "..")).toAbsolutePath().normalize();

    private Debs() {
    }

    /** The outcome of a command: its exit code and stdout and stderr together. */
    record Result(int code, String output) {
        Result ok(String what) {
            assertEquals(0, code, what + " failed:\n" + output);
            return this;
        }
    }

    /**
     * dist/target/berth_VERSION_all.deb for this build's version (the package phase of the same
     * Maven run made it; the tests run in integration-test, after it).
     */
    static Path deb() {
        String version = PackageDocs.debianVersion(System.getProperty("berth.version", "0.1.0-SNAPSHOT"));
        Path dir = Path.of(System.getProperty("berth.deb.dir", "target"));
        Path deb = dir.resolve("berth_" + version + "_all.deb");
        assertTrue(Files.isRegularFile(deb), deb + " is missing: the package phase builds it (mvn -pl dist -am verify)");
        return deb;
    }

    /** Runs argv with a deadline, output (stdout and stderr merged) captured. */
    static Result run(long timeoutSeconds, String... argv) throws IOException, InterruptedException {
        return run(timeoutSeconds, List.of(argv));
    }

    static Result run(long timeoutSeconds, List<String> argv) throws IOException, InterruptedException {
        Path out = Files.createTempFile("berth-dist-run", ".out");
        try {
            Process p = new ProcessBuilder(argv).redirectErrorStream(true).redirectOutput(out.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
            if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly().waitFor();
                throw new AssertionError(String.join(" ", argv) + " did not end within " + timeoutSeconds + " s:\n"
                        + Files.readString(out, StandardCharsets.UTF_8));
            }
            return new Result(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8));
        } finally {
            Files.deleteIfExists(out);
        }
    }

    /** The package's entries that are not directories, as "MODE PATH" (e.g. "-rwxr-xr-x /usr/bin/berth") from dpkg-deb -c. */
    static List<String> files(Path deb) throws IOException, InterruptedException {
        List<String> files = new ArrayList<>();
        for (String line : run(60, "dpkg-deb", "-c", deb.toString()).ok("dpkg-deb -c").output().split("\n")) {
            if (line.isBlank() || line.startsWith("d")) {
                continue;
            }
            String path = line.substring(line.indexOf(" ./") + 2);
            files.add(line.substring(0, 10) + " " + path);
        }
        return files;
    }
}
