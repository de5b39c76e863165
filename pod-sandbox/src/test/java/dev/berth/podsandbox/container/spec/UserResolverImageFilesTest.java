package dev.berth.podsandbox.container.spec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.berth.common.BerthException;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The image decides what its /etc/passwd is: only a bounded regular file is ever read. */
@Timeout(value = 20, unit = TimeUnit.SECONDS)
class UserResolverImageFilesTest {
    @TempDir
    Path rootfs;
    Path etc;

    @BeforeEach
    void etc() throws IOException {
        etc = Files.createDirectories(rootfs.resolve("etc"));
    }

    @Test
    void aRegularPasswdNamesTheUserAndAMissingGroupFileIsEmpty() throws IOException {
        Files.writeString(etc.resolve("passwd"), "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n");
        UserResolver.Identity id = UserResolver.forRootfs(rootfs).resolve(ContainerConfig.Security.defaults(), "app");
        assertEquals(1000, id.uid());
        assertEquals(1001, id.gid());
        assertEquals(List.of(1001L), id.additionalGids());
    }

    @Test
    void aFifoIsRefusedWithoutBlocking() throws Exception {
        Process p = new ProcessBuilder("mkfifo", etc.resolve("passwd").toString()).inheritIO().start();
        assertEquals(0, p.waitFor());
        BerthException e = assertThrows(BerthException.class, () -> UserResolver.forRootfs(rootfs));
        assertEquals(BerthException.Kind.INVALID_ARGUMENT, e.kind());
        assertTrue(e.getMessage().contains("not a regular file"), e.getMessage());
    }

    @Test
    void aSymlinkToAFifoInsideTheImageIsRefusedToo() throws Exception {
        Process p = new ProcessBuilder("mkfifo", rootfs.resolve("pipe").toString()).inheritIO().start();
        assertEquals(0, p.waitFor());
        Files.createSymbolicLink(etc.resolve("group"), Path.of("/pipe"));
        BerthException e = assertThrows(BerthException.class, () -> UserResolver.forRootfs(rootfs));
        assertEquals(BerthException.Kind.INVALID_ARGUMENT, e.kind());
    }

    @Test
    void aDirectoryIsRefused() throws IOException {
        Files.createDirectories(etc.resolve("passwd"));
        BerthException e = assertThrows(BerthException.class, () -> UserResolver.forRootfs(rootfs));
        assertEquals(BerthException.Kind.INVALID_ARGUMENT, e.kind());
    }

    @Test
    void aFileLargerThanTheBoundIsRefusedWithoutReadingIt() throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(etc.resolve("passwd").toFile(), "rw")) {
            f.setLength(1L << 30); // sparse: a gigabyte of nothing
        }
        long before = usedHeap();
        BerthException e = assertThrows(BerthException.class, () -> UserResolver.forRootfs(rootfs));
        assertEquals(BerthException.Kind.INVALID_ARGUMENT, e.kind());
        assertTrue(e.getMessage().contains("larger than"), e.getMessage());
        assertTrue(usedHeap() - before < 256L << 20, "the file was not read into memory");
    }

    @Test
    @Tag("root")
    void aCharacterDeviceLikeDevZeroIsRefused() throws Exception {
        assumeTrue("root".equals(System.getProperty("user.name")), "mknod needs root");
        Process p = new ProcessBuilder("mknod", etc.resolve("passwd").toString(), "c", "1", "5").inheritIO().start();
        assertEquals(0, p.waitFor());
        BerthException e = assertThrows(BerthException.class, () -> UserResolver.forRootfs(rootfs));
        assertEquals(BerthException.Kind.INVALID_ARGUMENT, e.kind());
        assertTrue(e.getMessage().contains("not a regular file"), e.getMessage());
    }

    private static long usedHeap() {
        Runtime r = Runtime.getRuntime();
        return r.totalMemory() - r.freeMemory();
    }
}
