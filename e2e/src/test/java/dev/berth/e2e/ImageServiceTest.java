package dev.berth.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.berth.cri.v1.Image;
import dev.berth.cri.v1.ImageFilter;
import dev.berth.cri.v1.ImageFsInfoRequest;
import dev.berth.cri.v1.ImageFsInfoResponse;
import dev.berth.cri.v1.ImageSpec;
import dev.berth.cri.v1.ImageStatusRequest;
import dev.berth.cri.v1.ImageStatusResponse;
import dev.berth.cri.v1.ListImagesRequest;
import dev.berth.cri.v1.PullImageRequest;
import dev.berth.cri.v1.RemoveImageRequest;
import dev.berth.cri.v1.StreamImagesRequest;
import dev.berth.cri.v1.StreamImagesResponse;
import dev.berth.images.testing.RegistryFixture;
import dev.berth.images.testing.RegistryProxy;
import dev.berth.images.testing.TestImage;
import dev.berth.images.testing.TestLayer;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The CRI ImageService of the real daemon against a real registry on loopback. */
@Tag("root")
class ImageServiceTest {
    @TempDir
    Path dir;

    static ImageSpec spec(String image) {
        return ImageSpec.newBuilder().setImage(image).build();
    }

    @Test
    void pullsListsStatusesAndRemovesAnImage() throws Exception {
        try (RegistryFixture registry = RegistryFixture.start(dir.resolve("registry"));
             BerthProcess berth = BerthProcess.start(dir.resolve("berth"))) {
            TestImage.Pushed pushed = TestImage.of(TestLayer.busybox().build(TestLayer.Compression.GZIP),
                    TestLayer.create().file("hello", "world").build(TestLayer.Compression.ZSTD)).user("65534")
                    .push(registry.pusher(), "e2e/busybox", "1.0");
            String ref = registry.host() + "/e2e/busybox:1.0";

            String id = berth.images().pullImage(PullImageRequest.newBuilder().setImage(spec(ref)).build()).getImageRef();
            assertEquals(pushed.configDigest(), id);

            List<Image> all = berth.images().listImages(ListImagesRequest.getDefaultInstance()).getImagesList();
            assertEquals(1, all.size());
            Image img = all.get(0);
            assertEquals(List.of(ref), img.getRepoTagsList());
            assertEquals(List.of(registry.host() + "/e2e/busybox@" + pushed.manifestDigest()), img.getRepoDigestsList());
            assertEquals(65534, img.getUid().getValue());
            assertTrue(img.getSize() > 500_000, "size " + img.getSize());

            assertEquals(1, berth.images().listImages(ListImagesRequest.newBuilder()
                    .setFilter(ImageFilter.newBuilder().setImage(spec(ref))).build()).getImagesCount());
            assertEquals(0, berth.images().listImages(ListImagesRequest.newBuilder()
                    .setFilter(ImageFilter.newBuilder().setImage(spec(registry.host() + "/e2e/other:1"))).build()).getImagesCount());
            Iterator<StreamImagesResponse> stream = berth.images().streamImages(StreamImagesRequest.getDefaultInstance());
            List<Image> streamed = new ArrayList<>();
            stream.forEachRemaining(r -> streamed.addAll(r.getImagesList()));
            assertEquals(all, streamed);

            ImageStatusResponse status = berth.images().imageStatus(ImageStatusRequest.newBuilder().setImage(spec(id)).setVerbose(true).build());
            assertEquals(img, status.getImage());
            JsonNode info = new ObjectMapper().readTree(status.getInfoOrThrow("info"));
            assertEquals(pushed.manifestDigest(), info.path("manifestDigest").asText());
            assertEquals("65534", info.path("imageSpec").path("config").path("User").asText());
            assertEquals(2, info.path("layers").size());
            List<Path> layerDirs = new ArrayList<>();
            info.path("layers").forEach(l -> layerDirs.add(Path.of(l.path("path").asText())));
            assertTrue(layerDirs.get(0).startsWith(berth.root()));
            assertTrue(Files.isExecutable(layerDirs.get(0).resolve("bin/busybox")));
            assertEquals("world", Files.readString(layerDirs.get(1).resolve("hello")));

            ImageFsInfoResponse fs = berth.images().imageFsInfo(ImageFsInfoRequest.getDefaultInstance());
            assertEquals(berth.root().resolve("images").toString(), fs.getImageFilesystems(0).getFsId().getMountpoint());
            assertTrue(fs.getImageFilesystems(0).getUsedBytes().getValue() > Files.size(Path.of("/bin/busybox")));
            assertTrue(fs.getImageFilesystems(0).getInodesUsed().getValue() > 5);
            assertEquals(1, fs.getContainerFilesystemsCount());

            // not present: an empty status, as the kubelet expects
            assertFalse(berth.images().imageStatus(ImageStatusRequest.newBuilder().setImage(spec(registry.host() + "/e2e/none:1")).build()).hasImage());
            StatusRuntimeException missing = org.junit.jupiter.api.Assertions.assertThrows(StatusRuntimeException.class,
                    () -> berth.images().pullImage(PullImageRequest.newBuilder().setImage(spec(registry.host() + "/e2e/none:1")).build()));
            assertEquals(Status.Code.NOT_FOUND, missing.getStatus().getCode());
            StatusRuntimeException invalid = org.junit.jupiter.api.Assertions.assertThrows(StatusRuntimeException.class,
                    () -> berth.images().pullImage(PullImageRequest.newBuilder().setImage(spec(registry.host() + "/e2e/Upper:1")).build()));
            assertEquals(Status.Code.INVALID_ARGUMENT, invalid.getStatus().getCode());

            // the image survives a restart of the daemon
            berth.stop();
            berth.restart();
            assertEquals(all, berth.images().listImages(ListImagesRequest.getDefaultInstance()).getImagesList());

            berth.images().removeImage(RemoveImageRequest.newBuilder().setImage(spec(ref)).build());
            assertEquals(0, berth.images().listImages(ListImagesRequest.getDefaultInstance()).getImagesCount());
            for (Path l : layerDirs) {
                assertFalse(Files.exists(l), l + " is removed with the image");
            }
            berth.images().removeImage(RemoveImageRequest.newBuilder().setImage(spec(ref)).build()); // idempotent
            berth.images().removeImage(RemoveImageRequest.newBuilder().setImage(spec(id)).build());
        }
    }

