package dev.berth.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.jar.Attributes;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The launcher bin/berth runs the JVM so that an OutOfMemoryError ends the daemon (the service
 * manager restarts it), and the unit restarts it without killing the containers' monitors.
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class LauncherTest {
    static final Path LAUNCHER = Path.of("../bin/berth").toAbsolutePath().normalize();
    static final Path UNIT = Path.of("../manifests/berth.service").toAbsolutePath().normalize();

    @TempDir
    Path dir;

    /** Allocates until the heap is gone; survives the error unless the JVM exits on it. */
    public static final class Exhaust {
        public static void main(String[] args) {
            List<long[]> hold = new java.util.ArrayList<>();
            try {
                while (true) {
                    hold.add(new long[1 << 20]);
                }
            } catch (OutOfMemoryError e) {
                hold.clear();
                System.out.println("survived the OutOfMemoryError");
            }
        }
    }

    @Test
    void theJvmIsToldToExitOnOutOfMemoryError() throws Exception {
        Result r = run(exhaustJar(), "-XX:+PrintCommandLineFlags -Xmx24m");
        assertTrue(r.output.contains("-XX:+ExitOnOutOfMemoryError"), r.output);
    }

    @Test
    void aProgramStartedByTheLauncherExitsOnOutOfMemoryError() throws Exception {
        Result r = run(exhaustJar(), "-Xmx24m -Xms8m");
        assertFalse(r.output.contains("survived"), r.output);
        assertTrue(r.output.contains("Terminating due to java.lang.OutOfMemoryError"), r.output);
        assertEquals(3, r.exit, r.output);
    }

    @Test
    void theUnitRestartsBerthAndSignalsOnlyBerth() throws IOException {
        List<String> lines = Files.readAllLines(UNIT).stream().map(String::strip).toList();
        assertTrue(lines.contains("Restart=always"), lines.toString());
        assertTrue(lines.contains("KillMode=process"), lines.toString());
        assertTrue(lines.stream().anyMatch(l -> l.startsWith("ExecStart=/usr/bin/berth ")), lines.toString());
    }

    record Result(int exit, String output) {
    }

    private Result run(Path jar, String javaOpts) throws Exception {
        ProcessBuilder pb = new ProcessBuilder("sh", LAUNCHER.toString()).redirectErrorStream(true);
        pb.environment().put("BERTH_JAR", jar.toString());
        pb.environment().put("BERTH_CDS", "off");
        pb.environment().put("BERTH_JAVA_OPTS", javaOpts);
        pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), out);
        return new Result(p.exitValue(), out);
    }

    /** A jar whose main class is {@link Exhaust}. */
    private Path exhaustJar() throws IOException {
        Path jar = dir.resolve("exhaust.jar");
        Manifest m = new Manifest();
        m.getMainAttributes().put(Attributes.Name.MANIFEST_VERSION, "1.0");
        m.getMainAttributes().put(Attributes.Name.MAIN_CLASS, Exhaust.class.getName());
        String entry = Exhaust.class.getName().replace('.', '/') + ".class";
        try (OutputStream out = Files.newOutputStream(jar); JarOutputStream j = new JarOutputStream(out, m);
             InputStream in = Exhaust.class.getClassLoader().getResourceAsStream(entry)) {
            j.putNextEntry(new JarEntry(entry));
            in.transferTo(j);
            j.closeEntry();
        }
        return jar;
    }
}
