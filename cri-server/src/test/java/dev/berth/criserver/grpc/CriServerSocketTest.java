package dev.berth.criserver.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.common.BerthException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The CRI socket is root's: mode 0660, in a directory no other user can write. */
class CriServerSocketTest {
    @TempDir
    Path dir;

    @Test
    void theSocketIsServedWithMode0660AndNothingIsLeftBeside() throws Exception {
        Path socket = dir.resolve("run/berth.sock");
        try (CriServer server = CriServer.start(socket, new CriRegistry(), 1 << 20)) {
            assertEquals("rw-rw----", PosixFilePermissions.toString(Files.getPosixFilePermissions(socket, LinkOption.NOFOLLOW_LINKS)));
            Set<PosixFilePermission> created = Files.getPosixFilePermissions(socket.getParent());
            assertFalse(created.contains(PosixFilePermission.OTHERS_WRITE) || created.contains(PosixFilePermission.GROUP_WRITE)
                    || created.contains(PosixFilePermission.OTHERS_READ), PosixFilePermissions.toString(created));
            try (var names = Files.list(socket.getParent())) {
                assertEquals(java.util.List.of(socket), names.toList(), "only the socket in its directory");
            }
        }
        assertFalse(Files.exists(socket, LinkOption.NOFOLLOW_LINKS), "the socket is removed on shutdown");
    }

    @Test
    void aDirectoryOtherUsersCanWriteIsRefused() throws Exception {
        for (String mode : new String[] {"rwxrwxrwx", "rwxrwxrwt", "rwxrwxr-x"}) {
            Path shared = Files.createDirectories(dir.resolve("shared-" + mode.replace('-', '_')));
            Files.setPosixFilePermissions(shared, PosixFilePermissions.fromString(mode.replace('t', 'x')));
            if (mode.endsWith("t")) {
                dev.berth.host.Libc.c().chmod(shared.toString(), 01777);
            }
            BerthException e = assertThrows(BerthException.class,
                    () -> CriServer.start(shared.resolve("berth.sock"), new CriRegistry(), 1 << 20));
            assertEquals(BerthException.Kind.FAILED_PRECONDITION, e.kind(), e.getMessage());
            assertTrue(e.getMessage().contains("writable by other users"), e.getMessage());
            try (var names = Files.list(shared)) {
                assertEquals(0, names.count(), "nothing created in " + shared);
            }
        }
    }

    @Test
    @org.junit.jupiter.api.Tag("root")
    void aDirectoryOfAnotherUserIsRefused() throws Exception {
        Path theirs = Files.createDirectories(dir.resolve("theirs"));
        Files.setAttribute(theirs, "unix:uid", 65534);
        try {
            BerthException e = assertThrows(BerthException.class,
                    () -> CriServer.prepareSocketPath(theirs.resolve("berth.sock")));
            assertEquals(BerthException.Kind.FAILED_PRECONDITION, e.kind(), e.getMessage());
        } finally {
            Files.setAttribute(theirs, "unix:uid", 0);
        }
    }
}
