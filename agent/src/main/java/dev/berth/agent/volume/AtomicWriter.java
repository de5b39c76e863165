package dev.berth.agent.volume;

import dev.berth.common.PrivateFiles;
import dev.berth.common.Trees;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

/**
 * Writes the files of a configMap, secret, downwardAPI or projected volume so that a container
 * sees the old content or the new, never a mix: the files go into a new timestamped directory
 * {@code ..<time>.<random>}, a symbolic link {@code ..data} is pointed at it by one rename,
 * and each top-level name of the volume is a link to {@code ..data/<name>}. The previous
 * timestamped directory (and any a crash left) is removed afterwards. Item paths are checked
 * first: relative, without {@code ..} elements, not starting with {@code ..} (the names the
 * writer keeps for itself).
 */
public final class AtomicWriter {
    static final String DATA = "..data";
    static final String DATA_TMP = "..data_tmp";
    static final Set<PosixFilePermission> DIRECTORY = PosixFilePermissions.fromString("rwxr-xr-x");
    private static final DateTimeFormatter STAMP = DateTimeFormatter.ofPattern("yyyy_MM_dd_HH_mm_ss");
    private static final int MAX_PATH = 4096;

    /** One file of the volume: its bytes and its mode (permission bits only). */
    public record FileContent(byte[] data, int mode) {
        @Override
        public boolean equals(Object o) {
            return o instanceof FileContent f && f.mode == mode && Arrays.equals(f.data, data);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(data) * 31 + mode;
        }

        @Override
        public String toString() {
            return data.length + " bytes, mode " + Integer.toOctalString(mode);
        }
    }

    private AtomicWriter() {
    }

    /**
     * Makes {@code dir} (which must exist) hold exactly {@code payload}, by relative path.
     * Returns false when it held it already (nothing written).
     * @throws VolumeException for a hostile path or a write that failed
     */
    public static boolean write(Path dir, Map<String, FileContent> payload) {
        for (String p : payload.keySet()) {
            checkPath(p);
        }
        try {
            Path data = dir.resolve(DATA);
            Path current = Files.isSymbolicLink(data) ? dir.resolve(Files.readSymbolicLink(data)) : null;
            if (current != null && Files.isDirectory(current, LinkOption.NOFOLLOW_LINKS) && read(current).equals(payload)) {
                if (linkNames(dir, payload)) {
                    return false;
                }
            }
            String stamp = ".." + STAMP.format(ZonedDateTime.now(ZoneOffset.UTC)) + ".";
            Path fresh = Files.createTempDirectory(dir, stamp, PosixFilePermissions.asFileAttribute(DIRECTORY));
            Files.setPosixFilePermissions(fresh, DIRECTORY);
            for (Map.Entry<String, FileContent> e : payload.entrySet()) {
                Path file = fresh.resolve(e.getKey());
                createDirectories(fresh, file.getParent());
                PrivateFiles.write(file, e.getValue().data(), permissions(e.getValue().mode()));
            }
            Path tmp = dir.resolve(DATA_TMP);
            Files.deleteIfExists(tmp);
            Files.createSymbolicLink(tmp, fresh.getFileName());
            Files.move(tmp, data, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            linkNames(dir, payload);
            removeStale(dir, fresh.getFileName().toString());
            return true;
        } catch (IOException e) {
            throw new VolumeException("cannot write the files of volume " + dir.getFileName() + ": " + e, e);
        }
    }

    /** A relative path inside the volume: not empty, not absolute, no {@code ..} element, not starting with {@code ..}. */
    public static void checkPath(String p) {
        if (p == null || p.isEmpty() || p.length() > MAX_PATH || p.startsWith("/") || p.indexOf('\0') >= 0 || p.startsWith("..")) {
            throw new VolumeException("invalid path in volume: \"" + p + "\" (must be relative, must not start with '..')");
        }
        for (String element : p.split("/")) {
            if (element.equals("..")) {
                throw new VolumeException("invalid path in volume: \"" + p + "\" (must not contain '..')");
            }
        }
    }

    /** Links each top-level name of the payload to {@code ..data/<name>} and removes links of names that went; true if none changed. */
    private static boolean linkNames(Path dir, Map<String, FileContent> payload) throws IOException {
        Set<String> names = new HashSet<>();
        for (String p : payload.keySet()) {
            names.add(Path.of(p).normalize().getName(0).toString());
        }
        boolean unchanged = true;
        for (String name : names) {
            Path link = dir.resolve(name);
            Path target = Path.of(DATA, name);
            if (Files.isSymbolicLink(link) && Files.readSymbolicLink(link).equals(target)) {
                continue;
            }
            unchanged = false;
            Files.deleteIfExists(link);
            Files.createSymbolicLink(link, target);
        }
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
            for (Path p : ds) {
                String n = p.getFileName().toString();
                if (!n.startsWith("..") && !names.contains(n) && Files.isSymbolicLink(p)) {
                    unchanged = false;
                    Files.delete(p);
                }
            }
        }
        return unchanged;
    }

    /** Removes every timestamped directory but {@code keep}, and a {@code ..data_tmp} a crash left. */
    private static void removeStale(Path dir, String keep) throws IOException {
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
            for (Path p : ds) {
                String n = p.getFileName().toString();
                if (n.startsWith("..") && !n.equals(keep) && !n.equals(DATA)) {
                    if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
                        Trees.deleteRecursively(p);
                    } else {
                        Files.deleteIfExists(p);
                    }
                }
            }
        }
    }

    /** The files under {@code root} by relative path. */
    static Map<String, FileContent> read(Path root) throws IOException {
        Map<String, FileContent> out = new HashMap<>();
        Files.walkFileTree(root, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                int mode = 0;
                for (PosixFilePermission p : Files.getPosixFilePermissions(file, LinkOption.NOFOLLOW_LINKS)) {
                    mode |= 1 << (8 - p.ordinal());
                }
                out.put(root.relativize(file).toString(), new FileContent(attrs.isRegularFile() ? Files.readAllBytes(file) : new byte[0],
                        attrs.isRegularFile() ? mode : -1));
                return FileVisitResult.CONTINUE;
            }
        });
        return out;
    }

    private static void createDirectories(Path root, Path dir) throws IOException {
        if (dir.equals(root) || Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        createDirectories(root, dir.getParent());
        Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(DIRECTORY));
        Files.setPosixFilePermissions(dir, DIRECTORY);
    }

    /** Permission bits as a set ({@code 0644} → rw-r--r--). */
    static Set<PosixFilePermission> permissions(int mode) {
        Set<PosixFilePermission> s = new HashSet<>();
        PosixFilePermission[] all = PosixFilePermission.values(); // OWNER_READ first, OTHERS_EXECUTE last
        for (int i = 0; i < 9; i++) {
            if ((mode & (1 << (8 - i))) != 0) {
                s.add(all[i]);
            }
        }
        return s;
    }
}
