package dev.berth.e2e.reliability;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpServer;
import dev.berth.cri.v1.ContainerConfig;
import dev.berth.cri.v1.ContainerMetadata;
import dev.berth.cri.v1.CreateContainerRequest;
import dev.berth.cri.v1.ExecSyncRequest;
import dev.berth.cri.v1.ExecSyncResponse;
import dev.berth.cri.v1.ImageSpec;
import dev.berth.cri.v1.ImageStatusRequest;
import dev.berth.cri.v1.LinuxPodSandboxConfig;
import dev.berth.cri.v1.LinuxSandboxSecurityContext;
import dev.berth.cri.v1.NamespaceMode;
import dev.berth.cri.v1.NamespaceOption;
import dev.berth.cri.v1.PodSandboxConfig;
import dev.berth.cri.v1.PodSandboxMetadata;
import dev.berth.cri.v1.PullImageRequest;
import dev.berth.cri.v1.RemoveContainerRequest;
import dev.berth.cri.v1.RunPodSandboxRequest;
import dev.berth.cri.v1.StartContainerRequest;
import dev.berth.e2e.BerthProcess;
import dev.berth.host.Libc;
import dev.berth.images.testing.Pusher;
import dev.berth.images.testing.RegistryFixture;
import dev.berth.images.testing.TestImage;
import dev.berth.images.testing.TestLayer;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Part (e) of the reliability suite: hostile layers and images, pushed to a real registry on
 * loopback (a 100 MB manifest is served by a small HTTP server of the test, since the
 * registry refuses to store one). Each pull must fail cleanly (a code other than INTERNAL,
 * UNKNOWN or DEADLINE_EXCEEDED, with a message) or unpack safely; where the issue asks for a
 * bound (headers, decompressed bytes, trailing data, config and manifest size) it must fail.
 * Afterwards nothing carries the run's marker outside the test's directory, no partial
 * download or layer is left in the store, and the daemon's heap after a full GC stayed below
 * 256 MB. Prints a table of case and outcome.
 */
@Tag("root")
class HostileImagesReliabilityTest {
    static final long TEN_GIB = 10L << 30;
    /** SHA-256 of the bomb's tar (a PAX size header, a ustar header, 10 GiB of zeros, the end blocks), computed once with sha256sum. */
    static final String BOMB_DIFF_ID = "sha256:b7ebd45e5d0651958f8d39f20dbe87f913606533fa2d2ed6c93ba0acf31d2d7e";
    /** SHA-256 of a small tar, its end blocks, 10 GiB of zeros and a line of garbage, computed once with sha256sum. */
    static final String TRAILING_DIFF_ID = "sha256:489c31ad33061bfa481e804df1f802f59b01891440e2073ffb6a4e38ed3fdb37";
    static final byte[] TRAILING_GARBAGE = "trailing garbage after the end of the archive\n".getBytes(StandardCharsets.US_ASCII);
    /** SHA-256 of a tar of {@code etc/} and a 1 GiB {@code etc/passwd} of zeros, computed once with sha256sum. */
    static final String GIB_PASSWD_DIFF_ID = "sha256:d68f1d711e80c82e3089a8398a5436cb7463b643cf0ea02897429d0224fbf77e";
    /** A VFS_CAP_REVISION_2 security.capability: effective, permitted CAP_SETGID and CAP_SETUID (the byte 0xC0). */
    static final byte[] CAPABILITY = {0x01, 0x00, 0x00, 0x02, (byte) 0xC0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};

    @TempDir
    Path dir;

    String marker;
    BerthProcess berth;
    DaemonMemory memory;
    RegistryFixture registry;
    final List<String[]> table = new ArrayList<>();
    final List<String> problems = new ArrayList<>();

