package dev.berth.host;

import dev.berth.common.BerthException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/** The mounts the kernel reports for berth's own mount namespace (/proc/self/mountinfo). */
public final class MountTable {
    /** One line of mountinfo: mount point, filesystem type, source, and the optional fields (propagation). */
    public record Mount(Path mountPoint, String fsType, String source, String optionalFields) {
        public boolean shared() {
            return optionalFields.contains("shared:");
        }
    }

    private static final Path MOUNTINFO = Path.of("/proc/self/mountinfo");

    private MountTable() {
    }

    public static List<Mount> read() {
        List<String> lines;
        try {
            lines = Files.readAllLines(MOUNTINFO);
        } catch (IOException e) {
            throw BerthException.internal("cannot read " + MOUNTINFO, e);
        }
        List<Mount> mounts = new ArrayList<>(lines.size());
        for (String line : lines) {
            String[] f = line.split(" ");
            int dash = indexOf(f, "-");
            if (f.length < 7 || dash < 6 || dash + 2 >= f.length) {
                continue;
            }
            StringBuilder optional = new StringBuilder();
            for (int i = 6; i < dash; i++) {
                optional.append(f[i]).append(' ');
            }
            mounts.add(new Mount(Path.of(unescape(f[4])), f[dash + 1], unescape(f[dash + 2]), optional.toString().strip()));
        }
        return mounts;
    }

    /** Mount points at or below {@code dir}, deepest first (the order they must be unmounted in). */
    public static List<Path> mountPointsUnder(Path dir) {
        Path base = dir.toAbsolutePath().normalize();
        return read().stream().map(Mount::mountPoint).filter(p -> p.startsWith(base)).distinct()
                .sorted(Comparator.comparingInt(Path::getNameCount).reversed()).toList();
    }

    /** Number of mounts at or below {@code dir}, mounts stacked on one point counted one by one. */
    public static int mountCountUnder(Path dir) {
        Path base = dir.toAbsolutePath().normalize();
        return (int) read().stream().filter(m -> m.mountPoint().startsWith(base)).count();
    }

    public static boolean isMountPoint(Path path) {
        Path p = path.toAbsolutePath().normalize();
        return read().stream().anyMatch(m -> m.mountPoint().equals(p));
    }

    /** The mount that holds {@code path} (the longest mount point that is a prefix of it). */
    public static Mount containing(Path path) {
        Path p = path.toAbsolutePath().normalize();
        Mount best = null;
        for (Mount m : read()) {
            if (p.startsWith(m.mountPoint()) && (best == null || m.mountPoint().getNameCount() >= best.mountPoint().getNameCount())) {
                best = m;
            }
        }
        return best;
    }

    private static int indexOf(String[] fields, String value) {
        for (int i = 0; i < fields.length; i++) {
            if (fields[i].equals(value)) {
                return i;
            }
        }
        return -1;
    }

    /** mountinfo writes space, tab, newline and backslash as three-digit octal escapes. */
    static String unescape(String s) {
        if (s.indexOf('\\') < 0) {
            return s;
        }
        StringBuilder b = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && isOctal(s, i + 1)) {
                b.append((char) Integer.parseInt(s.substring(i + 1, i + 4), 8));
                i += 3;
            } else {
                b.append(c);
            }
        }
        return b.toString();
    }

    private static boolean isOctal(String s, int from) {
        if (from + 3 > s.length()) {
            return false;
        }
        for (int i = from; i < from + 3; i++) {
            char c = s.charAt(i);
            if (c < '0' || c > '7') {
                return false;
            }
        }
        return true;
    }
}
