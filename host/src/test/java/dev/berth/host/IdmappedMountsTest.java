package dev.berth.host;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.common.BerthException;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Idmapped bind mounts on this host's ext4 /tmp (and tmpfs, which allows them from 6.3 on).
 * Through a mapping 0:100000:65536 a file owned by root on disk shows as host uid 100000 (what
 * a process of a user namespace with the same mapping sees as its root), an id outside the
 * mapping shows as the overflow id 65534, and a file host uid 100000 makes through the mount is
 * root's on disk; proc refuses idmapping.
 */
@Tag("root")
class IdmappedMountsTest {
    private static final List<UserNamespaces.Mapping> POD = List.of(new UserNamespaces.Mapping(0, 100000, 65536));

    @TempDir
    Path dir;
    private Path source;
    private Path target;
    private java.util.Set<String> fdsBefore;

    @BeforeEach
    void files() throws Exception {
        source = Files.createDirectories(dir.resolve("source"));
        target = Files.createDirectories(dir.resolve("target"));
        Files.writeString(source.resolve("owned"), "x"); // root's, as the test runs as root
        Path other = Files.writeString(source.resolve("unmapped"), "x");
        Libc.c().lchown(other.toString(), 100000, 100000);
        fdsBefore = openFds();
    }

    @AfterEach
    void nothingLeft() {
        LinuxMounts.INSTANCE.unmountAllUnder(dir);
    }

    @Test
    void aFileOfRootShowsAsHostUid100000ThroughTheMountAndAFileThatUidMakesIsRootsOnDisk() throws Exception {
        assertTrue(IdmappedMounts.supported(dir));
        try (UserNamespaces.Handle ns = UserNamespaces.create(POD, POD)) {
            IdmappedMounts.bind(source, target, ns.path(), false);
        }
        assertEquals(100000, Files.getAttribute(target.resolve("owned"), "unix:uid"));
        assertEquals(100000, Files.getAttribute(target.resolve("owned"), "unix:gid"));
        assertEquals(65534, Files.getAttribute(target.resolve("unmapped"), "unix:uid"));
        assertEquals(0, Files.getAttribute(source.resolve("owned"), "unix:uid"));
        assertEquals(0, Libc.c().lchown(target.resolve("owned").toString(), 100007, 100008), "chown through the mount");
        assertEquals(7, Files.getAttribute(source.resolve("owned"), "unix:uid")); // mapped back onto the disk
        assertEquals(8, Files.getAttribute(source.resolve("owned"), "unix:gid"));

        IdmappedMounts.unmount(target);
        assertEquals(0, MountTable.mountCountUnder(dir));
        assertFalse(Files.exists(target.resolve("owned")));
        assertEquals(java.util.Set.of(), newFds());
    }

    @Test
    void aPinnedNamespaceServesByItsPathAfterTheHandleIsClosed() throws Exception {
        Path pin = Files.createFile(dir.resolve("userns"));
        UserNamespaces.createPinned(pin, POD, List.of(new UserNamespaces.Mapping(0, 100001, 65536)));
        try {
            IdmappedMounts.bind(source, target, pin, false);
            assertEquals(100000, Files.getAttribute(target.resolve("owned"), "unix:uid"));
            assertEquals(100001, Files.getAttribute(target.resolve("owned"), "unix:gid"));
        } finally {
            IdmappedMounts.unmount(target);
            LinuxMounts.INSTANCE.unmount(pin);
        }
        assertEquals(0, MountTable.mountCountUnder(dir));
        assertEquals(java.util.Set.of(), newFds());
    }

    @Test
    void aSingleFileIsBoundIdmappedOntoAFile() throws Exception {
        Path file = Files.createFile(dir.resolve("file-target"));
        assertTrue(IdmappedMounts.supported(source.resolve("owned")));
        try (UserNamespaces.Handle ns = UserNamespaces.create(POD, POD)) {
            IdmappedMounts.bind(source.resolve("owned"), file, ns.path(), false);
        }
        assertEquals(100000, Files.getAttribute(file, "unix:uid"));
        assertEquals("x", Files.readString(file));
        IdmappedMounts.unmount(file);
        assertEquals(0, Files.getAttribute(file, "unix:uid"));
        assertEquals(0, MountTable.mountCountUnder(dir));
        assertEquals(java.util.Set.of(), newFds());
    }

