package dev.berth.images;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.berth.common.BerthException;
import dev.berth.images.content.ContentStore;
import dev.berth.images.content.Descriptor;
import dev.berth.images.layer.LayerStore;
import dev.berth.images.reference.Digest;
import dev.berth.images.registry.MediaTypes;
import dev.berth.images.store.ImageRecord;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The diff_ids and the record that pull and import both build from a stored config (no registry, no root). */
class NewImageTest {
    @TempDir
    Path tmp;

    private static final Digest D1 = Digest.sha256("one".getBytes(StandardCharsets.UTF_8));
    private static final Digest D2 = Digest.sha256("two".getBytes(StandardCharsets.UTF_8));

    private Descriptor storeConfig(ContentStore content, String json) {
        byte[] bytes = json.getBytes(StandardCharsets.UTF_8);
        Descriptor d = Descriptor.of(MediaTypes.OCI_CONFIG, Digest.sha256(bytes), bytes.length);
        content.put(d, bytes);
        return d;
    }

    @Test
    void diffIdsChainIdsAndTheRecordComeFromTheConfig() {
        ContentStore content = new ContentStore(tmp.resolve("content"));
        Descriptor config = storeConfig(content, "{\"config\":{\"User\":\"1000:1000\"},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\""
                + D1 + "\",\"" + D2 + "\"]}}");
        NewImage image = NewImage.fromStoredConfig(content, config, 2, () -> BerthException.internal("not expected", null),
                (a, b) -> BerthException.internal("not expected", null));
        assertEquals(List.of(D1, D2), image.diffIds());
        assertEquals(LayerStore.chainIds(List.of(D1, D2)), image.chainIds());

        Descriptor l1 = Descriptor.of(MediaTypes.OCI_LAYER_GZIP, Digest.sha256(new byte[] {1}), 100);
        Descriptor l2 = Descriptor.of(MediaTypes.OCI_LAYER_GZIP, Digest.sha256(new byte[] {2}), 200);
        Digest manifest = Digest.sha256(new byte[] {3});
        ImageRecord r = image.record(List.of("docker.io/library/app:v1"), List.of(), manifest, 50, MediaTypes.OCI_MANIFEST, null,
                List.of(l1, l2), null);
        assertEquals(config.digest(), r.id());
        assertEquals(config.size() + 50 + 100 + 200, r.size(), "config, manifest and layer blobs");
        assertEquals(List.of(l1.digest(), l2.digest()), r.layerBlobs());
        assertEquals(image.chainIds(), r.chainIds());
        assertEquals("1000:1000", r.user());
        assertEquals(1000L, r.uid());
        assertEquals(Map.of(), r.annotations());
        assertNull(r.indexDigest());
    }

    @Test
    void theCallerDecidesTheErrorsForBadJsonAndALayerCountMismatch() {
        ContentStore content = new ContentStore(tmp.resolve("content"));
        BerthException mismatch = BerthException.invalidArgument("mismatch");
        Descriptor config = storeConfig(content, "{\"rootfs\":{\"diff_ids\":[\"" + D1 + "\"]}}");
        int[] seen = new int[2];
        BerthException thrown = assertThrows(BerthException.class, () -> NewImage.fromStoredConfig(content, config, 3,
                () -> BerthException.internal("not expected", null), (diffIds, layers) -> {
                    seen[0] = diffIds;
                    seen[1] = layers;
                    return mismatch;
                }));
        assertSame(mismatch, thrown);
        assertEquals(1, seen[0]);
        assertEquals(3, seen[1]);

        BerthException invalid = BerthException.failedPrecondition("not json");
        Descriptor broken = storeConfig(content, "{not json");
        assertSame(invalid, assertThrows(BerthException.class, () -> NewImage.fromStoredConfig(content, broken, 0,
                () -> invalid, (a, b) -> mismatch)));
    }
}
