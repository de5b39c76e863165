package dev.berth.images;

import dev.berth.common.BerthException;
import dev.berth.images.content.ContentStore;
import dev.berth.images.content.Descriptor;
import dev.berth.images.layer.Durability;
import dev.berth.images.layer.LayerStore;
import dev.berth.images.layer.UnpackLimits;
import dev.berth.images.reference.Digest;
import dev.berth.images.store.ImageRecord;
import dev.berth.images.store.ImageStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Imports images whose blobs are local files (an OCI layout or {@code docker save} archive):
 * every blob is verified against its digest, layers are unpacked, and the image is recorded.
 */
final class ImageImporter {
    private final Path root;
    private final ContentStore content;
    private final LayerStore layers;
    private final ImageStore images;
    private final ImageGc gc;
    private final UnpackLimits limits;

    ImageImporter(Path root, ContentStore content, LayerStore layers, ImageStore images, ImageGc gc, UnpackLimits limits) {
        this.limits = limits;
        this.root = root;
        this.content = content;
        this.layers = layers;
        this.images = images;
        this.gc = gc;
    }

    /**
     * Records the image under {@code tags}. Holds the store's file lock throughout, so a
     * daemon sharing the store does not sweep what is being added.
     */
    ImageRecord importImage(byte[] manifest, String manifestMediaType, Descriptor configDesc, Path configFile,
                            List<LocalLayer> localLayers, List<String> tags) {
        NewImage.checkConfigSize(configDesc, why -> BerthException.invalidArgument("image: %s", why));
        Descriptor manifestDesc = Descriptor.of(manifestMediaType, Digest.sha256(manifest), manifest.length);
        Set<Digest> blobs = new HashSet<>();
        blobs.add(manifestDesc.digest());
        blobs.add(configDesc.digest());
        localLayers.forEach(l -> blobs.add(l.descriptor().digest()));
        Set<Digest> chains = new HashSet<>();
        ImageRecord[] out = new ImageRecord[1];
        gc.pin(blobs, chains);
        try {
            gc.underStoreLock(() -> {
                content.put(manifestDesc, manifest);
                content.ensure(configDesc, () -> Files.newInputStream(configFile), n -> { });
                NewImage image = NewImage.fromStoredConfig(content, configDesc, localLayers.size(),
                        () -> BerthException.invalidArgument("image config %s is not valid JSON", configDesc.digest()),
                        (diffIds, archived) -> BerthException.invalidArgument("image config %s lists %d layers, the archive %d",
                                configDesc.digest(), diffIds, archived));
                // no sweep can run while the store lock is held: the chain ids need no pin
                chains.addAll(image.chainIds());
                UnpackLimits.Budget budget = limits.budget(() -> Thread.currentThread().isInterrupted());
                for (int i = 0; i < localLayers.size(); i++) {
                    LocalLayer l = localLayers.get(i);
                    Path blob = content.ensure(l.descriptor(), () -> Files.newInputStream(l.file()), n -> { });
                    layers.ensure(image.chainIds().get(i), image.diffIds().get(i), () -> Files.newInputStream(blob), budget);
                }
                ImageRecord record = image.record(tags, List.of(), manifestDesc.digest(), manifest.length, manifestMediaType, null,
                        localLayers.stream().map(LocalLayer::descriptor).toList(), Map.of());
                Durability.syncFilesystemOf(root);
                out[0] = images.put(record);
            });
        } finally {
            gc.unpin(blobs, chains);
        }
        return out[0];
    }
}
