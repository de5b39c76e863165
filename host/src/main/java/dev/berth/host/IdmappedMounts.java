package dev.berth.host;

import dev.berth.common.BerthException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import jnr.ffi.Memory;
import jnr.ffi.Platform;
import jnr.ffi.Pointer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Idmapped bind mounts (Linux 5.12): a clone of a mount, detached ({@code open_tree} with
 * {@code OPEN_TREE_CLONE}), given a user namespace's id mapping ({@code mount_setattr} with
 * {@code MOUNT_ATTR_IDMAP}) and then attached ({@code move_mount}). Through it a file owned by
 * host uid H shows as owned by the id the namespace maps H to (uid 100000 as 0 through a
 * mapping 0:100000:65536), and files made through it are owned by the mapped-back host id.
 * Whether a filesystem allows it is found by trying ({@link #supported}): the kernel refuses
 * it for filesystems without {@code FS_ALLOW_IDMAP} (proc, overlayfs, 9p; tmpfs before 6.3).
 */
public final class IdmappedMounts {
    private static final Logger LOG = LoggerFactory.getLogger(IdmappedMounts.class);

    /**
     * Per filesystem (st_dev and type: an anonymous device number of a filesystem unmounted may
     * come back for one of another type): whether the kernel makes idmapped mounts of it.
     */
    private static final Map<String, Boolean> SUPPORT = new ConcurrentHashMap<>();
    /** The probe's namespace maps ids onto themselves: any mapping will do to ask the kernel. */
    private static final List<UserNamespaces.Mapping> IDENTITY = List.of(new UserNamespaces.Mapping(0, 0, 0xFFFF_FFFFL));

    private IdmappedMounts() {
    }

    /** The syscall numbers used are those of the table shared by these architectures. */
    private static boolean knownArchitecture() {
        Platform.CPU cpu = Platform.getNativePlatform().getCPU();
        return cpu == Platform.CPU.X86_64 || cpu == Platform.CPU.AARCH64;
    }

    /**
     * Whether an idmapped mount can be made of the filesystem holding {@code dir}: tried once per
     * filesystem on a detached clone of {@code dir} (nothing is attached), then remembered. False
     * when the kernel lacks the calls (ENOSYS) or the filesystem refuses (EINVAL).
     *
     * @throws BerthException when {@code dir} cannot be opened (missing, say)
     */
    public static boolean supported(Path dir) {
        if (!knownArchitecture()) {
            return false;
        }
        String dev;
        try {
            MountTable.Mount fs = MountTable.containing(dir.toRealPath());
            dev = ((Number) Files.getAttribute(dir, "unix:dev")).longValue() + " " + (fs == null ? "?" : fs.fsType());
        } catch (IOException e) {
            throw BerthException.fromIo("cannot stat", dir, e);
        }
        Boolean known = SUPPORT.get(dev);
        if (known != null) {
            return known;
        }
        Libc.C c = Libc.c();
        int tree = (int) c.syscall(Libc.SYS_OPEN_TREE, Libc.AT_FDCWD, dir.toString(), Libc.OPEN_TREE_CLONE | Libc.OPEN_TREE_CLOEXEC);
        if (tree < 0) {
            int errno = Libc.errno();
            if (errno == Libc.ENOSYS) {
                SUPPORT.put(dev, false);
                return false;
            }
            throw BerthException.internal("cannot clone the mount of " + dir + " (open_tree): " + Libc.describe(errno), null);
        }
        try (UserNamespaces.Handle ns = UserNamespaces.create(IDENTITY, IDENTITY)) {
            int errno = setIdmap(tree, ns.fd(), false);
            if (errno == 0 || errno == Libc.EINVAL || errno == Libc.ENOSYS) {
                SUPPORT.put(dev, errno == 0);
                return errno == 0;
            }
            LOG.warn("idmapped mounts of {} refused: {}", dir, Libc.describe(errno));
            return false; // not remembered: EPERM, say, is not a property of the filesystem
        } finally {
            c.close(tree);
        }
    }

    /**
     * Mounts {@code source} at {@code target} (an existing directory or file), idmapped with the
     * user namespace opened from {@code usernsPath} ({@code /proc/PID/ns/user}, a pin of one, or
     * {@link UserNamespaces.Handle#path()}); with {@code recursive}, its submounts too (all of
     * which must allow idmapping). The namespace may end after this: the mount keeps it.
     *
     * @throws BerthException naming the step the kernel refused; INVALID_ARGUMENT when the
     *         filesystem of {@code source} (or, recursive, of a submount) does not allow idmapping
     */
    public static void bind(Path source, Path target, Path usernsPath, boolean recursive) {
        if (!knownArchitecture()) {
            throw BerthException.failedPrecondition("idmapped mounts are not supported on %s", Platform.getNativePlatform().getCPU());
        }
        Libc.C c = Libc.c();
        int recursiveFlag = recursive ? Libc.AT_RECURSIVE : 0;
        int tree = (int) c.syscall(Libc.SYS_OPEN_TREE, Libc.AT_FDCWD, source.toString(),
                Libc.OPEN_TREE_CLONE | Libc.OPEN_TREE_CLOEXEC | recursiveFlag);
        if (tree < 0) {
            throw fail("clone the mount of " + source + " (open_tree)", Libc.errno());
        }
        try {
            int ns = c.open(usernsPath.toString(), Libc.O_RDONLY | Libc.O_CLOEXEC);
            if (ns < 0) {
                throw fail("open the user namespace " + usernsPath, Libc.errno());
            }
            int errno;
            try {
                errno = setIdmap(tree, ns, recursive);
            } finally {
                c.close(ns);
            }
            if (errno == Libc.EINVAL) {
                throw BerthException.invalidArgument("cannot idmap the mount of %s (mount_setattr): %s: its filesystem%s"
                        + " does not allow idmapped mounts", source, Libc.describe(errno), recursive ? " or a submount's" : "");
            }
            if (errno != 0) {
                throw fail("idmap the mount of " + source + " (mount_setattr)", errno);
            }
            if (c.syscall(Libc.SYS_MOVE_MOUNT, tree, "", Libc.AT_FDCWD, target.toString(), Libc.MOVE_MOUNT_F_EMPTY_PATH) != 0) {
                throw fail("attach the idmapped mount of " + source + " at " + target + " (move_mount)", Libc.errno());
            }
        } finally {
            c.close(tree); // a clone never attached goes with its last descriptor
        }
    }

    /** Unmounts {@code target} (lazily when busy); nothing to do when it is no mount point (any more). */
    public static void unmount(Path target) {
        LinuxMounts.INSTANCE.unmount(target);
    }

    /** mount_setattr(MOUNT_ATTR_IDMAP) on a detached mount; 0 or the errno. */
    private static int setIdmap(int tree, int usernsFd, boolean recursive) {
        Pointer attr = Memory.allocateDirect(Libc.runtime(), Libc.MOUNT_ATTR_SIZE, true);
        attr.putLong(0, Libc.MOUNT_ATTR_IDMAP); // attr_set
        attr.putLong(8, 0); // attr_clr
        attr.putLong(16, 0); // propagation: unchanged
        attr.putLong(24, usernsFd); // userns_fd
        int flags = Libc.AT_EMPTY_PATH | (recursive ? Libc.AT_RECURSIVE : 0);
        return Libc.c().syscall(Libc.SYS_MOUNT_SETATTR, tree, "", flags, attr, Libc.MOUNT_ATTR_SIZE) == 0 ? 0 : Libc.errno();
    }

    private static BerthException fail(String what, int errno) {
        String why = errno == Libc.EINVAL ? " (the filesystem may not allow idmapped mounts)"
                : errno == Libc.ENOSYS ? " (the kernel has no idmapped mounts)" : "";
        return BerthException.internal("cannot " + what + ": " + Libc.describe(errno) + why, null);
    }
}
