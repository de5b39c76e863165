package dev.berth.images.archive;

import com.fasterxml.jackson.databind.JsonNode;
import dev.berth.common.BerthException;
import dev.berth.common.Json;
import dev.berth.images.ImageService;
import dev.berth.images.LocalLayer;
import dev.berth.images.content.Descriptor;
import dev.berth.common.Trees;
import dev.berth.images.reference.Digest;
import dev.berth.images.reference.Reference;
import dev.berth.images.registry.MediaTypes;
import dev.berth.images.registry.Platform;
import dev.berth.images.store.ImageRecord;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.zip.GZIPInputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;

/**
 * Offline import: loads an OCI image layout (a directory, or a tar of one) or a
 * {@code docker save} archive (tar, optionally gzipped) into the image store under the tags it
 * names, so berth can run images on a machine with no registry in reach.
 */
public final class ImageArchive {
    private static final String REF_NAME = "org.opencontainers.image.ref.name";
    private static final String CONTAINERD_NAME = "io.containerd.image.name";

    private ImageArchive() {
    }

    /** Imports every image of {@code file}; returns their records. */
    public static List<ImageRecord> importFile(ImageService images, Path file, Platform platform) {
        if (!Files.exists(file)) {
            throw BerthException.notFound("no such file: %s", file);
        }
        if (Files.isDirectory(file)) {
            return importDirectory(images, file, platform);
        }
        Path tmp = images.root().resolve(".import-" + Long.toHexString(ThreadLocalRandom.current().nextLong()));
        try {
            Files.createDirectories(tmp);
            extract(file, tmp);
            return importDirectory(images, tmp, platform);
        } catch (IOException e) {
            throw BerthException.invalidArgument("cannot read image archive %s: %s", file, e.getMessage());
        } finally {
            try {
                Trees.deleteRecursively(tmp);
            } catch (IOException e) {
                // best effort
            }
        }
    }

    /** Extracts the regular files of a (possibly gzipped) tar, refusing names that leave {@code dir}. */
    static void extract(Path file, Path dir) throws IOException {
        try (InputStream raw = new BufferedInputStream(Files.newInputStream(file), 64 * 1024)) {
            raw.mark(2);
            int b0 = raw.read();
            int b1 = raw.read();
            raw.reset();
            InputStream in = b0 == 0x1f && b1 == 0x8b ? new GZIPInputStream(raw, 64 * 1024) : raw;
            TarArchiveInputStream tar = new TarArchiveInputStream(in, StandardCharsets.UTF_8.name());
            TarArchiveEntry e;
            while ((e = tar.getNextEntry()) != null) {
                if (!e.isFile()) {
                    continue; // directories are implied; links are not needed by either format
                }
                Path p = safe(dir, e.getName());
                Path cur = dir;
                Path rel = dir.relativize(p);
                for (int i = 0; i < rel.getNameCount() - 1; i++) {
                    cur = cur.resolve(rel.getName(i));
                    if (Files.isSymbolicLink(cur)) {
                        throw BerthException.invalidArgument("image archive entry %s is below a symbolic link", e.getName());
                    }
                    Files.createDirectories(cur);
                }
                try (OutputStream out = Files.newOutputStream(p, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                        StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS)) {
                    tar.transferTo(out);
                }
            }
        }
    }

    private static Path safe(Path dir, String name) {
        if (name.startsWith("/")) {
            throw BerthException.invalidArgument("image archive entry %s has an absolute path", name);
        }
        Path p = dir;
        for (String c : name.split("/")) {
            if (c.isEmpty() || c.equals(".")) {
                continue;
            }
            if (c.equals("..")) {
                throw BerthException.invalidArgument("image archive entry %s leaves the archive", name);
            }
            p = p.resolve(c);
        }
        return p;
    }

    private static List<ImageRecord> importDirectory(ImageService images, Path dir, Platform platform) {
        if (Files.isRegularFile(dir.resolve("manifest.json")) && !Files.isRegularFile(dir.resolve("oci-layout"))) {
            return importDockerSave(images, dir);
        }
        if (Files.isRegularFile(dir.resolve("index.json"))) {
            return importLayout(images, dir, platform);
        }
        throw BerthException.invalidArgument("%s is neither an OCI image layout (index.json) nor a docker save archive (manifest.json)", dir);
    }

    /** index.json, manifest.json, manifests and indexes of an archive are read whole: at most this many bytes. */
    static final int MAX_JSON = 4 << 20;

    /** A small file read whole, refused when larger than {@link #MAX_JSON}. */
    private static byte[] readSmall(Path p) throws IOException {
        try (InputStream in = Files.newInputStream(p, LinkOption.NOFOLLOW_LINKS)) {
            byte[] b = in.readNBytes(MAX_JSON);
            if (b.length == MAX_JSON && in.read() >= 0) {
                throw BerthException.invalidArgument("%s is larger than %d bytes", p.getFileName(), MAX_JSON);
            }
            return b;
        }
    }

    private static JsonNode readJson(Path p) {
        try {
            return Json.mapper().readTree(readSmall(p));
        } catch (IOException e) {
            throw BerthException.invalidArgument("cannot read %s: %s", p.getFileName(), e.getMessage());
        }
    }

