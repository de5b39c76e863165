package dev.berth.podsandbox.container;

import dev.berth.common.BerthException;
import dev.berth.common.PrivateFiles;
import dev.berth.host.HostMounts;
import dev.berth.host.LinuxMounts;
import dev.berth.podsandbox.container.spec.SandboxContext;
import dev.berth.podsandbox.idmap.IdMapper;
import dev.berth.podsandbox.idmap.IdShift;
import dev.berth.podsandbox.sandbox.SandboxConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;

/**
 * Containers' root filesystems: an overlayfs of an image's read-only layers with one writable
 * layer per container. The writable layer ({@code upper/} and {@code work/}) lives in
 * {@code <layersDir>/<id>/}, so what containers write is accounted there; the overlay is
 * mounted on {@code <mountsDir>/<id>}, outside it, so that walking the layers never walks
 * into a mounted tree.
 *
 * <p>The kernel takes one page of mount options: with every lower directory's full path, an
 * image of some 38 layers did not fit. The writable layer holds {@code l/0}, {@code l/1}, …
 * (symbolic links to the image's layers, top first) and the overlay is mounted from there
 * with {@code lowerdir=l/0:l/1:…}, a few bytes a layer whatever the store's path (500 layers,
 * overlayfs's own limit, take under 3.5 KiB).
 */
public final class ContainerRootfs {
    /** Most bytes of the overlay mount options the kernel takes (one page). */
    private static final int MAX_OPTIONS = 4096 - 1;
    /** The directory of short links to the lower layers, in the writable layer. */
    private static final String LINKS = "l";

    private static final Set<PosixFilePermission> ROOT_MODE = PosixFilePermissions.fromString("rwxr-xr-x");
    /**
     * overlayfs takes idmapped lower layers from Linux 5.19; on 5.12-5.18 a filesystem may take
     * idmapped mounts while the overlay over them fails, so the chown fallback is used there.
     */
    static final boolean OVERLAY_TAKES_IDMAPPED_LAYERS = dev.berth.podsandbox.oci.RuntimeFeatures.runningKernelAtLeast(5, 19);

    private static final Set<PosixFilePermission> TRAVERSABLE = PosixFilePermissions.fromString("rwx--x--x");

    private final Path layersDir;
    private final Path mountsDir;
    private final Path mappedDir;
    private final HostMounts mounts;
    private final IdMapper idMapper;

    /** On the host's own mounts. */
    public ContainerRootfs(Path layersDir, Path mountsDir) {
        this(layersDir, mountsDir, LinuxMounts.INSTANCE, IdMapper.HOST);
    }

    /** Without idmapped mounts (containers in a user namespace get their root filesystem's owners shifted). */
    public ContainerRootfs(Path layersDir, Path mountsDir, HostMounts mounts) {
        this(layersDir, mountsDir, mounts, IdMapper.NONE);
    }

    /**
     * @param mountsDir where root filesystems are mounted; those of containers in a user
     *        namespace are below {@code <mountsDir>-userns} instead (see {@link #mount(String, List, SandboxContext.User)})
     */
    public ContainerRootfs(Path layersDir, Path mountsDir, HostMounts mounts, IdMapper idMapper) {
        this.layersDir = layersDir;
        this.mountsDir = mountsDir;
        this.mappedDir = mountsDir.resolveSibling(mountsDir.getFileName() + "-userns");
        this.mounts = mounts;
        this.idMapper = idMapper;
        try {
            // closed to other users, also when an older berth left them open: a writable layer
            // holds whatever the container wrote, setuid files and device nodes included
            PrivateFiles.directory(layersDir);
            PrivateFiles.directory(mountsDir);
        } catch (IOException e) {
            throw BerthException.failedPrecondition("cannot prepare %s and %s: %s", layersDir, mountsDir, e.getMessage());
        }
    }

    /** Where the root filesystem of container {@code id} is (or would be) mounted. */
    public Path mountPoint(String id) {
        return mountsDir.resolve(checkId(id));
    }

    /** The writable layer of container {@code id}. */
    public Path layerDir(String id) {
        return layersDir.resolve(checkId(id));
    }

    /**
     * Creates the writable layer and mounts the overlay; returns the mount point. On failure
     * nothing is left behind.
     *
     * @param lowerDirs the image's layer directories, top layer first
     */
    public Path mount(String id, List<Path> lowerDirs) {
        return mount(id, lowerDirs, null);
    }