    @Test
    void procRefusesIdmappingSoItIsNotSupportedAndABindOfItFailsLeavingNothing() {
        assertFalse(IdmappedMounts.supported(Path.of("/proc/self")));
        assertFalse(IdmappedMounts.supported(Path.of("/proc"))); // remembered per filesystem
        try (UserNamespaces.Handle ns = UserNamespaces.create(POD, POD)) {
            BerthException e = assertThrows(BerthException.class, () -> IdmappedMounts.bind(Path.of("/proc"), target, ns.path(), false));
            assertTrue(e.getMessage().contains("mount_setattr") && e.getMessage().contains("errno 22"), e.getMessage());
            assertEquals(BerthException.Kind.INVALID_ARGUMENT, e.kind());
        }
        assertEquals(0, MountTable.mountCountUnder(dir));
        assertEquals(java.util.Set.of(), newFds());
    }

    @Test
    void onlyARecursiveBindTakesTheSubmountsAlongIdmappedAndOneRefusingSubmountFailsIt() throws Exception {
        Path sub = Files.createDirectories(source.resolve("sub"));
        LinuxMounts.INSTANCE.tmpfs("idmap-test", sub, "size=1m");
        Path inner = Files.writeString(sub.resolve("inner"), "z");
        Libc.c().lchown(inner.toString(), 5, 5);
        try (UserNamespaces.Handle ns = UserNamespaces.create(POD, POD)) {
            IdmappedMounts.bind(source, target, ns.path(), false);
            assertFalse(Files.exists(target.resolve("sub/inner"))); // the submount stayed behind
            IdmappedMounts.unmount(target);

            IdmappedMounts.bind(source, target, ns.path(), true);
            assertEquals(100005, Files.getAttribute(target.resolve("sub/inner"), "unix:uid"));
            assertEquals(100000, Files.getAttribute(target.resolve("owned"), "unix:uid"));
            LinuxMounts.INSTANCE.unmountAllUnder(target);

            Path proc = Files.createDirectories(source.resolve("proc"));
            assertEquals(0, Libc.c().mount("proc", proc.toString(), "proc", 0, null));
            BerthException e = assertThrows(BerthException.class, () -> IdmappedMounts.bind(source, target, ns.path(), true));
            assertTrue(e.getMessage().contains("errno 22"), e.getMessage());
            assertEquals(List.of(sub, proc), MountTable.mountPointsUnder(dir)); // only the test's own
        }
        LinuxMounts.INSTANCE.unmountAllUnder(dir);
        assertEquals(0, MountTable.mountCountUnder(dir));
        assertEquals(java.util.Set.of(), newFds());
    }

    @Test
    void aMissingUserNamespaceOrSourceIsAClearError() {
        BerthException e = assertThrows(BerthException.class, () -> IdmappedMounts.bind(source, target, dir.resolve("nope"), false));
        assertTrue(e.getMessage().contains("open the user namespace"), e.getMessage());
        e = assertThrows(BerthException.class, () -> IdmappedMounts.bind(dir.resolve("nope"), target, Path.of("/proc/self/ns/user"), false));
        assertTrue(e.getMessage().contains("open_tree"), e.getMessage());
        assertEquals(0, MountTable.mountCountUnder(dir));
        assertEquals(java.util.Set.of(), newFds());
    }

    /** Descriptors opened since the test began and still open (the JVM may close some of its own meanwhile). */
    private java.util.Set<String> newFds() {
        java.util.Set<String> now = openFds();
        now.removeAll(fdsBefore);
        return now;
    }

    /**
     * This process's descriptors other than the JVM's sockets, jars and cgroup files, each as
     * "N -> what": a leaked namespace shows as user:[...], a leaked mount clone as its path, a helper's pipe as pipe:[...].
     */
    private static java.util.Set<String> openFds() {
        java.util.Set<String> fds = new java.util.TreeSet<>();
        for (String fd : new File("/proc/self/fd").list()) {
            try {
                String to = Files.readSymbolicLink(Path.of("/proc/self/fd", fd)).toString();
                // the JVM reads its own cgroup's limits now and then, on threads of its own
                if (!to.startsWith("socket:") && !to.endsWith(".jar") && !to.startsWith("/sys/fs/cgroup/")) {
                    fds.add(fd + " -> " + to);
                }
            } catch (java.io.IOException e) {
                // closed meanwhile (the listing's own descriptor)
            }
        }
        return fds;
    }
}
