package dev.berth.images.store;

import dev.berth.images.reference.Digest;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * What berth knows of one stored image. The id is the config digest; repo tags
 * ({@code name:tag}) and repo digests ({@code name@digest}) are the references that lead to it.
 * {@code chainIds} are its layers, bottom first. {@code uid}/{@code username} come from the
 * config's user ({@code uid} is -1 when the user is a name or absent).
 */
public record ImageRecord(
        Digest id,
        List<String> repoTags,
        List<String> repoDigests,
        long size,
        Digest manifestDigest,
        String manifestMediaType,
        Digest indexDigest,
        List<Digest> layerBlobs,
        List<Digest> diffIds,
        List<Digest> chainIds,
        String user,
        long uid,
        String username,
        boolean pinned,
        Map<String, String> annotations,
        long createdMillis) {

    public ImageRecord {
        repoTags = List.copyOf(repoTags);
        repoDigests = List.copyOf(repoDigests);
        layerBlobs = List.copyOf(layerBlobs);
        diffIds = List.copyOf(diffIds);
        chainIds = List.copyOf(chainIds);
        annotations = annotations == null ? Map.of() : Map.copyOf(annotations);
        user = user == null ? "" : user;
        username = username == null ? "" : username;
    }

    /** The blobs this image needs kept: manifest, index, config and layers. */
    public List<Digest> blobs() {
        List<Digest> out = new ArrayList<>(layerBlobs);
        out.add(id);
        out.add(manifestDigest);
        if (indexDigest != null) {
            out.add(indexDigest);
        }
        return out;
    }

    public ImageRecord withRefs(List<String> tags, List<String> digests) {
        return new ImageRecord(id, tags, digests, size, manifestDigest, manifestMediaType, indexDigest, layerBlobs, diffIds, chainIds,
                user, uid, username, pinned, annotations, createdMillis);
    }

    public ImageRecord withPinned(boolean pin) {
        return new ImageRecord(id, repoTags, repoDigests, size, manifestDigest, manifestMediaType, indexDigest, layerBlobs, diffIds, chainIds,
                user, uid, username, pin, annotations, createdMillis);
    }

    /** Splits a config user ({@code uid[:gid]} or {@code name[:group]}) into uid (or -1) and username. */
    public static Object[] parseUser(String user) {
        if (user == null || user.isEmpty()) {
            return new Object[] {-1L, ""};
        }
        String u = user.contains(":") ? user.substring(0, user.indexOf(':')) : user;
        if (u.matches("[0-9]{1,10}")) {
            return new Object[] {Long.parseLong(u), ""};
        }
        return new Object[] {-1L, u};
    }
}
