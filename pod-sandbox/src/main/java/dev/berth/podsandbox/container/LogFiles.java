package dev.berth.podsandbox.container;

import dev.berth.common.BerthException;
import dev.berth.common.PrivateFiles;
import dev.berth.podsandbox.sandbox.SandboxConfig;
import java.io.IOException;
import java.nio.file.FileSystemLoopException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;

/**
 * A container's CRI log file: where it is and how it comes to exist. The log path a client
 * names must stay inside the sandbox's log directory, and berth creates the file ({@code 0600},
 * never through a symbolic link) before conmon opens it, so that a link or a hard link planted
 * at the path cannot make conmon append the container's output to a file elsewhere.
 */
final class LogFiles {
    private LogFiles() {
    }

    /**
     * Checks a sandbox's log directory: empty, or absolute and clean (no {@code .} or
     * {@code ..} component, no NUL).
     *
     * @throws BerthException INVALID_ARGUMENT otherwise
     */
    static void checkDirectory(String logDirectory) {
        SandboxConfig.checkLogDirectory(logDirectory);
    }

    /**
     * The container's log file: the sandbox's log directory joined with the container's log
     * path, which must be relative and clean and name a file below the directory; without a log
     * directory the log path must be absolute and clean. "" when the container has no log path.
     *
     * @throws BerthException INVALID_ARGUMENT for any other log path
     */
    static String resolve(String logDirectory, String logPath) {
        if (logPath.isEmpty()) {
            return "";
        }
        checkDirectory(logDirectory);
        Path p = path(logPath, "log path");
        if (!clean(p)) {
            throw BerthException.invalidArgument("log path %s has a . or .. component", logPath);
        }
        if (logDirectory.isEmpty()) {
            if (!p.isAbsolute()) {
                throw BerthException.invalidArgument("log path %s is not absolute and the sandbox has no log directory", logPath);
            }
            return p.toString();
        }
        Path dir = Path.of(logDirectory);
        Path file = dir.resolve(p);
        if (p.isAbsolute() || !file.startsWith(dir) || file.equals(dir)) {
            throw BerthException.invalidArgument("log path %s leaves the sandbox's log directory", logPath);
        }
        return file.toString();
    }

    /**
     * Creates the log file {@code file} ({@code 0600}) if it is missing, and the directories
     * between {@code logDirectory} and it ({@code 0700}). No component below the log directory
     * may be a symbolic link, and an existing file must be a regular file with one link.
     *
     * @param logDirectory the sandbox's log directory, "" for none (then only the file itself
     *                     is checked)
     * @throws BerthException INVALID_ARGUMENT when a link or another kind of file is in the way
     */
    static void create(String logDirectory, Path file) {
        Path dir = logDirectory.isEmpty() ? file.getParent() : Path.of(logDirectory);
        try {
            PrivateFiles.createDirectories(dir);
            Path at = dir;
            for (Path name : dir.relativize(file.getParent())) {
                at = at.resolve(name);
                BasicFileAttributes a = attributes(at);
                if (a == null) {
                    PrivateFiles.directory(at);
                } else if (!a.isDirectory()) {
                    throw BerthException.invalidArgument("log path %s: %s is a %s, not a directory", file, at, kind(a));
                }
            }
            BasicFileAttributes a = attributes(file);
            if (a != null) {
                if (!a.isRegularFile()) {
                    throw BerthException.invalidArgument("log path %s is a %s, not a regular file", file, kind(a));
                }
                if (((Number) Files.getAttribute(file, "unix:nlink", LinkOption.NOFOLLOW_LINKS)).intValue() != 1) {
                    throw BerthException.invalidArgument("log path %s has other hard links", file);
                }
            }
            PrivateFiles.open(file, PrivateFiles.FILE, true, StandardOpenOption.APPEND).close();
        } catch (FileSystemLoopException e) {
            throw BerthException.invalidArgument("log path %s is a symbolic link", file);
        } catch (IOException e) {
            if (e.getMessage() != null && e.getMessage().contains("symbolic links")) {
                throw BerthException.invalidArgument("log path %s is a symbolic link", file);
            }
            throw BerthException.internal("cannot create the log file " + file, e);
        }
    }

    private static BasicFileAttributes attributes(Path p) throws IOException {
        try {
            return Files.readAttributes(p, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        } catch (NoSuchFileException e) {
            return null;
        }
    }

    private static String kind(BasicFileAttributes a) {
        return a.isSymbolicLink() ? "symbolic link" : a.isDirectory() ? "directory" : a.isRegularFile() ? "file" : "special file";
    }

    private static boolean clean(Path p) {
        for (Path name : p) {
            String n = name.toString();
            if (n.equals(".") || n.equals("..")) {
                return false;
            }
        }
        return true;
    }

    private static Path path(String s, String what) {
        try {
            return Path.of(s);
        } catch (InvalidPathException e) {
            throw BerthException.invalidArgument("%s %s is not a valid path", what, s.replace("\0", "\\0"));
        }
    }
}
