package dev.berth.dist;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * berth_VERSION_all.deb installed with dpkg into a clean Debian 12 root made by mmdebstrap (with
 * the package's dependencies from Debian's mirror), as on a fresh machine where no systemd runs:
 * the files, /etc/crictl.yaml, the units verified by systemd-analyze, berth answering on the
 * root's own Java, the start-up archive on upgrade, then remove (state kept) and purge (state
 * gone, an operator's crictl.yaml kept). Prints its figures on lines starting with PACKAGE.
 */
@Tag("root")
@Timeout(value = 8, unit = TimeUnit.MINUTES)
class PackageInstallTest {
    static final String SUITE = "bookworm";
    static final String MIRROR = System.getProperty("berth.debian.mirror", "http://deb.debian.org/debian");
    static final String SECURITY = System.getProperty("berth.debian.security", "http://deb.debian.org/debian-security");
    /**
     * Besides the package's dependencies: deb-systemd-helper, which enables units where no systemd
     * runs, as on a machine installed before its first boot. systemd itself is left out (it doubled
     * the root's making): the host's systemd-analyze verifies the installed units.
     */
    static final List<String> EXTRA = List.of("init-system-helpers");

    @Test
    void installsOnAFreshDebianRootAndRemovesAndPurgesAsDebianDoes() throws Exception {
        long started = System.nanoTime();
        assertTrue(Files.isExecutable(Path.of("/usr/bin/mmdebstrap")),
                "mmdebstrap is not installed: scripts/install-deps --test installs it (apt-get install mmdebstrap)");
        Path deb = Debs.deb();
        Path work = Files.createTempDirectory("berth-pkg-test");
        Path root = work.resolve("root");
        try {
            long t = System.nanoTime();
            mmdebstrap(root, includes(deb));
            System.out.printf("PACKAGE mmdebstrap %.1f s%n", (System.nanoTime() - t) / 1e9);
            Files.copy(deb, root.resolve("tmp/berth.deb"));

            // first installation, without the start-up archive (BERTH_CDS=off): the files, the units, berth answering
            inRoot(root, "BERTH_CDS=off dpkg -i /tmp/berth.deb").ok("dpkg -i");
            assertEquals("install ok installed", inRoot(root, "dpkg-query -W -f '${Status}' berth").ok("dpkg-query").output().strip());
            for (String file : PackageContentTest.FILES) {
                Path installed = root.resolve(file.substring(file.indexOf(" /") + 2));
                assertTrue(Files.isRegularFile(installed), installed + " is not installed");
                assertEquals(file.substring(1, 10), PosixFilePermissions.toString(Files.getPosixFilePermissions(installed)), file);
            }
            assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(root.resolve("var/lib/berth"))));
            assertEquals(-1L, Files.mismatch(root.resolve("etc/crictl.yaml"), Debs.HOME.resolve("manifests/crictl.yaml")));
            assertFalse(Files.exists(root.resolve("usr/lib/berth/berth.jsa")), "BERTH_CDS=off makes no archive");
            assertTrue(Files.isSymbolicLink(root.resolve("etc/systemd/system/multi-user.target.wants/berth.service")),
                    "berth.service is enabled");
            assertFalse(Files.exists(root.resolve("etc/systemd/system/multi-user.target.wants/berth-agent.service"),
                    LinkOption.NOFOLLOW_LINKS), "berth-agent.service is not enabled");
            // verify exits 0 on what it only warns about ("..., ignoring"): no output at all is the pass
            assertEquals("", verifyUnits(root, work).ok("systemd-analyze verify").output().strip());
            String version = inRoot(root, "/usr/bin/berth --version").ok("berth --version").output();
            assertEquals("berth " + System.getProperty("berth.version", "0.1.0-SNAPSHOT"), version.strip());
            assertTrue(inRoot(root, "/usr/bin/berth daemon --help").ok("berth daemon --help").output().contains("Usage: berth daemon"));

            // again (an upgrade to the same version): the archive is made for the root's JDK and used
            long u = System.nanoTime();
            Debs.Result again = inRoot(root, "dpkg -i /tmp/berth.deb").ok("dpkg -i again");
            System.out.printf("PACKAGE dpkg -i with the start-up archive %.1f s%n", (System.nanoTime() - u) / 1e9);
            Path jsa = root.resolve("usr/lib/berth/berth.jsa");
            assertTrue(Files.isRegularFile(jsa), "no archive after the upgrade:\n" + again.output());
            assertTrue(Files.getLastModifiedTime(jsa).compareTo(Files.getLastModifiedTime(root.resolve("usr/lib/berth/berth.jar"))) > 0);
            assertTrue(inRoot(root, "BERTH_LAUNCHER_DRY_RUN=1 /usr/bin/berth daemon --help").ok("dry run").output()
                    .contains("-XX:SharedArchiveFile=/usr/lib/berth/berth.jsa "), "the launcher uses the archive");
            Path clientJsa = root.resolve("usr/lib/berth/berth-client.jsa");
            assertTrue(Files.isRegularFile(clientJsa), "no client archive after the upgrade:\n" + again.output());
            assertTrue(inRoot(root, "BERTH_LAUNCHER_DRY_RUN=1 /usr/bin/berth --version").ok("dry run").output()
                    .contains("-XX:SharedArchiveFile=/usr/lib/berth/berth-client.jsa "), "the client's commands use the client's archive");
            assertEquals(version, inRoot(root, "/usr/bin/berth --version").ok("berth --version with the archive").output());

