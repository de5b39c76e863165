package dev.berth.host;

import dev.berth.common.BerthException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Mount and unmount through util-linux mount(8)/umount(8). */
public final class Mounts {
    private Mounts() {
    }

    /** Makes {@code dir} a private bind mount of itself, so that what is mounted below it does not propagate. */
    public static void bindPrivate(Path dir) {
        Command.check("mount", "--bind", "--make-private", dir.toString(), dir.toString());
    }

    public static void tmpfs(Path target, String options) {
        Command.check("mount", "-t", "tmpfs", "-o", options, "shm", target.toString());
    }

    /**
     * Unmounts everything mounted at or below {@code dir}, deepest first, including mounts
     * stacked on one mount point; falls back to a lazy unmount for a busy one. Idempotent:
     * nothing mounted is success.
     */
    public static void unmountAllUnder(Path dir) {
        int before = MountTable.mountCountUnder(dir);
        while (before > 0) {
            List<String> argv = new ArrayList<>(List.of("umount"));
            MountTable.mountPointsUnder(dir).forEach(p -> argv.add(p.toString()));
            if (!Command.run(argv).ok()) {
                for (Path p : MountTable.mountPointsUnder(dir)) {
                    Command.run("umount", "--lazy", p.toString());
                }
            }
            int now = MountTable.mountCountUnder(dir);
            if (now >= before) {
                throw BerthException.internal("cannot unmount everything under " + dir + ": still mounted: "
                        + MountTable.mountPointsUnder(dir), null);
            }
            before = now;
        }
    }
}
