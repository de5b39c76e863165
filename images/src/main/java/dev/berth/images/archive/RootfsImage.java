package dev.berth.images.archive;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.berth.common.BerthException;
import dev.berth.common.Json;
import dev.berth.images.ImageService;
import dev.berth.common.Trees;
import dev.berth.images.reference.Reference;
import dev.berth.images.registry.MediaTypes;
import dev.berth.images.registry.Platform;
import dev.berth.images.store.ImageRecord;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.Stream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.commons.compress.archivers.tar.TarConstants;

/**
 * Makes a one-layer image from a directory (a root filesystem), so berth can run containers on a
 * machine with no registry in reach: the directory becomes an uncompressed tar layer (owners,
 * modes, times and symbolic links kept), a config and a manifest in a temporary OCI layout,
 * which is then imported like any other.
 */
public final class RootfsImage {
    /** What the image's config says about how to run it. */
    public record RunConfig(List<String> entrypoint, List<String> cmd, List<String> env, String user, String workingDir) {
        public RunConfig {
            entrypoint = entrypoint == null ? List.of() : List.copyOf(entrypoint);
            cmd = cmd == null ? List.of() : List.copyOf(cmd);
            env = env == null || env.isEmpty()
                    ? List.of("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin") : List.copyOf(env);
            user = user == null ? "" : user;
            workingDir = workingDir == null ? "" : workingDir;
        }
    }

    private RootfsImage() {
    }

