package dev.berth.host.testing;

import dev.berth.common.BerthException;
import dev.berth.host.HostMounts;
import dev.berth.host.MountTable;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * An in-memory mount table: mounts are recorded, stacked and removed as the kernel would, and
 * {@link #mounted()} shows what is left, so a test can assert that nothing leaked. A test can
 * make the next mount of a kind fail ({@link #failNext}).
 */
public final class FakeMounts implements HostMounts {
    private final List<MountTable.Mount> table = new ArrayList<>();
    private String failNext;

    /** Every mount, in the order they were made. */
    public synchronized List<MountTable.Mount> mounted() {
        return List.copyOf(table);
    }

    /** Makes the next mount of {@code fsType} ("bind", "tmpfs", "overlay", "nsfs") fail. */
    public synchronized void failNext(String fsType) {
        this.failNext = fsType;
    }

    /** Records a mount made outside berth (a shared mount holding berth's directories, say). */
    public synchronized void add(MountTable.Mount m) {
        table.add(new MountTable.Mount(normal(m.mountPoint()), m.fsType(), m.source(), m.optionalFields()));
    }

    /** What {@code FakeNamespaces} uses to record a pin. */
    synchronized void mount(Path target, String fsType, String source) {
        if (fsType.equals(failNext)) {
            failNext = null;
            throw BerthException.internal("cannot mount " + fsType + " on " + target + ": injected failure", null);
        }
        table.add(new MountTable.Mount(normal(target), fsType, source, ""));
    }

    @Override
    public void bindPrivate(Path dir) {
        mount(dir, "bind", dir.toString());
    }

    @Override
    public void tmpfs(String source, Path target, String options) {
        mount(target, "tmpfs", source);
    }

    @Override
    public void overlay(Path target, String options) {
        mount(target, "overlay", "overlay");
    }

    @Override
    public synchronized void unmount(Path target) {
        Path t = normal(target);
        for (int i = table.size() - 1; i >= 0; i--) {
            if (table.get(i).mountPoint().equals(t)) {
                table.remove(i);
                return;
            }
        }
    }

    @Override
    public synchronized void unmountAllUnder(Path dir) {
        Path base = normal(dir);
        table.removeIf(m -> m.mountPoint().startsWith(base));
    }

    @Override
    public synchronized List<Path> mountPointsUnder(Path dir) {
        Path base = normal(dir);
        return table.stream().map(MountTable.Mount::mountPoint).filter(p -> p.startsWith(base)).distinct()
                .sorted(Comparator.comparingInt(Path::getNameCount).reversed()).toList();
    }

    @Override
    public synchronized int mountCountUnder(Path dir) {
        Path base = normal(dir);
        return (int) table.stream().filter(m -> m.mountPoint().startsWith(base)).count();
    }

    @Override
    public synchronized boolean isMountPoint(Path path) {
        Path p = normal(path);
        return table.stream().anyMatch(m -> m.mountPoint().equals(p));
    }

    @Override
    public synchronized MountTable.Mount containing(Path path) {
        Path p = normal(path);
        MountTable.Mount best = null;
        for (MountTable.Mount m : table) {
            if (p.startsWith(m.mountPoint()) && (best == null || m.mountPoint().getNameCount() >= best.mountPoint().getNameCount())) {
                best = m;
            }
        }
        return best;
    }

    private static Path normal(Path p) {
        return p.toAbsolutePath().normalize();
    }
}
