package dev.berth.podsandbox.container;

import dev.berth.common.BerthException;
import dev.berth.common.PrivateFiles;
import dev.berth.host.HostMounts;
import dev.berth.host.LinuxMounts;
import dev.berth.images.store.ImageRecord;
import dev.berth.podsandbox.container.spec.ContainerConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Deque;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;

/**
 * Image volumes (a CRI mount with an image): an image of berth's store mounted read-only in a
 * container. Volume {@code n} of container {@code id} is staged under
 * {@code <dir>/<id>/<n>/}: {@code l/0}, {@code l/1}, … link to the image's layers (top first)
 * and an overlay of them with lower directories only (so read-only) is mounted on
 * {@code root/}; overlayfs wants two lower directories at least, so a one-layer image gets an
 * empty directory below its layer. The container's mount binds that (or the sub-path asked
 * for inside it) read-only. The image's layers are held under {@code <id>.v<n>} as long as the
 * volume exists, so a RemoveImage of the image leaves the volume whole. The image is never
 * pulled here: the caller pulls it first, or gets NOT_FOUND.
 */
public final class ImageVolumes {
    /** Between the container id and the volume's number in the name of its image hold. */
    private static final String HOLD_INFIX = ".v";
    private static final String LINKS = "l";
    private static final String EMPTY = "empty";
    private static final String ROOT = "root";
    /** Most symbolic links followed while an image sub-path is resolved (as the kernel's own limit). */
    private static final int MAX_LINKS = 40;

    private final Path dir;
    private final HostMounts mounts;
    private final ContainerImages images;

    /** On the host's own mounts. */
    public ImageVolumes(Path dir, ContainerImages images) {
        this(dir, LinuxMounts.INSTANCE, images);
    }

    public ImageVolumes(Path dir, HostMounts mounts, ContainerImages images) {
        this.dir = dir;
        this.mounts = mounts;
        this.images = images;
        try {
            PrivateFiles.directory(dir);
        } catch (IOException e) {
            throw BerthException.failedPrecondition("cannot prepare %s: %s", dir, e.getMessage());
        }
    }

    /**
     * Stages the image volumes among {@code config}'s mounts for container {@code id} and
     * returns the config with each image mount's host path set to what the container binds.
     * A config without image volumes comes back as it is. On failure nothing is left behind.
     *
     * @throws BerthException NOT_FOUND for an image the store does not have; INVALID_ARGUMENT
     *                        for an image mount with a host path or not read-only, or a
     *                        sub-path that is not a directory inside the image
     */
    public ContainerConfig stage(String id, ContainerConfig config) {
        if (config.mounts().stream().noneMatch(ContainerConfig.Mount::isImage)) {
            return config;
        }
        checkId(id);
        for (ContainerConfig.Mount m : config.mounts()) {
            if (m.isImage() && !m.hostPath().isEmpty()) {
                throw BerthException.invalidArgument("image volume %s (at %s) must not have a host path (%s)",
                        m.image(), m.containerPath(), m.hostPath());
            }
            if (m.isImage() && !m.readonly()) {
                throw BerthException.invalidArgument("image volume %s (at %s) must be readonly", m.image(), m.containerPath());
            }
        }
        List<ContainerConfig.Mount> out = new ArrayList<>();
        int n = 0;
        try {
            for (ContainerConfig.Mount m : config.mounts()) {
                if (!m.isImage()) {
                    out.add(m);
                    continue;
                }
                ImageRecord image = images.require(m.image());
                images.hold(id + HOLD_INFIX + n, image.id());
                Path root = mount(id, n, images.lowerDirs(image.id()));
                Path source = subPath(root, m.imageSubPath(), m.image());
                out.add(new ContainerConfig.Mount(m.containerPath(), source.toString(), true, m.propagation(),
                        m.recursiveReadOnly(), m.image(), m.imageSubPath(), m.uidMappings(), m.gidMappings()));
                n++;
            }
            return config.withMounts(out);
        } catch (IOException | RuntimeException e) {
            try {
                remove(id);
            } catch (RuntimeException c) {
                e.addSuppressed(c);
            }
            if (e instanceof BerthException be) {
                throw be;
            }
            throw BerthException.internal("cannot stage the image volumes of container " + id, e);
        }
    }

    private Path mount(String id, int n, List<Path> lowerDirs) throws IOException {
        if (lowerDirs.isEmpty()) {
            throw BerthException.failedPrecondition("the image of volume %d of container %s has no layers", n, id);
        }
        PrivateFiles.directory(dir.resolve(id));
        Path volume = PrivateFiles.directory(dir.resolve(id).resolve(Integer.toString(n)));
        Path links = PrivateFiles.directory(volume.resolve(LINKS));
        StringBuilder lower = new StringBuilder();
        for (int i = 0; i < lowerDirs.size(); i++) {
            Path link = links.resolve(Integer.toString(i));
            Files.deleteIfExists(link);
            Files.createSymbolicLink(link, lowerDirs.get(i).toAbsolutePath());
            lower.append(i == 0 ? "" : ":").append(LINKS).append('/').append(i);
        }
        if (lowerDirs.size() == 1) {
            PrivateFiles.directory(volume.resolve(EMPTY));
            lower.append(':').append(EMPTY);
        }
        Path root = PrivateFiles.directory(volume.resolve(ROOT));
        mounts.overlayFrom(volume, root, "lowerdir=" + lower);
        return root;
    }