    @Test
    void aDaemonKilledMidPullLeavesNoPartialImageAndPullsItAfterRestart() throws Exception {
        try (RegistryFixture registry = RegistryFixture.start(dir.resolve("registry"));
             RegistryProxy proxy = new RegistryProxy(registry.url());
             BerthProcess berth = BerthProcess.start(dir.resolve("berth"))) {
            byte[] data = new byte[8 << 20];
            new Random(7).nextBytes(data);
            TestLayer.Built big = TestLayer.create().file("big", data, 0644).build(TestLayer.Compression.GZIP);
            TestImage.Pushed pushed = TestImage.of(TestLayer.busybox().build(TestLayer.Compression.GZIP), big)
                    .push(registry.pusher(), "e2e/big", "1");
            proxy.stallBlobsLargerThan(4 << 20);
            String ref = proxy.host() + "/e2e/big:1";
            berth.imagesAsync().pullImage(PullImageRequest.newBuilder().setImage(spec(ref)).build(), new io.grpc.stub.StreamObserver<>() {
                @Override
                public void onNext(dev.berth.cri.v1.PullImageResponse value) {
                }

                @Override
                public void onError(Throwable t) {
                }

                @Override
                public void onCompleted() {
                }
            });
            assertTrue(proxy.awaitStalled(60), "the pull reached half of the big layer");
            berth.kill();
            proxy.passThrough();
            Path images = berth.root().resolve("images");
            berth.restart();
            assertEquals(0, berth.images().listImages(ListImagesRequest.getDefaultInstance()).getImagesCount());
            try (var s = Files.list(images.resolve("content/ingest"))) {
                assertEquals(0, s.count(), "no partial download remains");
            }
            try (var s = Files.walk(images.resolve("content/blobs"))) {
                assertEquals(List.of(), s.filter(Files::isRegularFile).toList(), "no blob of an unrecorded image remains");
            }
            try (var s = Files.walk(images.resolve("layers"), 2)) {
                assertEquals(List.of(), s.filter(p -> p.getFileName().toString().startsWith(".") || p.getNameCount() - images.resolve("layers").getNameCount() == 2).toList(),
                        "no layer of an unrecorded image remains");
            }
            String id = berth.images().pullImage(PullImageRequest.newBuilder().setImage(spec(ref)).build()).getImageRef();
            assertEquals(pushed.configDigest(), id);
        }
    }

