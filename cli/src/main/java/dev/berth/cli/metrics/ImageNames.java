package dev.berth.cli.metrics;

import dev.berth.common.BerthException;
import dev.berth.images.store.ImageRecord;
import dev.berth.images.ImageService;
import java.util.function.UnaryOperator;

/**
 * The {@code image} label of a container's series: the image's first tag, as ContainerStatus
 * reports {@code image}, or the image id when the image has no tag or is gone.
 */
public final class ImageNames implements UnaryOperator<String> {
    private final ImageService images;

    public ImageNames(ImageService images) {
        this.images = images;
    }

    @Override
    public String apply(String imageId) {
        if (imageId == null || imageId.isEmpty()) {
            return "";
        }
        try {
            ImageRecord img = images.find(imageId).orElse(null);
            return img == null || img.repoTags().isEmpty() ? imageId : img.repoTags().get(0);
        } catch (BerthException e) {
            return imageId;
        }
    }
}