    @Test
    void hostileImagesFailCleanlyOrUnpackSafelyWriteNothingOutsideTheStoreAndKeepTheHeapBounded() throws Exception {
        marker = MarkerSearch.newMarker("bzhi");
        System.out.println("RELIABILITY e: marker " + marker);
        Path shadow = Path.of("/etc/shadow");
        Object shadowLinks = Files.exists(shadow) ? Files.getAttribute(shadow, "unix:nlink") : null;
        HttpServer hugeManifests = null;
        try (RegistryFixture reg = RegistryFixture.start(dir.resolve("registry"))) {
            registry = reg;
            berth = OwnNetworkDaemon.start(dir);
            hugeManifests = hugeManifestServer();
            TestLayer.Built busybox = FuzzCriReliabilityTest.busybox().build(TestLayer.Compression.GZIP);
            String pod = berth.runtime().runPodSandbox(RunPodSandboxRequest.newBuilder().setConfig(pod("hostile")).build()).getPodSandboxId();
            long t0 = System.nanoTime();
            try (DaemonMemory memory = DaemonMemory.startSampling(berth.pid(), 3000)) {
                this.memory = memory;
                memory.takeWindowPeakHeapBytes();
                String m = marker;
                mustNotEscape("symlink to /etc, then a file through it", new HostileLayers.Tar()
                        .symlink("etcl", "/etc").file("etcl/" + m + "-through-symlink", bytes("x"), 0644));
                mustNotEscape("relative symlink out of the layer, then a file through it", new HostileLayers.Tar()
                        .symlink("up", "../../../../../../../../tmp").file("up/" + m + "-relative-symlink", bytes("x"), 0644));
                mustNotEscape("symlink to /tmp in one layer, a file through it in the next", new HostileLayers.Tar()
                                .symlink("evil", "/tmp"),
                        new HostileLayers.Tar().file("evil/" + m + "-cross-layer", bytes("x"), 0644));
                mustNotEscape("hard link to /etc/shadow", new HostileLayers.Tar()
                        .hardlink(m + "-shadow", "/etc/shadow"));
                mustNotEscape("hard link to ../../../../etc/shadow", new HostileLayers.Tar()
                        .hardlink(m + "-shadow-rel", "../../../../../../../../etc/shadow"));
                mustNotEscape("whiteout escaping the layer: ../.wh.x", new HostileLayers.Tar()
                        .file("../.wh." + m + "-whiteout", new byte[0], 0644));
                mustNotEscape("whiteout of ..: a/.wh..", new HostileLayers.Tar()
                        .dir("a", 0755).file("a/.wh..", new byte[0], 0644).file("a/" + m, bytes("x"), 0644));
                mustNotEscape("absolute name /tmp/<marker>", new HostileLayers.Tar()
                        .file("/tmp/" + m + "-absolute", bytes("x"), 0644));
                mustNotEscape("'..' name ../../../../tmp/<marker>", new HostileLayers.Tar()
                        .file("../../../../../../../../tmp/" + m + "-dotdot", bytes("x"), 0644));
                mustNotEscape("'..' in the middle: a/../../<marker>", new HostileLayers.Tar()
                        .dir("a", 0755).file("a/../../" + m + "-middle", bytes("x"), 0644));
                deviceNodesAndSetuidFiles();
                passwd("etc/passwd is a FIFO", busybox, pod, new HostileLayers.Tar().dir("etc", 0755).node("etc/passwd", '6', 0, 0, 0644));
                passwd("etc/passwd is a character device 1:5 (/dev/zero)", busybox, pod,
                        new HostileLayers.Tar().dir("etc", 0755).node("etc/passwd", '3', 1, 5, 0644));
                passwd("etc/passwd is a 1 GiB file of zeros", busybox, pod, null);
                mustFail("decompression bomb: 10 GiB of zeros in one file, gzip'd", () -> push("bomb", HostileLayers.gzipWithZeros(
                        new HostileLayers.Tar().fileHeader("zeros", TEN_GIB, 0644).bytes(), TEN_GIB, new byte[1024], BOMB_DIFF_ID)));
                mustFail("10 GiB of zeros after the end of the archive, gzip'd", () -> push("trailing", HostileLayers.gzipWithZeros(
                        new HostileLayers.Tar().file("hello", bytes("hi\n"), 0644).end().bytes(), TEN_GIB, TRAILING_GARBAGE, TRAILING_DIFF_ID)));
                byte[] huge = new byte[64 << 20];
                Arrays.fill(huge, (byte) 'a');
                mustFail("PAX header of 64 MiB", () -> push("pax", HostileLayers.gzip(new HostileLayers.Tar()
                        .pax(HostileLayers.records("comment", huge)).file(m + "-pax", bytes("x"), 0644).end().bytes())));
                mustFail("GNU long name of 64 MiB", () -> push("longname", HostileLayers.gzip(new HostileLayers.Tar()
                        .gnuLongName(huge).file(m + "-longname", bytes("x"), 0644).end().bytes())));
                mustFail("config blob of 100 MB", this::pushHugeConfig);
                mustFail("manifest of 100 MB", () -> "127.0.0.1:" + hugeManifestPort + "/huge/manifest:1");
                xattrRoundTrip();
                manyLayers(busybox, pod);

                long seconds = (System.nanoTime() - t0) / 1_000_000_000L;
                memory.sample();
                System.out.println("RELIABILITY e: case | expected | outcome | peak heap after full GC during the case | verdict");
                for (String[] row : table) {
                    System.out.println("RELIABILITY e: " + String.join(" | ", row));
                }
                long passed = table.stream().filter(r -> r[4].equals("pass")).count();
                System.out.printf("RELIABILITY e: %d cases in %d s, %d as required, %d not; %s%n",
                        table.size(), seconds, passed, table.size() - passed, memory.summary());
                if (memory.peakHeapBytes() >= DaemonMemory.HEAP_BOUND_BYTES) {
                    problems.add("the daemon's heap after a full GC reached " + (memory.peakHeapBytes() >> 20) + " MB");
                }
            }
            if (!berth.process().isAlive()) {
                problems.add("berth died:\n" + FuzzCriReliabilityTest.tail(berth.logText()));
            } else {
                leftovers();
            }
            List<String> written = MarkerSearch.find(marker, List.of(dir));
            System.out.printf("RELIABILITY e: leaks: %d paths with the marker outside the test's directory %s%n", written.size(), written);
            if (!written.isEmpty()) {
                problems.add("written outside the store: " + written);
            }
            if (shadowLinks != null && !shadowLinks.equals(Files.getAttribute(shadow, "unix:nlink"))) {
                problems.add("/etc/shadow gained a hard link: " + shadowLinks + " -> " + Files.getAttribute(shadow, "unix:nlink"));
            }
            assertEquals(List.of(), problems, "hostile images (marker " + marker + ")");
        } finally {
            if (hugeManifests != null) {
                hugeManifests.stop(0);
            }
            OwnNetworkDaemon.cleanUp(berth, dir);
        }
    }

