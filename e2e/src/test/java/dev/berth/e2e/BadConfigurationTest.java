package dev.berth.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A daemon that cannot start says why in one line and exits non-zero. */
@Tag("root")
class BadConfigurationTest {
    @TempDir
    Path dir;

    private record Outcome(int exit, String output) {
    }

    private Outcome daemon(String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(BerthProcess.launcher().toString(), "daemon",
                "--root", dir.resolve("root").toString(), "--run-root", dir.resolve("run").toString()));
        if (!List.of(args).contains("--config")) {
            // a daemon that gets as far as building its network must not write into /etc/cni/net.d
            Path isolated = dir.resolve("isolated.toml");
            Files.writeString(isolated, BerthProcess.isolatedNetworkToml(dir) + "[metrics]\naddress = \"\"\n");
            cmd.addAll(List.of("--config", isolated.toString()));
        }
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "berth did not exit");
        return new Outcome(p.exitValue(), new String(p.getInputStream().readAllBytes()).strip());
    }

    private Path config(String toml) throws Exception {
        Path file = dir.resolve("config.toml");
        Files.writeString(file, toml);
        return file;
    }

    private static void assertOneLine(Outcome o, int exit, String... fragments) {
        assertEquals(exit, o.exit(), o.output());
        List<String> errors = o.output().lines().filter(l -> l.startsWith("berth: ")).toList();
        assertEquals(1, errors.size(), "one error line: " + o.output());
        assertTrue(o.output().lines().noneMatch(l -> l.startsWith("\tat ") || l.startsWith("Caused by")), "no stack trace: " + o.output());
        for (String f : fragments) {
            assertTrue(errors.get(0).contains(f), "'" + f + "' in: " + o.output());
        }
    }

    @Test
    void unknownKeyIsNamed() throws Exception {
        Outcome o = daemon("--config", config("[grpc]\nsockett = \"/tmp/x.sock\"\n").toString());
        assertOneLine(o, 2, "unknown config key 'grpc.sockett'");
    }

    @Test
    void wrongTypeIsNamed() throws Exception {
        Outcome o = daemon("--config", config("[grpc]\nmax_message_size = \"big\"\n").toString());
        assertOneLine(o, 2, "'grpc.max_message_size' must be an integer");
    }

    @Test
    void badValueIsNamed() throws Exception {
        Outcome o = daemon("--config", config("[cgroup]\ndriver = \"cgroupv3\"\n").toString());
        assertOneLine(o, 2, "'cgroup.driver' must be one of cgroupfs, systemd");
    }

    @Test
    void badRegistryAndImageSettingsAreNamed() throws Exception {
        assertOneLine(daemon("--config", config("[registry]\npull_progress_timeout = \"0s\"\n").toString()), 2,
                "'registry.pull_progress_timeout' must be positive");
        assertOneLine(daemon("--config", config("[registry]\nmax_concurrent_downloads = 0\n").toString()), 2,
                "'registry.max_concurrent_downloads' must be between 1 and 64");
        assertOneLine(daemon("--config", config("[registry]\nconfig_path = \"certs.d\"\n").toString()), 2,
                "'config_path' must be an absolute path");
        assertOneLine(daemon("--config", config("[images]\npinned_images = [\"Bad Ref\"]\n").toString()), 2,
                "'images.pinned_images'", "white space");
    }

    @Test
    void invalidTomlIsReported() throws Exception {
        Outcome o = daemon("--config", config("[grpc\n").toString());
        assertOneLine(o, 2, "is not valid TOML");
    }

    @Test
    void missingConfigFileIsReported() throws Exception {
        Outcome o = daemon("--config", dir.resolve("nope.toml").toString());
        assertOneLine(o, 2, "nope.toml does not exist");
    }

    @Test
    void unwritableSocketDirectoryIsReported() throws Exception {
        Outcome o = daemon("--socket", "/proc/berth-test/berth.sock");
        assertOneLine(o, 1, "cannot create the socket directory /proc/berth-test: no such file or directory");
    }

    @Test
    void badLogLevelFlagIsReported() throws Exception {
        Outcome o = daemon("--log-level", "chatty");
        assertOneLine(o, 2, "--log-level must be one of");
    }
}
