package dev.berth.images;

import com.fasterxml.jackson.databind.JsonNode;
import dev.berth.common.BerthException;
import dev.berth.common.Json;
import dev.berth.images.content.ContentStore;
import dev.berth.images.content.Descriptor;
import dev.berth.images.layer.LayerStore;
import dev.berth.images.reference.Digest;
import dev.berth.images.store.ImageRecord;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.BiFunction;
import java.util.function.Supplier;

/**
 * What a pull and an import both derive from an image's stored config and its manifest: the
 * layers' diff_ids and chain ids, and then the image record. The callers differ only in the
 * errors they report (a registry's image is a failed precondition, a local archive an invalid
 * argument) and in the references the record gets.
 *
 * @param config the config as stored
 * @param diffIds the config's {@code rootfs.diff_ids}, bottom first
 * @param chainIds the layer store's keys of those layers
 */
record NewImage(Descriptor configDescriptor, JsonNode config, List<Digest> diffIds, List<Digest> chainIds) {
    /**
     * The largest image config accepted (other runtimes take 8 MiB too): a config is read into
     * memory whole, so its size, which the manifest chooses, is checked before it is fetched.
     */
    static final int MAX_CONFIG_BYTES = 8 << 20;

    /** Refuses a config larger than {@link #MAX_CONFIG_BYTES} by its descriptor, before anything is fetched. */
    static void checkConfigSize(Descriptor configDescriptor, java.util.function.Function<String, BerthException> error) {
        if (configDescriptor.size() > MAX_CONFIG_BYTES) {
            throw error.apply("its config " + configDescriptor.digest() + " is " + configDescriptor.size() + " bytes, more than the "
                    + MAX_CONFIG_BYTES + " accepted");
        }
    }

    /**
     * Reads the stored config of {@code configDescriptor} and its diff_ids, which must be as many
     * as the manifest's {@code layerCount} layers.
     * @param invalidJson the error when the config is no JSON
     * @param layerMismatch the error for (diff_ids, layers) that differ in number
     */
    static NewImage fromStoredConfig(ContentStore content, Descriptor configDescriptor, int layerCount,
            Supplier<BerthException> invalidJson, BiFunction<Integer, Integer, BerthException> layerMismatch) {
        JsonNode config;
        try {
            config = Json.mapper().readTree(content.read(configDescriptor.digest(), MAX_CONFIG_BYTES));
        } catch (IOException e) {
            throw invalidJson.get();
        }
        List<Digest> diffIds = new ArrayList<>();
        for (JsonNode d : config.path("rootfs").path("diff_ids")) {
            diffIds.add(Digest.parse(d.asText()));
        }
        if (diffIds.size() != layerCount) {
            throw layerMismatch.apply(diffIds.size(), layerCount);
        }
        return new NewImage(configDescriptor, config, List.copyOf(diffIds), LayerStore.chainIds(diffIds));
    }

    /**
     * The record of this image, created now. Its size counts the config, the manifest and the
     * layer blobs; its user comes from the config.
     */
    ImageRecord record(List<String> repoTags, List<String> repoDigests, Digest manifestDigest, long manifestSize,
            String manifestMediaType, Digest indexDigest, List<Descriptor> layerBlobs, Map<String, String> annotations) {
        String user = config.path("config").path("User").asText("");
        Object[] u = ImageRecord.parseUser(user);
        long size = configDescriptor.size() + manifestSize + layerBlobs.stream().mapToLong(Descriptor::size).sum();
        return new ImageRecord(configDescriptor.digest(), repoTags, repoDigests, size, manifestDigest, manifestMediaType, indexDigest,
                layerBlobs.stream().map(Descriptor::digest).toList(), diffIds, chainIds, user, (Long) u[0], (String) u[1],
                false, annotations == null ? Map.of() : annotations, System.currentTimeMillis());
    }
}
