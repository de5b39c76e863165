package dev.berth.images;

import dev.berth.common.PrivateFiles;
import dev.berth.common.AtomicFiles;
import dev.berth.common.BerthException;
import dev.berth.common.Json;
import dev.berth.images.reference.Digest;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/** Holds that containers take on an image's layers, one file per container under {@code <root>/<id>.json}, so they survive restarts. */
final class ImageHolds {
    record Hold(String containerId, Digest imageId, List<Digest> chainIds) {
    }

    private static final Pattern ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.-]{0,127}");
    private final Path root;
    private final Map<String, Hold> holds = new HashMap<>();

    ImageHolds(Path root) {
        this.root = root;
        try {
            PrivateFiles.directory(root);
            AtomicFiles.sweepTemporaries(root); // holds whose write a kill cut short
            try (DirectoryStream<Path> ds = Files.newDirectoryStream(root, "*.json")) {
                for (Path p : ds) {
                    Hold h = Json.mapper().readValue(p.toFile(), Hold.class);
                    holds.put(h.containerId(), h);
                }
            }
        } catch (IOException e) {
            throw BerthException.failedPrecondition("cannot read image holds in %s: %s", root, e.getMessage());
        }
    }

    static void checkId(String containerId) {
        if (containerId == null || !ID.matcher(containerId).matches()) {
            throw BerthException.invalidArgument("invalid container id \"%s\" for an image hold", containerId);
        }
    }

    synchronized void put(Hold h) {
        try {
            AtomicFiles.writeString(root.resolve(h.containerId() + ".json"), Json.write(h));
        } catch (IOException e) {
            throw BerthException.fromIo("cannot record image hold of " + h.containerId(), root, e);
        }
        holds.put(h.containerId(), h);
    }

    synchronized Hold remove(String containerId) {
        Hold h = holds.remove(containerId);
        try {
            Files.deleteIfExists(root.resolve(containerId + ".json"));
        } catch (IOException e) {
            throw BerthException.internal("cannot remove image hold of " + containerId, e);
        }
        return h;
    }

    synchronized Set<Digest> heldChainIds() {
        Set<Digest> out = new HashSet<>();
        holds.values().forEach(h -> out.addAll(h.chainIds()));
        return out;
    }

    synchronized Map<String, Hold> all() {
        return Map.copyOf(holds);
    }
}
