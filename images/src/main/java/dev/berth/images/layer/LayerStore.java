package dev.berth.images.layer;

import dev.berth.common.PrivateFiles;
import dev.berth.common.Trees;
import dev.berth.common.BerthException;
import dev.berth.common.Json;
import dev.berth.images.reference.Digest;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Unpacked layers, one directory per chain id: {@code <root>/<algorithm>/<hex>/diff} is the
 * overlayfs lower directory and {@code layer.json} beside it records what it holds. A layer is
 * unpacked into a temporary directory and renamed into place once complete, so it is either
 * absent or whole; the same layer is unpacked once even when several pulls need it at once.
 */
public final class LayerStore {
    /** What one unpacked layer is. */
    public record Layer(Digest chainId, Digest diffId, long bytes, long inodes) {
    }

    /** Opens the (compressed) layer blob. */
    @FunctionalInterface
    public interface Source {
        InputStream open() throws IOException;
    }

    private final Path root;
    private final ConcurrentHashMap<Digest, CompletableFuture<Layer>> inFlight = new ConcurrentHashMap<>();

    public LayerStore(Path root) {
        this.root = root;
        try {
            PrivateFiles.directory(root); // an older berth left it 0755: setuid files and devices inside were reachable
            try (DirectoryStream<Path> ds = Files.newDirectoryStream(root, p -> !p.getFileName().toString().startsWith("."))) {
                for (Path alg : ds) {
                    if (Files.isDirectory(alg, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                        PrivateFiles.directory(alg);
                    }
                }
            }
            try (DirectoryStream<Path> ds = Files.newDirectoryStream(root, ".*")) {
                for (Path p : ds) {
                    Trees.deleteRecursively(p); // unpacking or removal cut short by a crash
                }
            }
        } catch (IOException e) {
            throw BerthException.failedPrecondition("cannot prepare layer store %s: %s", root, e.getMessage());
        }
    }

    public Path root() {
        return root;
    }

    /** The chain id of the layer stack {@code diffIds[0..n]}: the diff id of the first, then sha256("parent diffId"). */
    public static List<Digest> chainIds(List<Digest> diffIds) {
        List<Digest> out = new ArrayList<>(diffIds.size());
        Digest chain = null;
        for (Digest d : diffIds) {
            chain = chain == null ? d : Digest.sha256((chain + " " + d).getBytes(StandardCharsets.UTF_8));
            out.add(chain);
        }
        return out;
    }

    private Path layerDir(Digest chainId) {
        return root.resolve(chainId.algorithm()).resolve(chainId.hex());
    }

    /** The overlayfs lower directory of a layer. */
    public Path diffDir(Digest chainId) {
        return layerDir(chainId).resolve("diff");
    }

    public boolean has(Digest chainId) {
        return Files.isRegularFile(layerDir(chainId).resolve("layer.json"));
    }

    public Layer get(Digest chainId) {
        try {
            return Json.mapper().readValue(layerDir(chainId).resolve("layer.json").toFile(), Layer.class);
        } catch (IOException e) {
            throw BerthException.notFound("layer %s is not in the layer store", chainId);
        }
    }

    /** Makes sure the layer is unpacked: at once if it is; joining an unpacking under way; or unpacking {@code source}. */
    public Layer ensure(Digest chainId, Digest diffId, Source source) {
        return ensure(chainId, diffId, source, UnpackLimits.Budget.unlimited());
    }

    /**
     * As {@link #ensure(Digest, Digest, Source)}, within an image's {@code budget}: a layer
     * already unpacked, or unpacked by another pull meanwhile, is counted against it whole.
     * When the pull this one joined was cancelled, this one unpacks the layer itself.
     */
    public Layer ensure(Digest chainId, Digest diffId, Source source, UnpackLimits.Budget budget) {
        while (true) {
            budget.checkCancelled();
            if (has(chainId)) {
                Layer l = get(chainId);
                budget.chargeLayer(l.bytes(), l.inodes());
                return l;
            }
            CompletableFuture<Layer> mine = new CompletableFuture<>();
            CompletableFuture<Layer> existing = inFlight.putIfAbsent(chainId, mine);
            if (existing != null) {
                Layer l;
                try {
                    l = existing.join();
                } catch (CompletionException e) {
                    if (e.getCause() instanceof BerthException be && be.kind() == BerthException.Kind.CANCELLED) {
                        continue; // that pull's caller gave up, not this one's
                    }
                    if (e.getCause() instanceof RuntimeException re) {
                        throw re;
                    }
                    throw e;
                }
                budget.chargeLayer(l.bytes(), l.inodes());
                return l;
            }
            try {
                Layer l;
                if (has(chainId)) {
                    l = get(chainId);
                    budget.chargeLayer(l.bytes(), l.inodes());
                } else {
                    l = unpack(chainId, diffId, source, budget);
                }
                mine.complete(l);
                return l;
            } catch (RuntimeException e) {
                mine.completeExceptionally(e);
                throw e;
            } finally {
                inFlight.remove(chainId, mine);
            }
        }
    }

    private Layer unpack(Digest chainId, Digest diffId, Source source, UnpackLimits.Budget budget) {
        Path tmp = root.resolve(".tmp-" + chainId.hex() + "-" + Long.toHexString(ThreadLocalRandom.current().nextLong()));
        try {
            Path diff = tmp.resolve("diff");
            Files.createDirectory(tmp, java.nio.file.attribute.PosixFilePermissions.asFileAttribute(PrivateFiles.DIRECTORY));
            PrivateFiles.directory(tmp);
            Files.createDirectory(diff);
            LayerUnpacker.Result r;
            try (InputStream in = source.open()) {
                r = LayerUnpacker.unpack(in, diff, diffId, budget);
            }
            Layer layer = new Layer(chainId, diffId, r.bytes(), r.inodes() + 1);
            // not synced here: the image service syncs the filesystem once before it records an image,
            // and layers no record names are swept at start
            Path json = Files.createFile(tmp.resolve("layer.json"), PrivateFiles.fileAttribute());
            Files.writeString(json, Json.write(layer));
            Path target = layerDir(chainId);
            PrivateFiles.directory(target.getParent());
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
            return layer;
        } catch (BerthException e) {
            throw new BerthException(BerthException.isNoSpace(e) ? BerthException.Kind.RESOURCE_EXHAUSTED : e.kind(),
                    "layer " + diffId + ": " + e.getMessage(), e);
        } catch (java.io.InterruptedIOException | java.nio.channels.ClosedByInterruptException e) {
            throw new BerthException(BerthException.Kind.CANCELLED, "unpacking layer " + diffId + " was cancelled", e);
        } catch (IOException e) {
            if (BerthException.isNoSpace(e)) {
                throw BerthException.fromIo("cannot unpack layer " + diffId, root, e);
            }
            throw BerthException.failedPrecondition("cannot unpack layer %s: %s", diffId, e.getMessage() == null ? e.toString() : e.getMessage());
        } catch (RuntimeException e) {
            if (e instanceof java.io.UncheckedIOException u && BerthException.isNoSpace(u)) {
                throw BerthException.fromIo("cannot unpack layer " + diffId, root, u.getCause());
            }
            throw BerthException.failedPrecondition("cannot unpack layer %s: %s", diffId, e.getMessage() == null ? e.toString() : e.getMessage());
        } finally {
            try {
                Trees.deleteRecursively(tmp);
            } catch (IOException e) {
                // removed at the next start
            }
        }
    }

    /** Removes a layer; removing an absent one does nothing. */
    public void delete(Digest chainId) {
        Path dir = layerDir(chainId);
        if (!Files.exists(dir)) {
            return;
        }
        Path trash = root.resolve(".trash-" + chainId.hex() + "-" + Long.toHexString(ThreadLocalRandom.current().nextLong()));
        try {
            Files.move(dir, trash, StandardCopyOption.ATOMIC_MOVE);
            Trees.deleteRecursively(trash);
        } catch (IOException e) {
            throw BerthException.internal("cannot remove layer " + chainId, e);
        }
    }

    /** Every layer present. */
    public Set<Digest> list() {
        Set<Digest> out = new HashSet<>();
        try (DirectoryStream<Path> algs = Files.newDirectoryStream(root, p -> !p.getFileName().toString().startsWith("."))) {
            for (Path alg : algs) {
                try (DirectoryStream<Path> ds = Files.newDirectoryStream(alg)) {
                    for (Path p : ds) {
                        try {
                            out.add(new Digest(alg.getFileName().toString(), p.getFileName().toString()));
                        } catch (BerthException e) {
                            // not a layer
                        }
                    }
                }
            }
        } catch (IOException e) {
            throw BerthException.internal("cannot list layer store " + root, e);
        }
        return out;
    }
}
