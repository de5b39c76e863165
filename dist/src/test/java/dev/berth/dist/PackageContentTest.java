package dev.berth.dist;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What berth_VERSION_all.deb holds and declares, read with dpkg-deb (no root needed). */
class PackageContentTest {
    /** Every file of the package, with its mode; directories aside. */
    static final List<String> FILES = List.of(
            "-rwxr-xr-x /usr/bin/berth",
            "-rw-r--r-- /usr/lib/berth/berth.jar",
            "-rwxr-xr-x /usr/lib/berth/build-cds-archive",
            "-rw-r--r-- /lib/systemd/system/berth.service",
            "-rw-r--r-- /lib/systemd/system/berth-agent.service",
            "-rw-r--r-- /etc/berth/config.toml",
            "-rw-r--r-- /usr/share/berth/crictl.yaml",
            "-rw-r--r-- /usr/share/doc/berth/README.md",
            "-rw-r--r-- /usr/share/doc/berth/copyright",
            "-rw-r--r-- /usr/share/doc/berth/changelog.Debian.gz",
            "-rw-r--r-- /usr/share/man/man1/berth.1.gz",
            "-rw-r--r-- /usr/share/bash-completion/completions/berth");

    /** The package unpacked with dpkg-deb -x. */
    @TempDir
    static Path unpacked;

    @BeforeAll
    static void unpack() throws Exception {
        Debs.run(120, "dpkg-deb", "-x", Debs.deb().toString(), unpacked.toString()).ok("dpkg-deb -x");
    }

    @Test
    void holdsExactlyTheListedFiles() throws Exception {
        List<String> files = Debs.files(Debs.deb());
        assertEquals(FILES.stream().sorted().toList(), files.stream().sorted().toList());
    }

    @Test
    void theInstalledFilesAreTheCheckoutsOwn() throws Exception {
        for (String[] pair : new String[][] {{"usr/bin/berth", "bin/berth"}, {"usr/lib/berth/berth.jar", "cli/target/berth.jar"},
                    {"lib/systemd/system/berth.service", "manifests/berth.service"},
                    {"lib/systemd/system/berth-agent.service", "manifests/berth-agent.service"},
                    {"etc/berth/config.toml", "manifests/config.toml"}, {"usr/share/berth/crictl.yaml", "manifests/crictl.yaml"}}) {
            assertEquals(-1L, Files.mismatch(unpacked.resolve(pair[0]), Debs.HOME.resolve(pair[1])), pair[0] + " differs from " + pair[1]);
        }
    }

    @Test
    void declaresItsVersionAndWhatBerthNeeds() throws Exception {
        String deb = Debs.deb().toString();
        assertEquals("berth", field(deb, "Package"));
        assertEquals(PackageDocs.debianVersion(System.getProperty("berth.version", "0.1.0-SNAPSHOT")), field(deb, "Version"));
        assertEquals("all", field(deb, "Architecture"));
        // runc is the default handler; crun, the second built-in handler, is left out by the daemon where it is not installed
        assertEquals("default-jre-headless (>= 2:1.17) | java17-runtime-headless, runc, conmon, containernetworking-plugins,"
                + " iptables, iproute2", field(deb, "Depends"));
        assertEquals("crun, catatonit, kmod", field(deb, "Recommends"));
        assertTrue(field(deb, "Maintainer").matches(".+ <.+@.+>"), field(deb, "Maintainer"));
    }

    @Test
    void onlyTheConfigurationIsAConffileAndJdkChangesTriggerIt() throws Exception {
        String deb = Debs.deb().toString();
        assertEquals("/etc/berth/config.toml", Debs.run(30, "dpkg-deb", "-I", deb, "conffiles").ok("conffiles").output().strip());
        assertEquals("interest-noawait /usr/lib/jvm", Debs.run(30, "dpkg-deb", "-I", deb, "triggers").ok("triggers").output().strip());
        for (String script : List.of("postinst", "prerm", "postrm")) {
            String text = Debs.run(30, "dpkg-deb", "-I", deb, script).ok(script).output();
            assertTrue(text.startsWith("#!/bin/sh\n"), script);
            Debs.run(30, "sh", "-n", "-c", text).ok("sh -n " + script);
        }
    }

    /** postrm removes /etc/crictl.yaml on purge only while it is byte for byte the one postinst wrote. */
    @Test
    void postrmKnowsTheChecksumOfBerthsCrictlYaml() throws Exception {
        String postrm = Files.readString(Debs.HOME.resolve("dist/src/deb/control/postrm"));
        Matcher m = Pattern.compile("(?m)^CRICTL_SHA256=([0-9a-f]{64})$").matcher(postrm);
        assertTrue(m.find(), "postrm sets CRICTL_SHA256");
        byte[] sum = MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(Debs.HOME.resolve("manifests/crictl.yaml")));
        assertEquals(HexFormat.of().formatHex(sum), m.group(1), "manifests/crictl.yaml changed: update CRICTL_SHA256 in postrm");
    }

    @Test
    void theChangelogAndManPageAreThere() throws Exception {
        String log = Debs.run(30, "zcat", unpacked.resolve("usr/share/doc/berth/changelog.Debian.gz").toString()).ok("zcat").output();
        assertTrue(log.startsWith("berth (" + field(Debs.deb().toString(), "Version") + ") "), log);
        String man = Debs.run(30, "zcat", unpacked.resolve("usr/share/man/man1/berth.1.gz").toString()).ok("zcat").output();
        assertTrue(man.startsWith(".TH BERTH 1 "), man);
        assertTrue(man.contains(".SS \"berth daemon\""), "the man page documents berth daemon");
        assertTrue(man.contains(".SS \"berth exec\""), "the man page documents the client's commands");
    }

    @Test
    void bashCompletesEveryCommand() throws Exception {
        String script = Files.readString(unpacked.resolve("usr/share/bash-completion/completions/berth"));
        assertTrue(script.contains("complete -F _complete_berth"), script.substring(0, Math.min(400, script.length())));
        for (String command : List.of("daemon", "agent", "ps", "exec", "port-forward", "pull")) {
            assertTrue(script.contains("function _picocli_berth_" + command.replace("-", "") + "()"), command);
        }
    }

    private static String field(String deb, String name) throws Exception {
        return Debs.run(30, "dpkg-deb", "-f", deb, name).ok("dpkg-deb -f " + name).output().strip();
    }
}