    /**
     * As {@link #mount(String, List)}, for a container in the pod's user namespace {@code user}
     * (null: the host's). The OCI runtime resolves the root filesystem's path from inside that
     * namespace, where berth's {@code 0700} directories cannot be traversed: the overlay is
     * mounted on {@code <mountsDir>-userns/<id>/root}, below a {@code 0711} directory and a
     * {@code 0700} one owned by the pod's root, so no other user of the host reaches the
     * container's files (setuid ones among them). Its files must be owned by the pod's ids:
     * <ul>
     * <li>where the layers' filesystem takes idmapped mounts, each layer is bind-mounted
     *     idmapped through the pod's user namespace ({@code <id>/lowers/<n>}) and the overlay is
     *     made of those (overlayfs accepts idmapped lower layers since Linux 5.19), its upper
     *     directory owned by the pod's root; nothing is copied;</li>
     * <li>elsewhere the owner of every file of the mounted overlay is shifted into the pod's
     *     range (chown through the overlay): correct, but costly, since every file is copied up
     *     into the container's writable layer (time and disk as large as the image).</li>
     * </ul>
     */
    public Path mount(String id, List<Path> lowerDirs, SandboxContext.User user) {
        if (lowerDirs.isEmpty()) {
            throw BerthException.failedPrecondition("the image of container %s has no layers", id);
        }
        Path layer = layerDir(id);
        Path target = user == null ? mountPoint(id) : mappedDir.resolve(checkId(id)).resolve("root");
        boolean idmapped = user != null && OVERLAY_TAKES_IDMAPPED_LAYERS && idMapper.supported(lowerDirs.get(0));
        StringBuilder lower = new StringBuilder();
        for (int i = 0; i < lowerDirs.size(); i++) {
            lower.append(i == 0 ? "" : ":").append(LINKS).append('/').append(i);
        }
        String options = "lowerdir=" + lower + ",upperdir=" + escape(layer.resolve("upper")) + ",workdir=" + escape(layer.resolve("work"));
        if (options.length() > MAX_OPTIONS) {
            throw BerthException.failedPrecondition("the image of container %s has too many layers (%d) for one overlay mount",
                    id, lowerDirs.size());
        }
        try {
            PrivateFiles.directory(layer);
            // the upper directory's mode is the mode of the container's "/": 0755 as any root
            PrivateFiles.directory(layer.resolve("upper"), ROOT_MODE);
            PrivateFiles.directory(layer.resolve("work"));
            Path links = PrivateFiles.directory(layer.resolve(LINKS));
            List<Path> lowers = lowerDirs;
            if (user != null) {
                lowers = prepareMapped(id, lowerDirs, user, idmapped);
                Files.setAttribute(layer.resolve("upper"), "unix:uid", (int) user.rootUid());
                Files.setAttribute(layer.resolve("upper"), "unix:gid", (int) user.rootGid());
            }
            for (int i = 0; i < lowers.size(); i++) {
                Path link = links.resolve(Integer.toString(i));
                Files.deleteIfExists(link); // left by a mount cut short
                Files.createSymbolicLink(link, lowers.get(i).toAbsolutePath());
            }
            PrivateFiles.directory(target);
            mounts.overlayFrom(layer, target, options);
            if (user != null && !idmapped) {
                SandboxConfig.UserNamespace ns = new SandboxConfig.UserNamespace(SandboxConfig.NamespaceMode.POD, user.uids(), user.gids());
                IdShift.tree(target, ns::hostUid, ns::hostGid);
            }
            return target;
        } catch (IOException | RuntimeException e) {
            try {
                remove(id);
            } catch (RuntimeException c) {
                e.addSuppressed(c);
            }
            if (e instanceof BerthException be) {
                throw be;
            }
            throw BerthException.internal("cannot prepare the root filesystem of container " + id, e);
        }
    }

    /**
     * The directories of a container in a user namespace: {@code <id>} ({@code 0700}, owned by
     * the pod's root) in {@code <mountsDir>-userns} ({@code 0711}); with {@code idmapped} the
     * layers bind-mounted idmapped at {@code <id>/lowers/<n>}, which the overlay is made of.
     */
    private List<Path> prepareMapped(String id, List<Path> lowerDirs, SandboxContext.User user, boolean idmapped)
            throws IOException {
        PrivateFiles.directory(mappedDir, TRAVERSABLE);
        requireTraversable(mappedDir);
        Path dir = PrivateFiles.directory(mappedDir.resolve(id));
        Files.setAttribute(dir, "unix:uid", (int) user.rootUid());
        Files.setAttribute(dir, "unix:gid", (int) user.rootGid());
        if (!idmapped) {
            return lowerDirs;
        }
        Path lowersDir = PrivateFiles.directory(dir.resolve("lowers"));
        List<Path> out = new ArrayList<>();
        for (int i = 0; i < lowerDirs.size(); i++) {
            Path at = PrivateFiles.directory(lowersDir.resolve(Integer.toString(i)));
            idMapper.bind(lowerDirs.get(i), at, Path.of(user.path()), false);
            out.add(at);
        }
        return out;
    }

