package dev.berth.images;

import dev.berth.images.content.Descriptor;
import java.nio.file.Path;

/** A layer of an image being imported from a file. */
public record LocalLayer(Descriptor descriptor, Path file) {
}
