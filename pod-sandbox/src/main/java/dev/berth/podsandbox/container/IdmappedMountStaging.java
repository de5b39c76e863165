package dev.berth.podsandbox.container;

import dev.berth.common.BerthException;
import dev.berth.host.IdmappedMounts;
import dev.berth.host.MountTable;
import dev.berth.host.UserNamespaces;
import dev.berth.podsandbox.container.spec.ContainerConfig;
import dev.berth.podsandbox.container.spec.OciSpec;
import dev.berth.podsandbox.container.spec.SandboxContext;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * CRI mounts with uid and gid mappings (Kubernetes sends the pod's user namespace mappings
 * for the volumes of a pod without host users): the OCI runtime here (runc 1.1) cannot make
 * idmapped mounts, so berth makes them. At create, each such mount's host path is bound,
 * idmapped ({@link IdmappedMounts}), at {@code <dir>/<container id>/<n>} and the OCI spec binds
 * that instead; through it a file of host uid H shows as owned by the uid the mapping maps H to
 * (host root's files as the container's root, seen from a user namespace with the same
 * mapping). The user namespace that carries the mapping is the pod's own when its mapping is
 * the same ({@link PodUserns}), else one made for the create and dropped after it (the mounts
 * keep it). The staging goes at RemoveContainer, with a create that failed, and at start-up
 * for containers no record claims; it is only ever unmounted and its empty directories
 * removed, never walked, so a host directory still mounted there is never deleted through it.
 */
public final class IdmappedMountStaging {
    private static final Logger LOG = LoggerFactory.getLogger(IdmappedMountStaging.class);

    /** Where the pinned user namespace of a container's pod is, when the pod has one. */
    @FunctionalInterface
    public interface PodUserns {
        /** The pod's pinned user namespace, if it maps exactly {@code uid} and {@code gid}. */
        Optional<Path> pinned(SandboxContext sandbox, ContainerConfig.IdMapping uid, ContainerConfig.IdMapping gid);

        PodUserns NONE = (sandbox, uid, gid) -> Optional.empty();
    }

    private final Path dir;
    private volatile PodUserns podUserns = PodUserns.NONE;

    /** Stages under {@code dir} (made on first use). */
    public IdmappedMountStaging(Path dir) {
        this.dir = dir;
    }

    /** Where pods' user namespaces are found from now on. */
    public void usePodUserns(PodUserns source) {
        this.podUserns = source;
    }

    /**
     * Checks the idmapped mounts of {@code config} before anything is made: both a uid and a gid
     * mapping, exactly one of each (what the kubelet sends; runc from 1.2 takes several, berth
     * not), ids in range, and a host path on a filesystem that allows idmapped mounts (no quiet
     * fallback to a plain bind: the directory is not berth's to chown).
     *
     * @throws BerthException INVALID_ARGUMENT naming the mount and what is wrong
     */
    public void validate(ContainerConfig config) {
        for (ContainerConfig.Mount m : config.mounts()) {
            if (!idmapped(m)) {
                continue;
            }
            if (m.uidMappings().isEmpty() || m.gidMappings().isEmpty()) {
                throw BerthException.invalidArgument("id-mapped mount %s needs both uid and gid mappings (has %d uid, %d gid)",
                        m.containerPath(), m.uidMappings().size(), m.gidMappings().size());
            }
            if (m.uidMappings().size() != 1 || m.gidMappings().size() != 1) {
                throw BerthException.invalidArgument("id-mapped mount %s takes exactly one uid and one gid mapping (has %d uid, %d gid)",
                        m.containerPath(), m.uidMappings().size(), m.gidMappings().size());
            }
            mapping(m.containerPath(), m.uidMappings().get(0));
            mapping(m.containerPath(), m.gidMappings().get(0));
            Path source = realSource(m);
            if (!IdmappedMounts.supported(source)) {
                MountTable.Mount fs = MountTable.containing(source);
                throw BerthException.invalidArgument("id-mapped mount %s: the filesystem of %s (%s on %s) does not support idmapped mounts",
                        m.containerPath(), m.hostPath(), fs == null ? "unknown" : fs.fsType(),
                        fs == null ? "?" : fs.mountPoint());
            }
        }
    }

