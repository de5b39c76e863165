package dev.berth.images.content;

import com.fasterxml.jackson.databind.JsonNode;
import dev.berth.common.BerthException;
import dev.berth.images.reference.Digest;
import java.util.List;

/** An OCI content descriptor: media type, digest, size, and the URLs a foreign layer may name. */
public record Descriptor(String mediaType, Digest digest, long size, List<String> urls) {
    public Descriptor {
        if (size < 0) {
            throw BerthException.invalidArgument("descriptor %s has a negative size", digest);
        }
        urls = urls == null ? List.of() : List.copyOf(urls);
    }

    public static Descriptor of(String mediaType, Digest digest, long size) {
        return new Descriptor(mediaType, digest, size, List.of());
    }

    /** Reads a descriptor object of a manifest or index; a malformed one is an invalid argument. */
    public static Descriptor fromJson(JsonNode n, String where) {
        if (!n.path("digest").isTextual() || !n.path("size").isIntegralNumber()) {
            throw BerthException.invalidArgument("%s: descriptor without a digest or size", where);
        }
        return new Descriptor(n.path("mediaType").asText(""), Digest.parse(n.path("digest").asText()), n.path("size").asLong(), List.of());
    }
}