    /**
     * {@code subPath} inside {@code root}, resolved as if {@code root} were "/": ".." stops at
     * it and a symbolic link (absolute or not) cannot lead out of it. It must be a directory.
     */
    static Path subPath(Path root, String subPath, String image) {
        if (subPath == null || subPath.isEmpty()) {
            return root;
        }
        Deque<String> todo = new ArrayDeque<>(List.of(subPath.split("/")));
        Deque<String> done = new ArrayDeque<>();
        int links = 0;
        while (!todo.isEmpty()) {
            String part = todo.pollFirst();
            if (part.isEmpty() || part.equals(".")) {
                continue;
            }
            if (part.equals("..")) {
                done.pollLast();
                continue;
            }
            Path here = resolve(root, done).resolve(part);
            if (Files.isSymbolicLink(here)) {
                if (++links > MAX_LINKS) {
                    throw BerthException.invalidArgument("image sub-path %s of image %s has too many symbolic links", subPath, image);
                }
                String target;
                try {
                    target = Files.readSymbolicLink(here).toString();
                } catch (IOException e) {
                    throw BerthException.invalidArgument("cannot read %s in image %s: %s", subPath, image, e.getMessage());
                }
                if (target.startsWith("/")) {
                    done.clear();
                }
                List<String> parts = List.of(target.split("/"));
                for (int i = parts.size() - 1; i >= 0; i--) {
                    todo.addFirst(parts.get(i));
                }
                continue;
            }
            done.addLast(part);
        }
        Path resolved = resolve(root, done);
        if (!Files.exists(resolved, LinkOption.NOFOLLOW_LINKS)) {
            throw BerthException.invalidArgument("image sub-path %s does not exist in image %s", subPath, image);
        }
        if (!Files.isDirectory(resolved, LinkOption.NOFOLLOW_LINKS)) {
            throw BerthException.invalidArgument("image sub-path %s of image %s is not a directory", subPath, image);
        }
        return resolved;
    }

    private static Path resolve(Path root, Deque<String> parts) {
        Path p = root;
        for (String s : parts) {
            p = p.resolve(s);
        }
        return p;
    }

    /**
     * Unmounts and deletes the image volumes of container {@code id} and drops their image
     * holds. Idempotent: a container without image volumes is success.
     */
    public void remove(String id) {
        Path staged = dir.resolve(checkId(id));
        if (Files.exists(staged, LinkOption.NOFOLLOW_LINKS)) {
            mounts.unmountAllUnder(staged);
            if (mounts.mountCountUnder(staged) > 0) {
                throw BerthException.internal("cannot unmount the image volumes of container " + id + ": still mounted", null);
            }
            try (Stream<Path> walk = Files.walk(staged)) {
                List<Path> paths = new ArrayList<>(walk.toList());
                paths.sort(Comparator.comparingInt(Path::getNameCount).reversed());
                for (Path p : paths) {
                    Files.deleteIfExists(p);
                }
            } catch (IOException e) {
                throw BerthException.internal("cannot delete the image volumes of container " + id, e);
            }
        }
        for (String holder : images.holders()) {
            if (!holder.equals(id) && owner(holder).equals(id)) {
                images.release(holder);
            }
        }
    }

    /** The containers that have staged image volumes or their image holds (for a recovery that frees those of containers gone). */
    public Set<String> ids() {
        Set<String> out = new TreeSet<>();
        try (Stream<Path> s = Files.list(dir)) {
            s.map(p -> p.getFileName().toString()).filter(n -> n.matches("[0-9a-f]{64}")).forEach(out::add);
        } catch (IOException e) {
            throw BerthException.internal("cannot list " + dir, e);
        }
        for (String holder : images.holders()) {
            if (!owner(holder).equals(holder)) {
                out.add(owner(holder));
            }
        }
        return out;
    }

    /** The container an image hold belongs to: its own ({@code <id>}) or one of its image volumes' ({@code <id>.v<n>}). */
    public static String owner(String holder) {
        int i = holder.indexOf(HOLD_INFIX);
        return i < 0 ? holder : holder.substring(0, i);
    }

    private static String checkId(String id) {
        if (id == null || !id.matches("[0-9a-f]{64}")) {
            throw BerthException.invalidArgument("invalid container id \"%s\"", id);
        }
        return id;
    }
}