    private static Path blob(Path dir, Digest d) {
        Path p = dir.resolve("blobs").resolve(d.algorithm()).resolve(d.hex());
        if (!Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)) {
            throw BerthException.invalidArgument("OCI layout lacks blob %s", d);
        }
        return p;
    }

    private static List<ImageRecord> importLayout(ImageService images, Path dir, Platform platform) {
        List<ImageRecord> out = new ArrayList<>();
        for (JsonNode m : readJson(dir.resolve("index.json")).path("manifests")) {
            Descriptor d = Descriptor.fromJson(m, "index.json");
            List<String> tags = new ArrayList<>();
            String name = m.path("annotations").path(CONTAINERD_NAME).asText("");
            if (name.isEmpty()) {
                name = m.path("annotations").path(REF_NAME).asText("");
            }
            if (!name.isEmpty() && (name.contains("/") || name.contains(":"))) {
                Reference r = Reference.parse(name);
                if (r.tag() != null) {
                    tags.add(r.tagged());
                }
            }
            Descriptor manifestDesc = d;
            if (MediaTypes.isIndex(d.mediaType())) {
                manifestDesc = choose(readJson(blob(dir, d.digest())), platform, d.digest());
            }
            Path manifestFile = blob(dir, manifestDesc.digest());
            byte[] manifest;
            try {
                manifest = readSmall(manifestFile);
            } catch (IOException e) {
                throw BerthException.invalidArgument("cannot read manifest %s: %s", manifestDesc.digest(), e.getMessage());
            }
            if (!Digest.sha256(manifest).equals(manifestDesc.digest())) {
                throw BerthException.invalidArgument("manifest %s of the OCI layout does not match its digest", manifestDesc.digest());
            }
            JsonNode mj;
            try {
                mj = Json.mapper().readTree(manifest);
            } catch (IOException e) {
                throw BerthException.invalidArgument("manifest %s is not valid JSON", manifestDesc.digest());
            }
            Descriptor config = Descriptor.fromJson(mj.path("config"), "manifest " + manifestDesc.digest());
            List<LocalLayer> layers = new ArrayList<>();
            for (JsonNode l : mj.path("layers")) {
                Descriptor ld = Descriptor.fromJson(l, "manifest " + manifestDesc.digest());
                layers.add(new LocalLayer(ld, blob(dir, ld.digest())));
            }
            String mt = mj.path("mediaType").asText(MediaTypes.OCI_MANIFEST);
            out.add(images.importImage(manifest, mt, config, blob(dir, config.digest()), layers, tags));
        }
        return out;
    }

    private static Descriptor choose(JsonNode index, Platform platform, Digest where) {
        Descriptor best = null;
        int bestScore = -1;
        for (JsonNode m : index.path("manifests")) {
            int score = platform.score(Platform.fromJson(m.path("platform")));
            if (score > bestScore && MediaTypes.isManifest(m.path("mediaType").asText(MediaTypes.OCI_MANIFEST))) {
                best = Descriptor.fromJson(m, "index " + where);
                bestScore = score;
            }
        }
        if (best == null) {
            throw BerthException.notFound("index %s has no manifest for platform %s", where, platform);
        }
        return best;
    }

    private static List<ImageRecord> importDockerSave(ImageService images, Path dir) {
        List<ImageRecord> out = new ArrayList<>();
        for (JsonNode entry : readJson(dir.resolve("manifest.json"))) {
            Path configFile = safe(dir, entry.path("Config").asText(""));
            Descriptor config = describe(configFile, MediaTypes.OCI_CONFIG);
            List<LocalLayer> layers = new ArrayList<>();
            StringBuilder ls = new StringBuilder();
            for (JsonNode l : entry.path("Layers")) {
                Path f = safe(dir, l.asText());
                Descriptor d = describe(f, isGzip(f) ? MediaTypes.OCI_LAYER_GZIP : MediaTypes.OCI_LAYER);
                layers.add(new LocalLayer(d, f));
                ls.append(ls.length() == 0 ? "" : ",").append("{\"mediaType\":\"").append(d.mediaType()).append("\",\"digest\":\"")
                        .append(d.digest()).append("\",\"size\":").append(d.size()).append('}');
            }
            List<String> tags = new ArrayList<>();
            for (JsonNode t : entry.path("RepoTags")) {
                Reference r = Reference.parse(t.asText());
                if (r.tag() != null) {
                    tags.add(r.tagged());
                }
            }
            byte[] manifest = ("{\"schemaVersion\":2,\"mediaType\":\"" + MediaTypes.OCI_MANIFEST + "\",\"config\":{\"mediaType\":\""
                    + MediaTypes.OCI_CONFIG + "\",\"digest\":\"" + config.digest() + "\",\"size\":" + config.size() + "},\"layers\":[" + ls + "]}")
                    .getBytes(StandardCharsets.UTF_8);
            out.add(images.importImage(manifest, MediaTypes.OCI_MANIFEST, config, configFile, layers, tags));
        }
        return out;
    }

    private static boolean isGzip(Path f) {
        try (InputStream in = Files.newInputStream(f)) {
            return in.read() == 0x1f && in.read() == 0x8b;
        } catch (IOException e) {
            throw BerthException.invalidArgument("cannot read %s: %s", f.getFileName(), e.getMessage());
        }
    }

    private static Descriptor describe(Path f, String mediaType) {
        if (!Files.isRegularFile(f, LinkOption.NOFOLLOW_LINKS)) {
            throw BerthException.invalidArgument("docker save archive lacks %s", f.getFileName());
        }
        MessageDigest h = Digest.newSha256();
        long size = 0;
        try (InputStream in = Files.newInputStream(f)) {
            byte[] buf = new byte[128 * 1024];
            int n;
            while ((n = in.read(buf)) > 0) {
                h.update(buf, 0, n);
                size += n;
            }
        } catch (IOException e) {
            throw BerthException.invalidArgument("cannot read %s: %s", f.getFileName(), e.getMessage());
        }
        return Descriptor.of(mediaType, new Digest("sha256", java.util.HexFormat.of().formatHex(h.digest())), size);
    }
}