    // ---------------------------------------------------------------- cases

    interface Ref {
        String get() throws Exception;
    }

    /** A pull that may fail cleanly or succeed, as long as nothing lands outside the store (checked at the end by the marker). */
    void mustNotEscape(String name, HostileLayers.Tar... layers) throws Exception {
        String ref = push(name.replaceAll("[^a-z0-9]+", "-").replaceAll("^-|-$", ""), Arrays.stream(layers)
                .map(t -> HostileLayers.gzip(t.end().bytes())).toArray(HostileLayers.Blob[]::new));
        String outcome = pull(ref);
        row(name, "refused cleanly or unpacked inside the store", outcome, !outcome.startsWith("BAD"));
    }

    void mustFail(String name, Ref ref) throws Exception {
        String outcome;
        try {
            outcome = pull(ref.get());
        } catch (IOException e) {
            outcome = "BAD: could not be set up: " + e.getMessage();
        }
        row(name, "refused cleanly", outcome, outcome.startsWith("refused"));
        partialsLeft(name);
    }

    /** Device nodes and a setuid-root shell in a layer: unpacked, but another local user can open or run neither. */
    void deviceNodesAndSetuidFiles() throws Exception {
        byte[] shell = Files.readAllBytes(Path.of("/bin/busybox"));
        String ref = push("devices", HostileLayers.gzip(new HostileLayers.Tar().dir("dev", 0755)
                .node("dev/" + marker + "-null", '3', 1, 3, 0666)
                .node("dev/" + marker + "-zero", '3', 1, 5, 0666)
                .dir(marker + "-suid", 0755).file(marker + "-suid/busybox", shell, 04755).end().bytes()));
        String outcome = pull(ref);
        String name = "device nodes (1:3, 1:5, mode 0666) and a setuid-root busybox";
        if (!outcome.startsWith("pulled")) {
            row(name, "refused cleanly or unpacked out of other users' reach", outcome, outcome.startsWith("refused"));
            return;
        }
        Path layer = layerDirs(ref).get(0);
        List<String> reachable = new ArrayList<>();
        if (asNobody("ls", berth.root().getParent().toString()) != 0) {
            row(name, "unpacked out of other users' reach", "BAD: nobody cannot reach " + berth.root().getParent()
                    + ", so the check proves nothing", false);
            return;
        }
        for (String[] cmd : List.of(
                new String[] {"head", "-c", "1", layer.resolve("dev/" + marker + "-null").toString()},
                new String[] {"head", "-c", "1", layer.resolve("dev/" + marker + "-zero").toString()},
                // exec'd by a shell of nobody's: setpriv itself keeps root's capabilities until its own exec,
                // so a path it execs directly is looked up with CAP_DAC_OVERRIDE
                new String[] {"/bin/sh", "-c", "exec \"$0\" true", layer.resolve(marker + "-suid/busybox").toString()})) {
            if (asNobody(cmd) == 0) {
                reachable.add(layer.relativize(Path.of(cmd[cmd.length == 4 ? 3 : 0])).toString());
            }
        }
        row(name, "unpacked out of other users' reach", outcome + (reachable.isEmpty() ? ", nobody can open or run them"
                : ", BAD: nobody (uid 65534) can open or run " + reachable), reachable.isEmpty());
    }

