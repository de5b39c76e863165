package dev.berth.images;

import dev.berth.common.BerthException;
import dev.berth.images.reference.Digest;
import dev.berth.images.reference.Reference;
import dev.berth.images.store.ImageRecord;
import dev.berth.images.store.ImageStore;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * Which stored image a reference leads to: an id, an id prefix, a tag, a digest reference or a
 * plain name. Images tagged with a configured pinned name are reported pinned.
 */
final class ImageResolver {
    private final ImageStore images;
    private final Set<String> pinnedImages;

    ImageResolver(ImageStore images, Set<String> pinnedImages) {
        this.images = images;
        this.pinnedImages = pinnedImages;
    }

    List<ImageRecord> list() {
        List<ImageRecord> out = new ArrayList<>();
        for (ImageRecord r : images.list()) {
            out.add(withPin(r));
        }
        out.sort((a, b) -> a.id().compareTo(b.id()));
        return out;
    }

    private ImageRecord withPin(ImageRecord r) {
        if (r.pinned() || r.repoTags().stream().noneMatch(pinnedImages::contains)) {
            return r;
        }
        return r.withPinned(true);
    }

    Optional<ImageRecord> find(String ref) {
        if (ref == null || ref.isEmpty()) {
            throw BerthException.invalidArgument("image reference is empty");
        }
        return findRaw(ref).map(this::withPin);
    }

    /** Like {@link #find}, as stored (without the configured pin). */
    Optional<ImageRecord> findRaw(String ref) {
        if (ref.startsWith("sha256:") && Digest.isDigest(ref)) {
            return images.get(Digest.parse(ref));
        }
        if (ref.matches("[a-f0-9]{64}")) {
            return images.get(new Digest("sha256", ref));
        }
        Reference parsedOrNull = null;
        try {
            parsedOrNull = Reference.parse(ref);
        } catch (BerthException e) {
            if (!ref.matches("[a-f0-9]{4,63}")) {
                throw e;
            }
        }
        final Reference parsed = parsedOrNull;
        if (parsed != null) {
            if (parsed.digest() != null) {
                Optional<ImageRecord> r = images.byRepoDigest(parsed.digested());
                if (r.isPresent()) {
                    return r;
                }
                Optional<ImageRecord> byId = images.get(parsed.digest());
                if (byId.isPresent() && byId.get().repoDigests().stream().anyMatch(d -> d.startsWith(parsed.name() + "@"))) {
                    return byId;
                }
                return Optional.empty(); // a digest, when given, decides
            }
            Optional<ImageRecord> r = images.byTag(parsed.tagged());
            if (r.isPresent()) {
                return r;
            }
        }
        if (ref.matches("[a-f0-9]{4,63}")) {
            List<ImageRecord> matches = images.list().stream().filter(i -> i.id().hex().startsWith(ref)).toList();
            if (matches.size() == 1) {
                return Optional.of(matches.get(0));
            }
        }
        return Optional.empty();
    }
}
