package dev.berth.podsandbox.container.spec;

import dev.berth.common.BerthException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

/** Device nodes on the host, read with their major/minor numbers. */
public final class Devices {
    private static final int S_IFMT = 0170000;
    private static final int S_IFCHR = 0020000;
    private static final int S_IFBLK = 0060000;
    /** Directories under /dev that are container-private (pts, shm, mqueue) or not devices. */
    private static final Set<String> SKIP = Set.of("pts", "shm", "mqueue", "fd", "console", "ptmx");

    private Devices() {
    }

    /** The device at {@code hostPath} (symlinks followed) as it appears at {@code containerPath}. */
    public static OciSpec.LinuxDevice read(Path hostPath, String containerPath) {
        try {
            Path real = hostPath.toRealPath();
            int mode = (Integer) Files.getAttribute(real, "unix:mode");
            long rdev = (Long) Files.getAttribute(real, "unix:rdev");
            String type;
            if ((mode & S_IFMT) == S_IFCHR) {
                type = "c";
            } else if ((mode & S_IFMT) == S_IFBLK) {
                type = "b";
            } else {
                throw BerthException.invalidArgument("%s is not a device node", hostPath);
            }
            long major = ((rdev >>> 8) & 0xfff) | ((rdev >>> 32) & ~0xfffL);
            long minor = (rdev & 0xff) | ((rdev >>> 12) & ~0xffL);
            int uid = (Integer) Files.getAttribute(real, "unix:uid");
            int gid = (Integer) Files.getAttribute(real, "unix:gid");
            return new OciSpec.LinuxDevice(containerPath, type, major, minor, mode & 07777, (long) uid, (long) gid);
        } catch (NoSuchFileException e) {
            throw BerthException.invalidArgument("device %s does not exist", hostPath);
        } catch (IOException e) {
            throw BerthException.invalidArgument("cannot read device %s: %s", hostPath, e.getMessage());
        }
    }

    /** Every device node under {@code dev} (not following symlinks), for privileged containers. */
    public static List<OciSpec.LinuxDevice> hostDevices(Path dev) {
        List<OciSpec.LinuxDevice> out = new ArrayList<>();
        try (Stream<Path> walk = Files.walk(dev)) {
            walk.filter(p -> !p.equals(dev))
                    .filter(p -> !SKIP.contains(dev.relativize(p).getName(0).toString()))
                    .filter(p -> Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS) == false
                            && !Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)
                            && !Files.isSymbolicLink(p))
                    .forEach(p -> {
                        try {
                            out.add(read(p, p.toString()));
                        } catch (BerthException e) {
                            // sockets, fifos: not devices
                        }
                    });
        } catch (IOException | java.io.UncheckedIOException e) {
            // a device vanished while walking: use what we have
        }
        return out;
    }
}
