package dev.berth.cgroups;

import dev.berth.common.BerthException;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * What the OCI runtime does to berth's cgroups in production, done by hand for tests that have
 * no runtime: make a container's cgroup below its pod, put a process in it, kill what is in it.
 */
public final class TestCgroups {
    private TestCgroups() {
    }

    /** Every mounted hierarchy root (unified first). */
    public static List<Path> roots(CgroupLayout layout) {
        Set<Path> roots = new LinkedHashSet<>();
        if (layout.unifiedMount() != null) {
            roots.add(layout.unifiedMount());
        }
        roots.addAll(layout.v1Mounts().values());
        return new ArrayList<>(roots);
    }

    /**
     * Makes the cgroup {@code path} (resolved, "/a/b") in every hierarchy where its parent
     * exists, as the OCI runtime does: v1 cpuset copies its parent's cpus and mems; nothing is
     * delegated below it, processes live in it.
     */
    public static void mkdirContainer(CgroupLayout layout, String path) {
        Path cpuset = layout.onV1("cpuset") ? layout.v1Mounts().get(CgroupLayout.v1Name("cpuset")) : null;
        for (Path root : roots(layout)) {
            Path dir = root.resolve(path.substring(1));
            if (Files.isDirectory(dir.getParent())) {
                try {
                    Files.createDirectories(dir);
                } catch (IOException e) {
                    throw new IllegalStateException("cannot create " + dir, e);
                }
                if (root.equals(cpuset)) {
                    new CpusetController(true).prepare(dir);
                }
            }
        }
    }

    /** The cgroup's directories that exist, one per hierarchy (a process joins by writing its pid to each cgroup.procs). */
    public static List<Path> directories(CgroupLayout layout, String path) {
        List<Path> out = new ArrayList<>();
        for (Path root : roots(layout)) {
            Path dir = "/".equals(path) ? root : root.resolve(path.substring(1));
            if (Files.isDirectory(dir)) {
                out.add(dir);
            }
        }
        return out;
    }

    /** SIGKILLs every process in the resolved cgroup {@code path} and below, in any hierarchy, until none is left. */
    public static void killAll(CgroupLayout layout, String path) {
        long self = ProcessHandle.current().pid();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (true) {
            Set<Long> pids = new LinkedHashSet<>();
            for (Path dir : directories(layout, path)) {
                collectPids(dir, pids);
            }
            pids.remove(self);
            pids.removeIf(pid -> ProcessHandle.of(pid).map(h -> !h.isAlive()).orElse(true) || zombie(pid));
            if (pids.isEmpty()) {
                return;
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("processes " + pids + " of cgroup " + path + " survived SIGKILL");
            }
            for (long pid : pids) {
                ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
            }
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
        }
    }

    private static void collectPids(Path dir, Set<Long> into) {
        String procs = CgroupFiles.readStringIfPresent(dir.resolve("cgroup.procs"));
        if (procs != null && !procs.isEmpty()) {
            for (String line : procs.split("\n")) {
                into.add(Long.parseLong(line.trim()));
            }
        }
        try (DirectoryStream<Path> children = Files.newDirectoryStream(dir, Files::isDirectory)) {
            for (Path child : children) {
                collectPids(child, into);
            }
        } catch (NoSuchFileException e) {
            // removed concurrently
        } catch (IOException e) {
            throw BerthException.internal("cannot list " + dir, e);
        }
    }

    private static boolean zombie(long pid) {
        String stat = CgroupFiles.readStringIfPresent(Path.of("/proc", Long.toString(pid), "stat"));
        if (stat == null) {
            return true;
        }
        int paren = stat.lastIndexOf(')');
        return paren > 0 && paren + 2 < stat.length() && (stat.charAt(paren + 2) == 'Z' || stat.charAt(paren + 2) == 'X');
    }
}
