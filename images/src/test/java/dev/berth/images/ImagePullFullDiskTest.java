package dev.berth.images;

import dev.berth.host.testing.SmallFilesystems;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.berth.common.BerthException;
import dev.berth.images.registry.Credentials;
import dev.berth.images.testing.RegistryFixture;
import dev.berth.images.testing.TestImage;
import dev.berth.images.testing.TestLayer;
import dev.berth.images.testing.TestLayer.Compression;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * PullImage with the image store on a full filesystem (a small tmpfs, root): RESOURCE_EXHAUSTED
 * naming the store's filesystem, whether the download or the unpacking runs out of space, never
 * UNAVAILABLE (which the kubelet reads as a registry or network failure); nothing half-written
 * stays, and the pull works once there is space.
 */
@Tag("root")
class ImagePullFullDiskTest {

    @TempDir
    static Path registryDir;
    static RegistryFixture registry;

    @TempDir
    Path tmp;

    @BeforeAll
    static void startRegistry() throws Exception {
        registry = RegistryFixture.start(registryDir);
        byte[] noise = new byte[3 << 20]; // does not compress: the blob and the unpacked file are both 3 MiB
        new Random(14).nextBytes(noise);
        TestImage.of(TestLayer.create().file("noise", noise, 0644).build(Compression.GZIP)).push(registry.pusher(), "test/noise", "v1");
    }

    @AfterAll
    static void stopRegistry() throws InterruptedException {
        if (registry != null) {
            registry.close();
        }
    }

    @Test
    void aFullStoreIsResourceExhaustedDuringTheDownload() throws Exception {
        pullOnFullStore(0);
    }

    @Test
    void aStoreWithRoomForTheBlobButNotItsContentIsResourceExhaustedDuringTheUnpacking() throws Exception {
        pullOnFullStore(4 << 20);
    }

    private void pullOnFullStore(long free) throws Exception {
        Path root = Files.createDirectories(tmp.resolve("images"));
        SmallFilesystems.mount(root, "16m");
        try {
            String ref = registry.host() + "/test/noise:v1";
            try (ImageService images = ImagePullTest.service(root, Duration.ofMinutes(5))) {
                Path filler = root.resolve("filler");
                SmallFilesystems.fill(filler, free);
                BerthException e = assertThrows(BerthException.class, () -> images.pull(ref, Credentials.NONE, Map.of()));
                assertEquals(BerthException.Kind.RESOURCE_EXHAUSTED, e.kind(), e.toString());
                assertTrue(e.getMessage().contains(SmallFilesystems.NO_SPACE) && e.getMessage().contains(root.toString()), e.getMessage());
                assertEquals(0, images.content().ingestCount(), "no download in progress remains");

                Files.delete(filler);
                images.pull(ref, Credentials.NONE, Map.of());
                ImagePullTest.assertConsistent(images);
            }
        } finally {
            SmallFilesystems.unmount(root);
        }
    }
}