    /**
     * Fails with a clear FAILED_PRECONDITION unless every directory from {@code dir} up is
     * searchable by other users: the OCI runtime reaches a user-namespaced pod's files as the
     * pod's root, an unprivileged user of the host, and would fail with a bare "permission
     * denied" (berth's run root under /run is; a run root below a private directory is not).
     */
    public static void requireTraversable(Path dir) {
        for (Path p = dir.toAbsolutePath(); p != null; p = p.getParent()) {
            try {
                if (!Files.getPosixFilePermissions(p).contains(PosixFilePermission.OTHERS_EXECUTE)) {
                    throw BerthException.failedPrecondition("pods in a user namespace of their own need every directory above %s "
                            + "to be searchable by other users, and %s is not (mode %s)", dir, p,
                            PosixFilePermissions.toString(Files.getPosixFilePermissions(p)));
                }
            } catch (IOException e) {
                throw BerthException.fromIo("cannot read the mode of " + p, p, e);
            }
        }
    }

    /** Unmounts the overlay (and the idmapped layers) and deletes the writable layer and the mount points. Idempotent. */
    public void remove(String id) {
        Path mapped = mappedDir.resolve(checkId(id));
        if (Files.exists(mapped, LinkOption.NOFOLLOW_LINKS)) {
            mounts.unmountAllUnder(mapped);
            if (mounts.mountCountUnder(mapped) > 0) {
                throw BerthException.internal("cannot unmount the root filesystem of container " + id + " in " + mapped, null);
            }
            try {
                deleteTree(mapped);
            } catch (IOException e) {
                throw BerthException.internal("cannot delete the root filesystem of container " + id, e);
            }
        }
        Path target = mountPoint(id);
        // stacked mounts come off one by one
        for (int i = 0; i < 16 && mounts.isMountPoint(target); i++) {
            mounts.unmount(target);
        }
        if (mounts.isMountPoint(target)) {
            throw BerthException.internal("cannot unmount " + target + ": still mounted", null);
        }
        try {
            Files.deleteIfExists(target);
            deleteTree(layerDir(id));
        } catch (IOException e) {
            throw BerthException.internal("cannot delete the root filesystem of container " + id, e);
        }
    }

    /** The ids that have a writable layer or a mount point (for finding leftovers of interrupted work). */
    public Set<String> ids() {
        Set<String> out = new TreeSet<>();
        for (Path dir : List.of(layersDir, mountsDir, mappedDir)) {
            if (!Files.isDirectory(dir)) {
                continue;
            }
            try (Stream<Path> s = Files.list(dir)) {
                s.map(p -> p.getFileName().toString()).filter(n -> n.matches("[0-9a-f]{64}")).forEach(out::add);
            } catch (IOException e) {
                throw BerthException.internal("cannot list " + dir, e);
            }
        }
        return out;
    }

    private static String checkId(String id) {
        if (id == null || !id.matches("[0-9a-f]{64}")) {
            throw BerthException.invalidArgument("invalid container id \"%s\"", id);
        }
        return id;
    }

    /** overlayfs splits its options at ',' and lowerdir at ':'; both are escaped with '\'. */
    private static String escape(Path p) {
        return p.toAbsolutePath().toString().replace("\\", "\\\\").replace(":", "\\:").replace(",", "\\,");
    }

    private void deleteTree(Path root) throws IOException {
        if (!Files.exists(root, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        if (mounts.mountCountUnder(root) > 0) {
            throw BerthException.internal("refusing to delete " + root + ": something is mounted below it", null);
        }
        try (Stream<Path> walk = Files.walk(root)) {
            List<Path> paths = new ArrayList<>(walk.toList());
            paths.sort(Comparator.comparingInt(Path::getNameCount).reversed());
            for (Path p : paths) {
                Files.deleteIfExists(p);
            }
        }
    }
}
