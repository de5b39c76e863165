package dev.berth.podsandbox.host;

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
     * Unmounts everything mounted at or below {@code dir}, deepest first; falls back to a lazy
     * unmount for a busy one. Idempotent: nothing mounted is success.
     */
    public static void unmountAllUnder(Path dir) {
        List<Path> points = MountTable.mountPointsUnder(dir);
        if (points.isEmpty()) {
            return;
        }
        List<String> argv = new ArrayList<>(List.of("umount"));
        points.forEach(p -> argv.add(p.toString()));
        if (!Command.run(argv).ok()) {
            for (Path p : MountTable.mountPointsUnder(dir)) {
                Command.Result r = Command.run("umount", "--lazy", p.toString());
                if (!r.ok() && MountTable.isMountPoint(p)) {
                    throw BerthException.internal("cannot unmount " + p + ": " + r.stderr().strip(), null);
                }
            }
        }
        List<Path> left = MountTable.mountPointsUnder(dir);
        if (!left.isEmpty()) {
            throw BerthException.internal("mounts are left under " + dir + ": " + left, null);
        }
    }
}
