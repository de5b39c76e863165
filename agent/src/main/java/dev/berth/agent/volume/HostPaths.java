package dev.berth.agent.volume;

import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * The type checks of a hostPath volume, as the kubelet makes them before a pod's containers
 * start: {@code ""} checks nothing; DirectoryOrCreate and FileOrCreate create what is missing
 * (a directory {@code 0755} with its parents, an empty file {@code 0644} in an existing
 * directory); the others require the path to exist and be of that type, symbolic links
 * followed.
 */
final class HostPaths {
    private HostPaths() {
    }

    static void check(String path, String type) {
        if (path == null || !path.startsWith("/")) {
            throw new VolumeException("hostPath \"" + path + "\" is not absolute");
        }
        Path p = Path.of(path);
        String t = type == null ? "" : type;
        try {
            switch (t) {
                case "" -> {
                }
                case "DirectoryOrCreate" -> {
                    if (!Files.exists(p)) {
                        Files.createDirectories(p, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwxr-xr-x")));
                    }
                    require(p, "directory", Files.isDirectory(p));
                }
                case "Directory" -> require(p, "directory", Files.isDirectory(p));
                case "FileOrCreate" -> {
                    if (!Files.exists(p)) {
                        try {
                            Files.createFile(p, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-r--r--")));
                        } catch (FileAlreadyExistsException e) {
                            // made meanwhile: checked below
                        }
                    }
                    require(p, "file", Files.isRegularFile(p));
                }
                case "File" -> require(p, "file", Files.isRegularFile(p));
                case "Socket" -> require(p, "socket", "s".equals(kind(p)));
                case "CharDevice" -> require(p, "character device", "c".equals(kind(p)));
                case "BlockDevice" -> require(p, "block device", "b".equals(kind(p)));
                default -> throw new VolumeException("hostPath " + path + ": unknown type \"" + t + "\"");
            }
        } catch (NoSuchFileException e) {
            throw new VolumeException("hostPath type check failed: " + path + " cannot be created: " + e.getFile() + " does not exist");
        } catch (IOException e) {
            throw new VolumeException("hostPath type check failed: " + path + ": " + e);
        }
    }

    private static void require(Path p, String what, boolean ok) {
        if (!ok) {
            throw new VolumeException("hostPath type check failed: " + p + " is not a " + what);
        }
    }

    /** "s", "c", "b" or something else for what {@code p} is (links followed); missing: "". */
    private static String kind(Path p) throws IOException {
        if (!Files.exists(p)) {
            return "";
        }
        int mode = (Integer) Files.getAttribute(p, "unix:mode");
        return switch (mode & 0170000) {
            case 0140000 -> "s";
            case 0020000 -> "c";
            case 0060000 -> "b";
            default -> "?";
        };
    }
}
