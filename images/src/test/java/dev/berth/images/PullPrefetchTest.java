package dev.berth.images;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.berth.images.registry.CredentialStore;
import dev.berth.images.registry.Credentials;
import dev.berth.images.registry.Platform;
import dev.berth.images.registry.RegistryClient;
import dev.berth.images.registry.RegistryHosts;
import dev.berth.images.store.ImageRecord;
import dev.berth.images.testing.Pusher;
import dev.berth.images.testing.TestImage;
import dev.berth.images.testing.TestLayer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A pull downloads its layers while it fetches the config, and never downloads a layer blob
 * whose unpacked layer is still in the store. Served by an in-memory registry on loopback;
 * as root (unpacking sets owners).
 */
@Tag("root")
class PullPrefetchTest {
    @TempDir
    Path root;
    HttpServer server;
    final ExecutorService executor = Executors.newCachedThreadPool();
    final List<String> requests = new CopyOnWriteArrayList<>();
    /** Counted down when a layer blob is asked for; the config's answer waits for it (up to a few seconds). */
    final CountDownLatch layerAsked = new CountDownLatch(1);
    volatile boolean configWaitsForLayer;
    volatile boolean layerRequestedWhileConfigOutstanding;
    byte[] manifest;
    byte[] config;
    TestLayer.Built layer;
    ImageService images;

    @BeforeEach
    void start() throws IOException {
        layer = TestLayer.create().file("etc/hello", "hello").build(TestLayer.Compression.GZIP);
        TestImage image = TestImage.of(layer);
        config = image.config();
        manifest = ("{\"schemaVersion\":2,\"mediaType\":\"" + TestImage.OCI_MANIFEST + "\",\"config\":{\"mediaType\":"
                + "\"application/vnd.oci.image.config.v1+json\",\"digest\":\"" + Pusher.sha256(config) + "\",\"size\":" + config.length
                + "},\"layers\":[{\"mediaType\":\"" + layer.mediaType() + "\",\"digest\":\"" + layer.digest() + "\",\"size\":"
                + layer.blob().length + "}]}").getBytes(StandardCharsets.UTF_8);
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 50);
        server.setExecutor(executor);
        server.createContext("/v2/", this::answer);
        server.start();
        images = new ImageService(root, new ImageService.Settings(Duration.ofMinutes(1), 3, Set.of(),
                new RegistryClient.Settings(Duration.ofSeconds(10), 1, Duration.ofMillis(10), new Platform("linux", "amd64", ""))),
                new RegistryHosts(Duration.ofSeconds(5)), CredentialStore.none());
    }

    @AfterEach
    void stop() {
        if (images != null) {
            images.close();
        }
        server.stop(0);
        executor.shutdownNow();
    }

    private void answer(HttpExchange ex) throws IOException {
        try (ex) {
            String path = ex.getRequestURI().getPath();
            requests.add(path);
            byte[] body;
            String type = "application/octet-stream";
            if (path.endsWith("/manifests/1")) {
                body = manifest;
                type = TestImage.OCI_MANIFEST;
            } else if (path.endsWith("/blobs/" + Pusher.sha256(config))) {
                if (configWaitsForLayer) {
                    layerRequestedWhileConfigOutstanding = layerAsked.await(5, TimeUnit.SECONDS);
                }
                body = config;
            } else if (path.endsWith("/blobs/" + layer.digest())) {
                layerAsked.countDown();
                body = layer.blob();
            } else {
                ex.sendResponseHeaders(404, -1);
                return;
            }
            ex.getResponseHeaders().set("Content-Type", type);
            ex.sendResponseHeaders(200, body.length);
            try (OutputStream out = ex.getResponseBody()) {
                out.write(body);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private String ref() {
        return "127.0.0.1:" + server.getAddress().getPort() + "/test/app:1";
    }

    private long layerRequests() {
        return requests.stream().filter(p -> p.endsWith("/blobs/" + layer.digest())).count();
    }

    @Test
    void theLayerIsDownloadedWhileTheConfigIsFetched() throws Exception {
        configWaitsForLayer = true;
        ImageRecord r = images.pull(ref(), Credentials.NONE, Map.of());
        assertTrue(layerRequestedWhileConfigOutstanding, "the layer blob was asked for before the config's answer came: " + requests);
        assertEquals(1, layerRequests(), "one download of the layer");
        assertTrue(images.layers().has(r.chainIds().get(0)));
        ImagePullTest.assertConsistent(images);
    }

    @Test
    void aLayerAContainerStillHoldsIsNotDownloadedAgain() throws Exception {
        ImageRecord r = images.pull(ref(), Credentials.NONE, Map.of());
        images.hold("ctr-1", r.id());
        images.remove(r.id().toString());
        assertTrue(images.layers().has(r.chainIds().get(0)), "held: kept");
        assertTrue(!images.content().has(r.layerBlobs().get(0)), "its blob went with the image");
        requests.clear();

        images.pull(ref(), Credentials.NONE, Map.of());
        assertEquals(0, layerRequests(), "the layer is unpacked already: its blob is not downloaded again: " + requests);
        assertEquals(0, images.content().ingestCount());
        images.release("ctr-1");
    }

    @Test
    void aFailedConfigLeavesNoLayerBehind() throws Exception {
        config = "{\"rootfs\":{\"diff_ids\":[]}}".getBytes(StandardCharsets.UTF_8); // does not match the manifest's digest
        try {
            images.pull(ref(), Credentials.NONE, Map.of());
        } catch (RuntimeException expected) {
            // the config's digest differs
        }
        assertEquals(Set.of(), images.content().list(), "no blob of the failed pull remains");
        assertEquals(Set.of(), images.layers().list());
        assertEquals(0, images.content().ingestCount());
    }
}