    /** An image whose etc/passwd is hostile, with a user to look up: CreateContainer fails cleanly or goes on, within its deadline. */
    void passwd(String name, TestLayer.Built busybox, String pod, HostileLayers.Tar passwdLayer) throws Exception {
        HostileLayers.Blob layer = passwdLayer != null ? HostileLayers.gzip(passwdLayer.end().bytes())
                : HostileLayers.gzipWithZeros(new HostileLayers.Tar().dir("etc", 0755).fileHeader("etc/passwd", 1L << 30, 0644).bytes(),
                        1L << 30, new byte[1024], GIB_PASSWD_DIFF_ID);
        String ref = pushImage("passwd-" + table.size(), "someone", List.of(busybox, built(layer)));
        String outcome = pull(ref);
        if (!outcome.startsWith("pulled")) {
            row(name, "CreateContainer fails cleanly within seconds", "the pull: " + outcome, outcome.startsWith("refused"));
            return;
        }
        long t = System.nanoTime();
        String created;
        boolean pass;
        try {
            String id = berth.runtime().withDeadlineAfter(30, TimeUnit.SECONDS).createContainer(CreateContainerRequest.newBuilder()
                    .setPodSandboxId(pod).setConfig(container("passwd" + table.size(), ref)).setSandboxConfig(pod("hostile")).build())
                    .getContainerId();
            created = "created " + id.substring(0, 12);
            pass = true;
            berth.runtime().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(id).build());
        } catch (StatusRuntimeException e) {
            pass = proper(e.getStatus().getCode());
            created = (pass ? "refused " : "BAD: ") + e.getStatus().getCode() + ": " + cut(e.getStatus().getDescription());
        }
        row(name, "CreateContainer fails cleanly within seconds", String.format("%s (%d ms)", created, (System.nanoTime() - t) / 1_000_000), pass);
    }

    /** security.capability with a byte above 0x7F must be on the unpacked file exactly as in the layer. */
    void xattrRoundTrip() throws Exception {
        String ref = push("xattr", HostileLayers.gzip(new HostileLayers.Tar()
                .pax(HostileLayers.records("SCHILY.xattr.security.capability", CAPABILITY))
                .file("capped", bytes("#!/bin/sh\n"), 0755).end().bytes()));
        String outcome = pull(ref);
        String name = "security.capability xattr with bytes > 0x7F";
        if (!outcome.startsWith("pulled")) {
            row(name, "round-trips exactly", outcome, false);
            return;
        }
        byte[] buf = new byte[256];
        long n = Libc.c().lgetxattr(layerDirs(ref).get(0).resolve("capped").toString(), "security.capability", buf, buf.length);
        String got = n < 0 ? "none (" + Libc.strerror(Libc.errno()) + ")" : HexFormat.of().formatHex(buf, 0, (int) n);
        String want = HexFormat.of().formatHex(CAPABILITY);
        row(name, "round-trips exactly", outcome + ", xattr " + got + (got.equals(want) ? "" : " BAD: want " + want), got.equals(want));
    }

    /** 128 layers: the overlay's options no longer fit a page with long layer paths; the container must still run. */
    void manyLayers(TestLayer.Built busybox, String pod) throws Exception {
        List<TestLayer.Built> layers = new ArrayList<>(List.of(busybox));
        for (int i = 1; i < 128; i++) {
            layers.add(built(HostileLayers.gzip(new HostileLayers.Tar().file("f" + i, bytes("layer " + i + "\n"), 0644).end().bytes())));
        }
        String ref = pushImage("many-layers", "", layers);
        String outcome = pull(ref);
        String name = "128 tiny layers";
        if (!outcome.startsWith("pulled")) {
            row(name, "runs", outcome, false);
            return;
        }
        try {
            var rt = berth.runtime().withDeadlineAfter(60, TimeUnit.SECONDS);
            String id = rt.createContainer(CreateContainerRequest.newBuilder().setPodSandboxId(pod)
                    .setConfig(container("many", ref)).setSandboxConfig(pod("hostile")).build()).getContainerId();
            berth.runtime().withDeadlineAfter(60, TimeUnit.SECONDS).startContainer(StartContainerRequest.newBuilder().setContainerId(id).build());
            ExecSyncResponse r = berth.runtime().withDeadlineAfter(60, TimeUnit.SECONDS).execSync(ExecSyncRequest.newBuilder()
                    .setContainerId(id).addCmd("cat").addCmd("/f1").addCmd("/f127").setTimeout(30).build());
            String out = r.getStdout().toStringUtf8();
            boolean pass = r.getExitCode() == 0 && out.equals("layer 1\nlayer 127\n");
            row(name, "runs", outcome + ", the container reads /f1 and /f127: " + out.strip().replace('\n', ',')
                    + (pass ? "" : " BAD: exit " + r.getExitCode() + " " + r.getStderr().toStringUtf8()), pass);
            berth.runtime().withDeadlineAfter(60, TimeUnit.SECONDS).removeContainer(RemoveContainerRequest.newBuilder().setContainerId(id).build());
        } catch (StatusRuntimeException e) {
            row(name, "runs", outcome + ", BAD: the container: " + e.getStatus().getCode() + ": " + cut(e.getStatus().getDescription()), false);
        }
    }

    // ---------------------------------------------------------------- checks after the cases

    /** Per case: no partial download and no half-unpacked layer in the store. */
    void partialsLeft(String name) throws IOException {
        Path images = berth.root().resolve("images");
        List<String> left = new ArrayList<>();
        Path ingest = images.resolve("content/ingest");
        if (Files.isDirectory(ingest)) {
            try (Stream<Path> s = Files.list(ingest)) {
                s.forEach(p -> left.add(images.relativize(p).toString()));
            }
        }
        Path layers = images.resolve("layers");
        if (Files.isDirectory(layers)) {
            try (Stream<Path> s = Files.walk(layers, 2)) {
                s.filter(p -> p.getFileName().toString().startsWith(".")).forEach(p -> left.add(images.relativize(p).toString()));
            }
        }
        if (!left.isEmpty()) {
            problems.add(name + ": partial content left in the store: " + left);
            System.out.println("RELIABILITY e: " + name + ": partial content left: " + left);
        }
    }

    void leftovers() throws IOException {
        partialsLeft("at the end");
        List<String> mounts = OwnNetworkDaemon.mountsUnder(berth.runRoot().resolve("rootfs"));
        if (!mounts.isEmpty()) {
            problems.add("root filesystems still mounted: " + mounts);
        }
    }

    // ---------------------------------------------------------------- pushing and pulling

    String pull(String ref) {
        long t = System.nanoTime();
        try {
            String id = berth.images().withDeadlineAfter(300, TimeUnit.SECONDS).pullImage(PullImageRequest.newBuilder()
                    .setImage(ImageSpec.newBuilder().setImage(ref)).build()).getImageRef();
            return String.format("pulled %s (%d ms)", id.substring(0, Math.min(19, id.length())), (System.nanoTime() - t) / 1_000_000);
        } catch (StatusRuntimeException e) {
            Status.Code code = e.getStatus().getCode();
            String description = e.getStatus().getDescription();
            boolean clean = proper(code) && description != null && !description.isBlank();
            return String.format("%s%s: %s (%d ms)", clean ? "refused " : "BAD: ", code, cut(description), (System.nanoTime() - t) / 1_000_000);
        }
    }

    static boolean proper(Status.Code code) {
        return code != Status.Code.INTERNAL && code != Status.Code.UNKNOWN && code != Status.Code.DEADLINE_EXCEEDED
                && code != Status.Code.UNAVAILABLE && code != Status.Code.OK;
    }

    String push(String repo, HostileLayers.Blob... layers) throws IOException, InterruptedException {
        return pushImage(repo, "", Arrays.stream(layers).map(HostileImagesReliabilityTest::built).toList());
    }

    String pushImage(String repo, String user, List<TestLayer.Built> layers) throws IOException, InterruptedException {
        TestImage.of(layers.toArray(TestLayer.Built[]::new)).user(user).push(registry.pusher(), "hostile/" + repo, "1");
        return registry.host() + "/hostile/" + repo + ":1";
    }

    static TestLayer.Built built(HostileLayers.Blob b) {
        return new TestLayer.Built(b.blob(), b.digest(), b.diffId(), TestLayer.Compression.GZIP.mediaType);
    }

    /** An image whose config blob is 100 MB (a valid config with a huge label). */
    String pushHugeConfig() throws IOException, InterruptedException {
        HostileLayers.Blob layer = HostileLayers.gzip(new HostileLayers.Tar().file("x", bytes("x"), 0644).end().bytes());
        StringBuilder config = new StringBuilder("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Labels\":{\"pad\":\"");
        config.append("a".repeat(100 << 20));
        config.append("\"}},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"").append(layer.diffId()).append("\"]}}");
        byte[] configBytes = config.toString().getBytes(StandardCharsets.US_ASCII);
        Pusher p = registry.pusher();
        String configDigest = p.blob("hostile/config", configBytes);
        p.blob("hostile/config", layer.blob());
        byte[] manifest = bytes("{\"schemaVersion\":2,\"mediaType\":\"" + TestImage.OCI_MANIFEST + "\",\"config\":{\"mediaType\":"
                + "\"application/vnd.oci.image.config.v1+json\",\"digest\":\"" + configDigest + "\",\"size\":" + configBytes.length
                + "},\"layers\":[{\"mediaType\":\"" + TestLayer.Compression.GZIP.mediaType + "\",\"digest\":\"" + layer.digest()
                + "\",\"size\":" + layer.blob().length + "}]}");
        p.manifest("hostile/config", "1", TestImage.OCI_MANIFEST, manifest);
        return registry.host() + "/hostile/config:1";
    }

    int hugeManifestPort;

    /** A registry endpoint of the test's own that answers a manifest request with 100 MB of manifest JSON, written as it goes. */
    HttpServer hugeManifestServer() throws IOException {
        HttpServer s = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        s.createContext("/v2/", exchange -> {
            String path = exchange.getRequestURI().getPath();
            if (!path.contains("/manifests/")) {
                exchange.getResponseHeaders().add("Docker-Distribution-API-Version", "registry/2.0");
                exchange.sendResponseHeaders(200, -1);
                exchange.close();
                return;
            }
            byte[] head = bytes("{\"schemaVersion\":2,\"mediaType\":\"" + TestImage.OCI_MANIFEST + "\",\"annotations\":{\"pad\":\"");
            byte[] tail = bytes("\"},\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:"
                    + "0".repeat(64) + "\",\"size\":2},\"layers\":[]}");
            long pad = 100L << 20;
            exchange.getResponseHeaders().add("Content-Type", TestImage.OCI_MANIFEST);
            exchange.getResponseHeaders().add("Docker-Content-Digest", "sha256:" + "1".repeat(64));
            boolean head_ = exchange.getRequestMethod().equals("HEAD");
            exchange.sendResponseHeaders(200, head_ ? -1 : head.length + pad + tail.length);
            if (!head_) {
                try (OutputStream out = exchange.getResponseBody()) {
                    out.write(head);
                    byte[] a = new byte[1 << 20];
                    Arrays.fill(a, (byte) 'a');
                    for (long i = 0; i < pad >> 20; i++) {
                        out.write(a);
                    }
                    out.write(tail);
                } catch (IOException e) {
                    // berth hung up once it had read enough
                }
            }
            exchange.close();
        });
        s.start();
        hugeManifestPort = s.getAddress().getPort();
        return s;
    }

    /** The unpacked layer directories of a pulled image, from its verbose status. */
    List<Path> layerDirs(String ref) throws IOException {
        JsonNode info = new ObjectMapper().readTree(berth.images().imageStatus(ImageStatusRequest.newBuilder()
                .setImage(ImageSpec.newBuilder().setImage(ref)).setVerbose(true).build()).getInfoOrThrow("info"));
        List<Path> out = new ArrayList<>();
        info.path("layers").forEach(l -> out.add(Path.of(l.path("path").asText())));
        return out;
    }

    static int asNobody(String... cmd) throws IOException, InterruptedException {
        List<String> c = new ArrayList<>(List.of("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"));
        c.addAll(List.of(cmd));
        Process p = new ProcessBuilder(c).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        if (!p.waitFor(10, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            return 0; // it blocked reading a device: it could open it
        }
        return p.exitValue();
    }

    void row(String name, String expected, String outcome, boolean pass) {
        long heap = memory.takeWindowPeakHeapBytes();
        table.add(new String[] {name, expected, outcome, (heap >> 20) + " MB", pass ? "pass" : "FAIL"});
        if (!pass) {
            problems.add(name + ": " + outcome);
        }
        System.out.println("RELIABILITY e: " + name + " -> " + outcome + "; peak heap " + (heap >> 20) + " MB");
    }

    PodSandboxConfig.Builder pod(String name) {
        return PodSandboxConfig.newBuilder()
                .setMetadata(PodSandboxMetadata.newBuilder().setName(name).setNamespace("hostile").setUid("uid-" + name))
                .setHostname(name)
                .setLogDirectory(dir.resolve("logs").toString())
                .setLinux(LinuxPodSandboxConfig.newBuilder().setSecurityContext(LinuxSandboxSecurityContext.newBuilder()
                        .setNamespaceOptions(NamespaceOption.newBuilder().setPid(NamespaceMode.POD))));
    }

    static ContainerConfig container(String name, String image) {
        return ContainerConfig.newBuilder()
                .setMetadata(ContainerMetadata.newBuilder().setName(name))
                .setImage(ImageSpec.newBuilder().setImage(image))
                .addCommand("sh").addArgs("-c").addArgs("trap 'exit 0' TERM; while true; do sleep 1; done")
                .setLogPath(name + "/0.log")
                .build();
    }

    static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static String cut(String s) {
        return s == null ? "(no message)" : s.length() > 160 ? s.substring(0, 160) + "..." : s;
    }
}