    @Test
    void anImageImportedWithTheCliIsServedByTheRunningDaemon() throws Exception {
        try (BerthProcess berth = BerthProcess.start(dir.resolve("berth"))) {
            Path archive = dir.resolve("busybox.tar");
            TestImage image = TestImage.of(TestLayer.busybox().build(TestLayer.Compression.NONE));
            image.writeDockerSave(archive, "offline/busybox:1");
            Process p = new ProcessBuilder(BerthProcess.launcher().toString(), "image", "import", archive.toString(),
                    "--root", berth.root().toString()).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            assertEquals(0, p.waitFor(), out);
            assertTrue(out.contains("docker.io/offline/busybox:1"), out);
            List<Image> all = berth.images().listImages(ListImagesRequest.getDefaultInstance()).getImagesList();
            assertEquals(1, all.size());
            assertEquals(List.of("docker.io/offline/busybox:1"), all.get(0).getRepoTagsList());
            assertTrue(out.startsWith(all.get(0).getId()), out);

            Process bad = new ProcessBuilder(BerthProcess.launcher().toString(), "image", "import", dir.resolve("missing.tar").toString(),
                    "--root", berth.root().toString()).redirectErrorStream(true).start();
            String err = new String(bad.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            assertEquals(1, bad.waitFor(), err);
            assertTrue(err.contains("no such file"), err);

            Path rootfs = dir.resolve("rootfs");
            Files.createDirectories(rootfs.resolve("bin"));
            Files.copy(Path.of("/bin/busybox"), rootfs.resolve("bin/busybox"));
            Files.createSymbolicLink(rootfs.resolve("bin/sh"), Path.of("busybox"));
            Process build = new ProcessBuilder(BerthProcess.launcher().toString(), "image", "build-rootfs", rootfs.toString(),
                    "--tag", "offline/tools:2", "--cmd", "/bin/sh,-c,echo hi", "--root", berth.root().toString())
                    .redirectErrorStream(true).start();
            String built = new String(build.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            assertEquals(0, build.waitFor(), built);
            assertTrue(built.contains("docker.io/offline/tools:2"), built);
            assertTrue(berth.images().listImages(ListImagesRequest.getDefaultInstance()).getImagesList().stream()
                    .anyMatch(i -> i.getRepoTagsList().contains("docker.io/offline/tools:2")), "the daemon serves the built image");
        }
    }

    /** Not a test of correctness: prints PullImage latency and throughput. Run with -Dberth.benchmark=true. */
    @Test
    void benchmarkPullImage() throws Exception {
        assumeTrue(Boolean.getBoolean("berth.benchmark"), "benchmark: run with -Dberth.benchmark=true");
        try (RegistryFixture registry = RegistryFixture.start(dir.resolve("registry"));
             BerthProcess berth = BerthProcess.start(dir.resolve("berth"))) {
            TestImage.of(TestLayer.busybox().build(TestLayer.Compression.GZIP)).push(registry.pusher(), "bench/busybox", "1");
            String small = registry.host() + "/bench/busybox:1";
            // -Dberth.benchmark.warmup=N pulls first, so the figure is a running daemon's rather than a fresh JVM's
            int warmup = Integer.getInteger("berth.benchmark.warmup", 0);
            if (warmup > 0) {
                medianMillis(berth, small, warmup);
            }
            long smallCpu = cpuMillis(berth.pid());
            double smallMs = medianMillis(berth, small, 21);
            smallCpu = cpuMillis(berth.pid()) - smallCpu;
            System.out.printf("busybox image: %.1f ms median PullImage (fresh each time, after %d warm-up pulls), daemon CPU %.1f ms per pull and removal (mean); load %s%n",
                    smallMs, warmup, smallCpu / 21.0, Files.readString(Path.of("/proc/loadavg")).strip());

            List<TestLayer.Built> big = new ArrayList<>();
            Random rnd = new Random(1);
            for (int i = 0; i < 5; i++) {
                byte[] data = new byte[40 << 20];
                rnd.nextBytes(data);
                big.add(TestLayer.create().file("data" + i, data, 0644).build(TestLayer.Compression.GZIP));
            }
            TestImage.of(big.toArray(TestLayer.Built[]::new)).push(registry.pusher(), "bench/big", "1");
            long bytes = big.stream().mapToLong(b -> b.blob().length).sum();
            long cpuBefore = cpuMillis(berth.pid());
            double ms = medianMillis(berth, registry.host() + "/bench/big:1", 5);
            long cpu = (cpuMillis(berth.pid()) - cpuBefore) / 5;
            System.out.printf("5-layer image of %d MB: %.0f ms median PullImage, %.0f MB/s, daemon CPU %d ms per pull (mean), daemon peak RSS %s%n",
                    bytes >> 20, ms, (bytes / 1048576.0) / (ms / 1000), cpu, peakRss(berth.pid()));
        }
    }

    /** utime + stime of a process, in milliseconds (clock ticks of 10 ms). */
    private static long cpuMillis(long pid) throws java.io.IOException {
        String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return (Long.parseLong(f[11]) + Long.parseLong(f[12])) * 10;
    }

    private static String peakRss(long pid) throws java.io.IOException {
        return Files.readAllLines(Path.of("/proc/" + pid + "/status")).stream().filter(l -> l.startsWith("VmHWM")).findFirst()
                .map(l -> l.substring(6).strip()).orElse("?");
    }

    private static double medianMillis(BerthProcess berth, String ref, int runs) {
        List<Double> times = new ArrayList<>();
        for (int i = 0; i < runs; i++) {
            long t = System.nanoTime();
            String id = berth.images().pullImage(PullImageRequest.newBuilder().setImage(spec(ref)).build()).getImageRef();
            times.add((System.nanoTime() - t) / 1e6);
            berth.images().removeImage(RemoveImageRequest.newBuilder().setImage(spec(id)).build());
        }
        Collections.sort(times);
        System.out.println(ref + " PullImage times (ms): " + times);
        return times.get(times.size() / 2);
    }
}
