package dev.berth.images.archive;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.common.BerthException;
import dev.berth.images.ImageService;
import dev.berth.images.registry.CredentialStore;
import dev.berth.images.registry.RegistryHosts;
import dev.berth.images.store.ImageRecord;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A one-layer image made from a directory, for machines with no registry in reach. */
@Tag("root")
class RootfsImageTest {
    @TempDir
    Path tmp;
    ImageService images;

    @BeforeEach
    void open() {
        images = new ImageService(tmp.resolve("store"), ImageService.Settings.defaults(), new RegistryHosts(Duration.ofSeconds(1)),
                CredentialStore.none());
    }

    @AfterEach
    void close() {
        images.close();
    }

    @Test
    void aDirectoryBecomesATaggedImageWhoseLayerKeepsModesOwnersAndLinks() throws Exception {
        Path rootfs = tmp.resolve("rootfs");
        Files.createDirectories(rootfs.resolve("bin"));
        Files.createDirectories(rootfs.resolve("etc"));
        Files.copy(Path.of("/bin/busybox"), rootfs.resolve("bin/busybox"));
        Files.createSymbolicLink(rootfs.resolve("bin/sh"), Path.of("busybox"));
        Files.writeString(rootfs.resolve("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n");
        Path suid = rootfs.resolve("bin/tool");
        Files.writeString(suid, "#!/bin/sh\n");
        Files.setAttribute(suid, "unix:uid", 1000);
        Files.setAttribute(suid, "unix:gid", 1000);
        Files.setAttribute(suid, "unix:mode", 04755); // after the chown, which clears setuid
        Files.setPosixFilePermissions(rootfs.resolve("etc"), PosixFilePermissions.fromString("rwxr-x---"));

        ImageRecord r = RootfsImage.build(images, rootfs, "local/tools:1",
                new RootfsImage.RunConfig(List.of("/bin/sh", "-c"), List.of("echo hi"), null, "app", "/"));
        assertEquals(List.of("docker.io/local/tools:1"), r.repoTags());
        assertEquals("app", r.user());
        assertEquals(r.id(), images.require("local/tools:1").id());

        List<Path> lower = images.lowerDirs(r.id());
        assertEquals(1, lower.size());
        Path layer = lower.get(0);
        assertTrue(Files.isSymbolicLink(layer.resolve("bin/sh")));
        assertEquals(Path.of("busybox"), Files.readSymbolicLink(layer.resolve("bin/sh")));
        assertEquals(Files.size(Path.of("/bin/busybox")), Files.size(layer.resolve("bin/busybox")));
        assertEquals(04755, (Integer) Files.getAttribute(layer.resolve("bin/tool"), "unix:mode", LinkOption.NOFOLLOW_LINKS) & 07777);
        assertEquals(1000, Files.getAttribute(layer.resolve("bin/tool"), "unix:uid"));
        assertEquals("rwxr-x---", PosixFilePermissions.toString(Files.getPosixFilePermissions(layer.resolve("etc"))));
        try (var left = Files.list(images.root())) {
            assertTrue(left.noneMatch(p -> p.getFileName().toString().startsWith(".build-")), "the temporary layout is gone");
        }
    }

    @Test
    void aReferenceWithoutATagOrAMissingDirectoryIsRefused() {
        Path rootfs = tmp.resolve("none");
        BerthException missing = assertThrows(BerthException.class,
                () -> RootfsImage.build(images, rootfs, "local/x:1", new RootfsImage.RunConfig(null, null, null, null, null)));
        assertEquals(BerthException.Kind.INVALID_ARGUMENT, missing.kind());
        BerthException digestOnly = assertThrows(BerthException.class, () -> RootfsImage.build(images, tmp, "local/x@sha256:"
                + "a".repeat(64), new RootfsImage.RunConfig(null, null, null, null, null)));
        assertEquals(BerthException.Kind.INVALID_ARGUMENT, digestOnly.kind());
    }
}
