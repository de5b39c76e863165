package dev.berth.podsandbox.idmap;

import dev.berth.host.IdmappedMounts;
import java.nio.file.Path;

/**
 * Idmapped bind mounts for a pod in a user namespace of its own: what lies on disk as owned by
 * host id N appears, through the mount, as owned by N's image in the pod's namespace (root-owned
 * files as the pod's root). {@link #HOST} is {@code host}'s {@link IdmappedMounts}; tests hand in
 * their own.
 */
public interface IdMapper {
    IdMapper HOST = new IdMapper() {
        @Override
        public boolean supported(Path dir) {
            return IdmappedMounts.supported(dir);
        }

        @Override
        public void bind(Path source, Path target, Path usernsPath, boolean recursive) {
            IdmappedMounts.bind(source, target, usernsPath, recursive);
        }

        @Override
        public void unmount(Path target) {
            IdmappedMounts.unmount(target);
        }
    };

    /** None supported: every caller takes its chown fallback. */
    IdMapper NONE = new IdMapper() {
        @Override
        public boolean supported(Path dir) {
            return false;
        }

        @Override
        public void bind(Path source, Path target, Path usernsPath, boolean recursive) {
            throw new UnsupportedOperationException("no idmapped mounts");
        }

        @Override
        public void unmount(Path target) {
        }
    };

    /** Whether an idmapped mount can be made of {@code dir}'s filesystem (asked of the kernel once per filesystem). */
    boolean supported(Path dir);

    /** An idmapped bind mount of {@code source} at {@code target} (an existing directory or file) through the user namespace pinned at {@code usernsPath}. */
    void bind(Path source, Path target, Path usernsPath, boolean recursive);

    void unmount(Path target);
}
