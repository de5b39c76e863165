package dev.berth.agent.server;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileVisitOption;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The bytes and inodes under a directory (its files' sizes, symlinks not followed, other
 * filesystems included as the walk finds them), each directory walked at most once every
 * {@code maxAge}: a pod's volumes and logs, which the summary reports without walking them on
 * every request. Entries not asked for during {@code maxAge} are dropped.
 */
public final class DirUsage {
    public record Usage(long bytes, long inodes) {
        public static final Usage NONE = new Usage(0, 0);
    }

    /** A volume's directory {@code <volumes>/<plugin>/<name>} and its usage. */
    public record Dir(String plugin, String name, Path path, Usage usage) {
    }

    private record Cached(long at, Usage usage) {
    }

    private final Duration maxAge;
    private final Clock clock;
    private final Map<Path, Cached> cache = new ConcurrentHashMap<>();

    public DirUsage(Duration maxAge, Clock clock) {
        this.maxAge = maxAge;
        this.clock = clock;
    }

    /** The usage under {@code dir}, {@link Usage#NONE} when it does not exist. */
    public Usage of(Path dir) {
        long now = clock.millis();
        Cached c = cache.get(dir);
        if (c != null && now - c.at() < maxAge.toMillis()) {
            return c.usage();
        }
        Usage u = walk(dir);
        cache.put(dir, new Cached(now, u));
        cache.values().removeIf(e -> now - e.at() > 2 * maxAge.toMillis());
        return u;
    }

    /** Every {@code <plugin>/<name>} directory under a pod's volumes directory, with its usage. */
    public List<Dir> volumes(Path volumesDir) {
        List<Dir> out = new ArrayList<>();
        if (!Files.isDirectory(volumesDir, LinkOption.NOFOLLOW_LINKS)) {
            return out;
        }
        try (DirectoryStream<Path> plugins = Files.newDirectoryStream(volumesDir)) {
            for (Path plugin : plugins) {
                if (!Files.isDirectory(plugin, LinkOption.NOFOLLOW_LINKS)) {
                    continue;
                }
                try (DirectoryStream<Path> volumes = Files.newDirectoryStream(plugin)) {
                    for (Path v : volumes) {
                        if (Files.isDirectory(v, LinkOption.NOFOLLOW_LINKS)) {
                            out.add(new Dir(plugin.getFileName().toString(), v.getFileName().toString(), v, of(v)));
                        }
                    }
                }
            }
        } catch (IOException e) {
            // a pod removed meanwhile: what was found
        }
        return out;
    }

    static Usage walk(Path dir) {
        long[] sum = new long[2];
        try {
            Files.walkFileTree(dir, EnumSet.noneOf(FileVisitOption.class), Integer.MAX_VALUE, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult preVisitDirectory(Path d, BasicFileAttributes attrs) {
                    sum[1]++;
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) {
                    sum[1]++;
                    if (attrs.isRegularFile()) {
                        sum[0] += attrs.size();
                    }
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult visitFileFailed(Path file, IOException e) {
                    return FileVisitResult.CONTINUE;
                }
            });
        } catch (IOException e) {
            return Usage.NONE;
        }
        return sum[1] == 0 ? Usage.NONE : new Usage(sum[0], sum[1]);
    }
}
