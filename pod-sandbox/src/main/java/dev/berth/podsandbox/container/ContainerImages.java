package dev.berth.podsandbox.container;

import com.fasterxml.jackson.databind.JsonNode;
import dev.berth.images.ImageService;
import dev.berth.images.reference.Digest;
import dev.berth.images.store.ImageRecord;
import dev.berth.podsandbox.container.spec.ImageConfig;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * What containers need of the image store: an image by name, its config, its layers for the
 * root filesystem, and a hold that keeps those layers while a container uses them.
 */
public interface ContainerImages {
    /** @throws dev.berth.common.BerthException NOT_FOUND for an unknown image */
    ImageRecord require(String ref);

    /** The image by name, digest or id, if the store has it. */
    Optional<ImageRecord> find(String ref);

    /** The parts of the image's config a container is built from. */
    ImageConfig config(ImageRecord image);

    /** The overlayfs lower directories of the image, top layer first. */
    List<Path> lowerDirs(Digest imageId);

    /** Keeps the image's layers for the container until {@link #release}. */
    void hold(String containerId, Digest imageId);

    /** Drops the container's hold (idempotent). */
    void release(String containerId);

    /** The containers that hold an image now (holds outlive restarts). */
    Set<String> holders();

    /** The images of {@code images}. */
    static ContainerImages of(ImageService images) {
        return new ContainerImages() {
            @Override
            public ImageRecord require(String ref) {
                return images.require(ref);
            }

            @Override
            public Optional<ImageRecord> find(String ref) {
                return images.find(ref);
            }

            @Override
            public ImageConfig config(ImageRecord image) {
                return imageConfig(images.config(image));
            }

            @Override
            public List<Path> lowerDirs(Digest imageId) {
                return images.lowerDirs(imageId);
            }

            @Override
            public void hold(String containerId, Digest imageId) {
                images.hold(containerId, imageId);
            }

            @Override
            public void release(String containerId) {
                images.release(containerId);
            }

            @Override
            public Set<String> holders() {
                return images.holders();
            }
        };
    }

    /** The parts of an OCI image config (the stored JSON) a container is built from. */
    static ImageConfig imageConfig(JsonNode imageJson) {
        JsonNode c = imageJson.path("config");
        return new ImageConfig(strings(c.path("Entrypoint")), strings(c.path("Cmd")), strings(c.path("Env")),
                c.path("WorkingDir").asText(""), c.path("User").asText(""), c.path("StopSignal").asText(""));
    }

    private static List<String> strings(JsonNode n) {
        List<String> out = new ArrayList<>();
        if (n.isArray()) {
            n.forEach(v -> out.add(v.asText()));
        }
        return out;
    }
}
