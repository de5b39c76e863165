package dev.berth.networking.cni;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The CNI configuration directory, read the way CNI's reference library does: files ending in
 * {@code .conflist}, {@code .conf} or {@code .json}, sorted by name; the first one that parses
 * into a valid network wins. Each {@link #current()} lists the directory and compares names,
 * sizes, inodes and modification times with the last look, so a network that appears or
 * changes is used for the next pod without a restart and an unchanged directory costs one
 * listing.
 */
final class CniConfigDirectory {
    private final Path dir;
    private volatile Snapshot last;

    CniConfigDirectory(Path dir) {
        this.dir = dir;
    }

    Path dir() {
        return dir;
    }

    /** What the directory holds now: the chosen network (if any) and why other files were skipped. */
    record Snapshot(Optional<NetworkConfigList> network, List<String> problems, int candidateFiles, String signature) {
    }

    Snapshot current() {
        List<Path> files = candidates();
        String signature = signature(files);
        Snapshot s = last;
        if (s != null && s.signature().equals(signature)) {
            return s;
        }
        s = load(files, signature);
        last = s;
        return s;
    }

    /** The config files, sorted by name. */
    List<Path> candidates() {
        List<Path> out = new ArrayList<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
            for (Path p : ds) {
                String n = p.getFileName().toString();
                if ((n.endsWith(".conflist") || n.endsWith(".conf") || n.endsWith(".json")) && !n.startsWith(".")) {
                    out.add(p);
                }
            }
        } catch (NoSuchFileException e) {
            return List.of();
        } catch (IOException e) {
            return List.of();
        }
        out.sort((a, b) -> a.getFileName().toString().compareTo(b.getFileName().toString()));
        return out;
    }

    private static String signature(List<Path> files) {
        StringBuilder sb = new StringBuilder();
        for (Path p : files) {
            sb.append(p.getFileName()).append('|');
            try {
                BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class);
                sb.append(a.size()).append('|').append(a.lastModifiedTime().toInstant()).append('|').append(a.fileKey());
            } catch (IOException e) {
                sb.append("unreadable");
            }
            sb.append('\n');
        }
        return sb.toString();
    }

    private Snapshot load(List<Path> files, String signature) {
        List<String> problems = new ArrayList<>();
        for (Path p : files) {
            if (Files.isDirectory(p)) {
                continue;
            }
            byte[] bytes;
            try {
                bytes = Files.readAllBytes(p);
            } catch (IOException e) {
                problems.add("cannot read " + p + ": " + e.getMessage());
                continue;
            }
            try {
                NetworkConfigList net = NetworkConfigList.parse(bytes, p.getFileName().toString().endsWith(".conflist"), p.toString());
                return new Snapshot(Optional.of(net), List.copyOf(problems), files.size(), signature);
            } catch (NetworkConfigList.InvalidConfig e) {
                problems.add("file " + p + " " + e.getMessage());
            }
        }
        return new Snapshot(Optional.empty(), List.copyOf(problems), files.size(), signature);
    }
}
