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

    /** Says hello and ends. */
    public static final class Hello {
        public static void main(String[] args) {
            System.out.println("hello");
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

    /** A fake JDK under {@code jvms}: its java prints who it is; its release file says {@code version}. */
    private Path fakeJdk(Path jvms, String name, String version) throws IOException {
        Path bin = Files.createDirectories(jvms.resolve(name).resolve("bin"));
        Files.writeString(jvms.resolve(name).resolve("release"), "IMPLEMENTOR=\"test\"\nJAVA_VERSION=\"" + version + "\"\n");
        Path java = bin.resolve("java");
        Files.writeString(java, "#!/bin/sh\necho " + name + "\n");
        java.toFile().setExecutable(true);
        return jvms.resolve(name);
    }

    /** The command line the launcher would run, as it prints it on a dry run. */
    private String dryRun(Path jar, Path jvms, String javaHome) throws Exception {
        return dryRun(jar, jvms, javaHome, "daemon");
    }

    private String dryRun(Path jar, Path jvms, String javaHome, String command) throws Exception {
        ProcessBuilder pb = new ProcessBuilder("sh", LAUNCHER.toString(), command).redirectErrorStream(true);
        pb.environment().put("BERTH_JAR", jar.toString());
        pb.environment().put("BERTH_JVM_DIR", jvms.toString());
        pb.environment().put("BERTH_LAUNCHER_DRY_RUN", "1");
        pb.environment().remove("BERTH_JAVA_OPTS");
        pb.environment().remove("BERTH_CDS");
        if (javaHome == null) {
            pb.environment().remove("JAVA_HOME");
        } else {
            pb.environment().put("JAVA_HOME", javaHome);
        }
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), out);
        assertEquals(0, p.exitValue(), out);
        return out;
    }

    @Test
    void theNewestJdkRunsBerthUnlessJavaHomeSaysOtherwise() throws Exception {
        Path jvms = Files.createDirectories(dir.resolve("jvm"));
        Path jdk17 = fakeJdk(jvms, "jdk-17", "17.0.15");
        fakeJdk(jvms, "jdk-25", "25.0.3");
        fakeJdk(jvms, "jdk-11", "11.0.2");
        Files.createDirectories(jvms.resolve("not-a-jdk"));
        Path jar = Files.writeString(dir.resolve("berth.jar"), "jar");
        assertTrue(dryRun(jar, jvms, null).startsWith(jvms.resolve("jdk-25/bin/java") + " "), dryRun(jar, jvms, null));
        assertTrue(dryRun(jar, jvms, jdk17.toString()).startsWith(jdk17.resolve("bin/java") + " "));
        // no JDK there: java on PATH
        assertTrue(dryRun(jar, Files.createDirectories(dir.resolve("none")), null).startsWith("java "));
    }

    @Test
    void theAheadOfTimeCacheGoesOnlyToJdk25AndOnlyWhileNewerThanTheJar() throws Exception {
        Path jvms = Files.createDirectories(dir.resolve("jvm"));
        Path jdk17 = fakeJdk(jvms, "jdk-17", "17.0.15");
        Path jdk25 = fakeJdk(jvms, "jdk-25", "25.0.3");
        Path jar = Files.writeString(dir.resolve("berth.jar"), "jar");
        Path aot = Files.writeString(dir.resolve("berth.aot"), "aot");
        Path jsa = Files.writeString(dir.resolve("berth.jsa"), "jsa");
        long now = System.currentTimeMillis();
        jar.toFile().setLastModified(now - 60_000);
        aot.toFile().setLastModified(now);
        jsa.toFile().setLastModified(now);
        String on25 = dryRun(jar, jvms, jdk25.toString());
        assertTrue(on25.contains("-XX:AOTCache=" + aot), on25);
        assertFalse(on25.contains("SharedArchiveFile"), on25);
        String on17 = dryRun(jar, jvms, jdk17.toString());
        assertFalse(on17.contains("AOTCache"), on17);
        assertTrue(on17.contains("-XX:SharedArchiveFile=" + jsa), on17);
        // a jar built after the cache: the cache is stale and left out
        aot.toFile().setLastModified(now - 120_000);
        jsa.toFile().setLastModified(now - 120_000);
        String stale = dryRun(jar, jvms, jdk25.toString());
        assertFalse(stale.contains("AOTCache") || stale.contains("SharedArchiveFile"), stale);
    }

    @Test
    void clientCommandsMapTheClientArchiveAndCompileWithC1Only() throws Exception {
        Path jvms = Files.createDirectories(dir.resolve("jvm"));
        Path jdk25 = fakeJdk(jvms, "jdk-25", "25.0.3");
        Path jar = Files.writeString(dir.resolve("berth.jar"), "jar");
        Path aot = Files.writeString(dir.resolve("berth.aot"), "aot");
        Path clientAot = Files.writeString(dir.resolve("berth-client.aot"), "aot");
        long now = System.currentTimeMillis();
        jar.toFile().setLastModified(now - 60_000);
        aot.toFile().setLastModified(now);
        clientAot.toFile().setLastModified(now);
        for (String longRunning : List.of("daemon", "agent", "bench")) {
            String line = dryRun(jar, jvms, jdk25.toString(), longRunning);
            assertTrue(line.contains("-XX:AOTCache=" + aot + " "), line);
            assertFalse(line.contains("TieredStopAtLevel"), line);
        }
        for (String client : List.of("ps", "exec", "--version")) {
            String line = dryRun(jar, jvms, jdk25.toString(), client);
            assertTrue(line.contains("-XX:AOTCache=" + clientAot + " "), line);
            assertTrue(line.contains("-XX:TieredStopAtLevel=1"), line);
        }
        // no client archive: the client runs without one rather than with the daemon's
        Files.delete(clientAot);
        String none = dryRun(jar, jvms, jdk25.toString(), "ps");
        assertFalse(none.contains("AOTCache"), none);
    }

    @Test
    void anArchiveMadeThroughARelativeJarPathServesFromAnyDirectory() throws Exception {
        Path jar = jarOf(Hello.class, "hello.jar");
        Path jsa = dir.resolve("hello.jsa");
        Path elsewhere = Files.createDirectories(dir.resolve("elsewhere"));
        // recorded with the jar named relative to the directory the launcher ran in
        Result made = runIn(dir, Path.of("hello.jar"), "-XX:ArchiveClassesAtExit=" + jsa + " -Xmx24m", false);
        assertTrue(Files.isRegularFile(jsa), made.output);
        jsa.toFile().setLastModified(System.currentTimeMillis() + 5_000);
        Result used = runIn(elsewhere, jar, "-Xlog:class+load=info -Xmx24m", true);
        assertTrue(used.output.contains(Hello.class.getName() + " source: shared objects file (top)"), used.output);
    }

    private Result runIn(Path cwd, Path jar, String javaOpts, boolean archive) throws Exception {
        // no cwd: this process's own directory; "daemon" picks the daemon's archive (the jar's main ignores it)
        ProcessBuilder pb = new ProcessBuilder("sh", LAUNCHER.toString(), "daemon").directory(cwd == null ? null : cwd.toFile())
                .redirectErrorStream(true);
        pb.environment().put("BERTH_JAR", jar.toString());
        pb.environment().put("BERTH_CDS", archive ? "on" : "off");
        pb.environment().put("BERTH_JAVA_OPTS", javaOpts);
        pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), out);
        return new Result(p.exitValue(), out);
    }

    record Result(int exit, String output) {
    }

    private Result run(Path jar, String javaOpts) throws Exception {
        return runIn(null, jar, javaOpts, false);
    }

    /** A jar whose main class is {@link Exhaust}. */
    private Path exhaustJar() throws IOException {
        return jarOf(Exhaust.class, "exhaust.jar");
    }

    /** A jar in the test's directory whose main class is {@code main}. */
    private Path jarOf(Class<?> main, String name) throws IOException {
        Path jar = dir.resolve(name);
        Manifest m = new Manifest();
        m.getMainAttributes().put(Attributes.Name.MANIFEST_VERSION, "1.0");
        m.getMainAttributes().put(Attributes.Name.MAIN_CLASS, main.getName());
        String entry = main.getName().replace('.', '/') + ".class";
        try (OutputStream out = Files.newOutputStream(jar); JarOutputStream j = new JarOutputStream(out, m);
             InputStream in = main.getClassLoader().getResourceAsStream(entry)) {
            j.putNextEntry(new JarEntry(entry));
            in.transferTo(j);
            j.closeEntry();
        }
        return jar;
    }
}