    /**
     * Makes the idmapped mounts of container {@code id} and points the spec's binds of those
     * mounts at them. On failure what it made stays for {@link #release} (the create's
     * clean-up) to undo.
     */
    public void stage(String id, ContainerConfig config, SandboxContext sandbox, OciSpec spec) {
        List<ContainerConfig.Mount> mounts = config.mounts();
        if (mounts.stream().noneMatch(IdmappedMountStaging::idmapped)) {
            return;
        }
        Path own = containerDir(id);
        Map<List<ContainerConfig.IdMapping>, UserNamespaces.Handle> made = new HashMap<>();
        try {
            mkdir(dir);
            mkdir(own);
            for (int i = 0; i < mounts.size(); i++) {
                ContainerConfig.Mount m = mounts.get(i);
                if (!idmapped(m)) {
                    continue;
                }
                Path source = realSource(m);
                Path target = own.resolve(Integer.toString(i));
                if (Files.isDirectory(source)) {
                    Files.createDirectory(target);
                } else {
                    Files.createFile(target);
                }
                ContainerConfig.IdMapping uid = m.uidMappings().get(0);
                ContainerConfig.IdMapping gid = m.gidMappings().get(0);
                Path userns = podUserns.pinned(sandbox, uid, gid).orElse(null);
                if (userns == null) {
                    userns = made.computeIfAbsent(List.of(uid, gid), k -> UserNamespaces.create(
                            List.of(mapping(m.containerPath(), uid)), List.of(mapping(m.containerPath(), gid)))).path();
                }
                IdmappedMounts.bind(source, target, userns, true); // recursive, as the runtime's rbind of a CRI mount
                redirect(spec, m, source, target);
            }
        } catch (IOException e) {
            throw BerthException.internal("cannot stage the id-mapped mounts of container " + id, e);
        } finally {
            made.values().forEach(UserNamespaces.Handle::close);
        }
    }

    /**
     * Unmounts and removes the staging of container {@code id}; nothing to do without one.
     *
     * @throws BerthException when a staged mount cannot be unmounted (its directory then stays)
     */
    public void release(String id) {
        Path own = containerDir(id);
        if (!Files.isDirectory(own)) {
            return;
        }
        try (Stream<Path> s = Files.list(own)) {
            for (Path target : s.toList()) {
                // a mount point may have been stacked (a create retried over a crash): off until none is left
                for (int i = 0; i < 8 && MountTable.isMountPoint(target); i++) {
                    IdmappedMounts.unmount(target);
                }
                if (MountTable.isMountPoint(target)) {
                    throw BerthException.internal("cannot unmount the id-mapped mount " + target, null);
                }
                Files.deleteIfExists(target); // an empty directory or file: never a walk into a mount
            }
            Files.deleteIfExists(own);
        } catch (NoSuchFileException e) {
            // gone meanwhile
        } catch (IOException e) {
            throw BerthException.internal("cannot remove the id-mapped mounts of container " + id, e);
        }
    }

    /** Releases the staging of every container not in {@code keep} (left by a crash); failures are logged. */
    public void releaseAllBut(Set<String> keep) {
        if (!Files.isDirectory(dir)) {
            return;
        }
        List<String> ids = new ArrayList<>();
        try (Stream<Path> s = Files.list(dir)) {
            s.map(p -> p.getFileName().toString()).filter(n -> n.matches("[0-9a-f]{64}") && !keep.contains(n)).forEach(ids::add);
        } catch (IOException e) {
            LOG.warn("cannot list {}: {}", dir, e.getMessage());
            return;
        }
        for (String id : ids) {
            LOG.info("removing the id-mapped mounts of container {}, which has no record", id);
            try {
                release(id);
            } catch (RuntimeException e) {
                LOG.error("cannot remove the id-mapped mounts of container {}: {}", id, e.getMessage());
            }
        }
    }

    private Path containerDir(String id) {
        if (!id.matches("[0-9a-f]{64}")) {
            throw BerthException.invalidArgument("invalid container id \"%s\"", id);
        }
        return dir.resolve(id);
    }

    /** A host path mount with mappings (an image volume's are left to the image volume's own mount). */
    static boolean idmapped(ContainerConfig.Mount m) {
        return !m.isImage() && (!m.uidMappings().isEmpty() || !m.gidMappings().isEmpty());
    }

    private static UserNamespaces.Mapping mapping(String containerPath, ContainerConfig.IdMapping x) {
        try {
            return new UserNamespaces.Mapping(x.containerId(), x.hostId(), x.length());
        } catch (BerthException e) {
            throw BerthException.invalidArgument("id-mapped mount %s: %s", containerPath, e.getMessage());
        }
    }

    private static Path realSource(ContainerConfig.Mount m) {
        try {
            return Path.of(m.hostPath()).toRealPath();
        } catch (IOException e) {
            throw BerthException.invalidArgument("mount source %s (for %s) does not exist", m.hostPath(), m.containerPath());
        }
    }

    /** Search-only for others: a runtime working as a user namespace's root must reach the staged mounts. */
    private static void mkdir(Path d) throws IOException {
        if (!Files.isDirectory(d)) {
            Files.createDirectories(d);
        }
        Files.setPosixFilePermissions(d, PosixFilePermissions.fromString("rwx--x--x"));
    }

    /** The spec's bind of {@code m} now binds {@code staged}. */
    private static void redirect(OciSpec spec, ContainerConfig.Mount m, Path source, Path staged) {
        String dest = Path.of(m.containerPath()).normalize().toString();
        for (int i = 0; i < spec.mounts.size(); i++) {
            OciSpec.Mount o = spec.mounts.get(i);
            if (Path.of(o.destination()).normalize().toString().equals(dest) && source.toString().equals(o.source())) {
                spec.mounts.set(i, new OciSpec.Mount(o.destination(), o.type(), staged.toString(), o.options()));
                return;
            }
        }
        throw BerthException.internal("the runtime spec has no bind of " + source + " at " + dest + " to idmap", null);
    }
}