            // remove: the program goes, state and configuration stay
            inRoot(root, "dpkg -r berth").ok("dpkg -r");
            Files.writeString(root.resolve("var/lib/berth/marker"), "state");
            assertFalse(Files.exists(root.resolve("usr/bin/berth")));
            assertFalse(Files.exists(root.resolve("usr/lib/berth")), "the archive goes with the package");
            assertTrue(Files.isRegularFile(root.resolve("var/lib/berth/marker")));
            assertTrue(Files.isRegularFile(root.resolve("etc/berth/config.toml")), "a conffile stays until purge");
            assertTrue(Files.isRegularFile(root.resolve("etc/crictl.yaml")));

            // purge: state, configuration and berth's crictl.yaml go
            inRoot(root, "dpkg -P berth").ok("dpkg -P");
            assertFalse(Files.exists(root.resolve("var/lib/berth")));
            assertFalse(Files.exists(root.resolve("etc/berth")));
            assertFalse(Files.exists(root.resolve("etc/crictl.yaml")));
            assertFalse(Files.exists(root.resolve("etc/systemd/system/multi-user.target.wants/berth.service"), LinkOption.NOFOLLOW_LINKS));

            // an operator's crictl.yaml is neither replaced on install nor removed on purge
            Files.writeString(root.resolve("etc/crictl.yaml"), "runtime-endpoint: unix:///run/containerd/containerd.sock\n");
            inRoot(root, "BERTH_CDS=off dpkg -i /tmp/berth.deb").ok("dpkg -i beside an operator's crictl.yaml");
            inRoot(root, "dpkg -P berth").ok("dpkg -P beside an operator's crictl.yaml");
            assertEquals("runtime-endpoint: unix:///run/containerd/containerd.sock\n", Files.readString(root.resolve("etc/crictl.yaml")));
        } finally {
            remove(work);
            System.out.printf("PACKAGE test %.1f s%n", (System.nanoTime() - started) / 1e9);
        }
    }

    /** The first alternative of each dependency the package declares, without versions, and {@link #EXTRA}. */
    static List<String> includes(Path deb) throws Exception {
        List<String> names = new ArrayList<>();
        String depends = Debs.run(30, "dpkg-deb", "-f", deb.toString(), "Depends").ok("dpkg-deb -f Depends").output();
        for (String dep : depends.strip().split(",")) {
            names.add(dep.split("\\|")[0].replaceAll("\\(.*\\)", "").strip());
        }
        names.addAll(EXTRA);
        return names;
    }

    /**
     * A minimal Debian root (essential packages and the includes). dpkg skips fsync (a throw-away
     * root), and the host's downloaded .debs are linked in first so that only what is missing
     * comes from the mirror.
     */
    private static void mmdebstrap(Path root, List<String> includes) throws IOException, InterruptedException {
        List<String> argv = new ArrayList<>(List.of("mmdebstrap", "--mode=root", "--variant=essential", "--dpkgopt=force-unsafe-io",
                "--include=" + String.join(",", includes),
                "--setup-hook=mkdir -p \"$1/var/cache/apt/archives\" && { cp -al /var/cache/apt/archives/*.deb \"$1/var/cache/apt/archives/\" 2>/dev/null || true; }",
                // nothing an installation asks to start is started (deb-systemd-invoke and invoke-rc.d ask policy-rc.d)
                "--customize-hook=printf '#!/bin/sh\\nexit 101\\n' > \"$1/usr/sbin/policy-rc.d\" && chmod 755 \"$1/usr/sbin/policy-rc.d\"",
                SUITE, root.toString(),
                "deb " + MIRROR + " " + SUITE + " main",
                "deb " + MIRROR + " " + SUITE + "-updates main",
                "deb " + SECURITY + " " + SUITE + "-security main"));
        Debs.run(600, argv).ok("mmdebstrap");
    }

    /**
     * The host's {@code systemd-analyze verify} of the units installed in root. It checks that each
     * ExecStart program exists, so in a mount namespace of its own the root's /usr/bin/berth is laid
     * over the host's /usr/bin (an overlay that ends with the namespace; the host's /usr/bin is not changed).
     */
    private static Debs.Result verifyUnits(Path root, Path work) throws IOException, InterruptedException {
        Path bin = Files.createDirectories(work.resolve("bin"));
        Files.copy(root.resolve("usr/bin/berth"), bin.resolve("berth"));
        return Debs.run(120, "unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
                "mount -t overlay overlay -o lowerdir=\"$0\":/usr/bin /usr/bin && exec systemd-analyze verify --man=no"
                        + " \"$1/lib/systemd/system/berth.service\" \"$1/lib/systemd/system/berth-agent.service\"",
                bin.toString(), root.toString());
    }

    /**
     * Runs a shell command line chrooted into root, in a mount namespace of its own with /proc
     * mounted (the JVM wants it): the mount ends with the namespace, nothing stays on the host.
     */
    private static Debs.Result inRoot(Path root, String command) throws IOException, InterruptedException {
        return Debs.run(300, "unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
                "mount -t proc proc \"$0/proc\" && exec chroot \"$0\" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin sh -c \"$1\"",
                root.toString(), command);
    }

    /** Unmounts whatever is still mounted below dir (deepest first), then removes it without crossing into other file systems. */
    private static void remove(Path dir) throws IOException, InterruptedException {
        String prefix = dir.toRealPath().toString() + "/";
        List<String> mounts = new ArrayList<>();
        for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
            String target = line.split(" ")[4];
            if (target.startsWith(prefix)) {
                mounts.add(target);
            }
        }
        mounts.sort(Comparator.comparingInt(String::length).reversed());
        for (String m : mounts) {
            Debs.run(60, "umount", "--lazy", m);
        }
        Debs.run(300, "rm", "-rf", "--one-file-system", dir.toString()).ok("rm -rf " + dir);
    }
}