    public static ImageRecord build(ImageService images, Path rootfs, String reference, RunConfig run) {
        Reference ref = Reference.parse(reference);
        if (ref.tag() == null) {
            throw BerthException.invalidArgument("%s: a built image needs a tag, not only a digest", reference);
        }
        if (!Files.isDirectory(rootfs, LinkOption.NOFOLLOW_LINKS)) {
            throw BerthException.invalidArgument("%s is not a directory", rootfs);
        }
        Path layout = images.root().resolve(".build-" + Long.toHexString(ThreadLocalRandom.current().nextLong()));
        try {
            Path blobs = layout.resolve("blobs/sha256");
            Files.createDirectories(blobs);
            Path layerTmp = layout.resolve("layer.tar");
            long layerSize;
            String layerDigest;
            try (OutputStream file = Files.newOutputStream(layerTmp)) {
                MessageDigest sha = sha256();
                CountingOutputStream counted = new CountingOutputStream(new DigestOutputStream(new BufferedOutputStream(file, 256 * 1024), sha));
                try (TarArchiveOutputStream tar = new TarArchiveOutputStream(counted, "UTF-8")) {
                    tar.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
                    tar.setBigNumberMode(TarArchiveOutputStream.BIGNUMBER_POSIX);
                    writeTree(tar, rootfs);
                    tar.finish();
                }
                layerSize = counted.count;
                layerDigest = "sha256:" + HexFormat.of().formatHex(sha.digest());
            }
            Files.move(layerTmp, blobs.resolve(layerDigest.substring(7)));

            Platform platform = Platform.host();
            ObjectNode config = Json.mapper().createObjectNode();
            config.put("architecture", platform.architecture());
            config.put("os", platform.os());
            ObjectNode cfg = config.putObject("config");
            putList(cfg, "Entrypoint", run.entrypoint());
            putList(cfg, "Cmd", run.cmd());
            putList(cfg, "Env", run.env());
            if (!run.user().isEmpty()) {
                cfg.put("User", run.user());
            }
            if (!run.workingDir().isEmpty()) {
                cfg.put("WorkingDir", run.workingDir());
            }
            ObjectNode fs = config.putObject("rootfs");
            fs.put("type", "layers");
            fs.putArray("diff_ids").add(layerDigest);
            String configDigest = writeBlob(blobs, Json.mapper().writeValueAsBytes(config));

            ObjectNode manifest = Json.mapper().createObjectNode();
            manifest.put("schemaVersion", 2);
            manifest.put("mediaType", MediaTypes.OCI_MANIFEST);
            manifest.set("config", descriptor(MediaTypes.OCI_CONFIG, configDigest, Files.size(blobs.resolve(configDigest.substring(7)))));
            manifest.putArray("layers").add(descriptor(MediaTypes.OCI_LAYER, layerDigest, layerSize));
            byte[] manifestBytes = Json.mapper().writeValueAsBytes(manifest);
            String manifestDigest = writeBlob(blobs, manifestBytes);

            ObjectNode index = Json.mapper().createObjectNode();
            index.put("schemaVersion", 2);
            ObjectNode entry = descriptor(MediaTypes.OCI_MANIFEST, manifestDigest, manifestBytes.length);
            entry.putObject("annotations").put("org.opencontainers.image.ref.name", ref.tagged());
            index.putArray("manifests").add(entry);
            Files.write(layout.resolve("index.json"), Json.mapper().writeValueAsBytes(index));
            Files.writeString(layout.resolve("oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}");

            List<ImageRecord> imported = ImageArchive.importFile(images, layout, platform);
            return imported.get(0);
        } catch (IOException e) {
            throw BerthException.internal("cannot build an image from " + rootfs, e);
        } finally {
            try {
                Trees.deleteRecursively(layout);
            } catch (IOException e) {
                // a leftover .build- directory is swept with the store's other temporary files
            }
        }
    }

    private static void writeTree(TarArchiveOutputStream tar, Path root) throws IOException {
        List<Path> paths;
        try (Stream<Path> walk = Files.walk(root)) {
            paths = walk.filter(p -> !p.equals(root)).sorted().toList();
        }
        for (Path p : paths) {
            String name = root.relativize(p).toString().replace('\\', '/');
            PosixFileAttributes a = Files.readAttributes(p, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
            TarArchiveEntry e;
            if (a.isSymbolicLink()) {
                e = new TarArchiveEntry(name, TarConstants.LF_SYMLINK);
                e.setLinkName(Files.readSymbolicLink(p).toString());
            } else if (a.isDirectory()) {
                e = new TarArchiveEntry(name + "/");
            } else if (a.isRegularFile()) {
                e = new TarArchiveEntry(name);
                e.setSize(a.size());
            } else {
                continue; // device nodes, FIFOs and sockets are made by the runtime, not shipped in a rootfs layer
            }
            e.setMode((Integer) Files.getAttribute(p, "unix:mode", LinkOption.NOFOLLOW_LINKS) & 07777);
            e.setUserId((Integer) Files.getAttribute(p, "unix:uid", LinkOption.NOFOLLOW_LINKS));
            e.setGroupId((Integer) Files.getAttribute(p, "unix:gid", LinkOption.NOFOLLOW_LINKS));
            e.setModTime(a.lastModifiedTime().toMillis());
            tar.putArchiveEntry(e);
            if (a.isRegularFile()) {
                Files.copy(p, tar);
            }
            tar.closeArchiveEntry();
        }
    }

    private static String writeBlob(Path blobs, byte[] content) throws IOException {
        String hex = HexFormat.of().formatHex(sha256().digest(content));
        Files.write(blobs.resolve(hex), content);
        return "sha256:" + hex;
    }

    private static ObjectNode descriptor(String mediaType, String digest, long size) {
        ObjectNode d = Json.mapper().createObjectNode();
        d.put("mediaType", mediaType);
        d.put("digest", digest);
        d.put("size", size);
        return d;
    }

    private static void putList(ObjectNode node, String key, List<String> values) {
        if (!values.isEmpty()) {
            ArrayNode a = node.putArray(key);
            values.forEach(a::add);
        }
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static final class CountingOutputStream extends java.io.FilterOutputStream {
        long count;

        CountingOutputStream(OutputStream out) {
            super(out);
        }

        @Override
        public void write(int b) throws IOException {
            out.write(b);
            count++;
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            out.write(b, off, len);
            count += len;
        }
    }
}
