package dev.berth.cgroups;

import static dev.berth.cgroups.ControllerBindings.dir;

import dev.berth.common.BerthException;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * The directories of berth's cgroups: creates a path in every hierarchy berth uses (delegating
 * berth's v2 controllers on the way down) and removes a path from every mounted hierarchy.
 * Only directories under paths berth was asked to create are created or removed.
 */
final class CgroupTree {
    private static final long DRAIN_TIMEOUT_NANOS = TimeUnit.SECONDS.toNanos(10);

    private final ControllerBindings bindings;

    CgroupTree(ControllerBindings bindings) {
        this.bindings = bindings;
    }

    void requireHierarchy() {
        if (bindings.roots().isEmpty()) {
            throw BerthException.failedPrecondition("this host has no cgroup hierarchy mounted");
        }
    }

    /** Whether {@code path} exists in a controller-bearing hierarchy (the first bound one, else the first used root). */
    boolean exists(String path) {
        Path probe = bindings.bound().isEmpty() ? bindings.roots().get(0) : bindings.bound().get(0).root();
        return Files.isDirectory(dir(probe, path));
    }

    /**
     * Creates (or adopts) {@code path} in every hierarchy berth uses and delegates berth's v2
     * controllers to its children; on failure, removes what this call created.
     */
    void create(String path) {
        requireHierarchy();
        Path unifiedMount = bindings.layout().unifiedMount();
        List<Path> created = new ArrayList<>();
        try {
            for (Path root : bindings.roots()) {
                boolean unified = root.equals(unifiedMount);
                Path current = root;
                for (String part : path.substring(1).split("/")) {
                    if (unified) {
                        enableControllers(current);
                    }
                    current = current.resolve(part);
                    if (mkdir(current)) {
                        created.add(current);
                    }
                    // also for adopted directories: prepare only fills what is still empty
                    for (ControllerBindings.Bound b : bindings.bound()) {
                        if (b.root().equals(root)) {
                            b.controller().prepare(current);
                        }
                    }
                }
                if (unified) {
                    enableControllers(current);
                }
            }
        } catch (RuntimeException e) {
            // undo what this call created, deepest first
            for (int i = created.size() - 1; i >= 0; i--) {
                try {
                    Files.deleteIfExists(created.get(i));
                } catch (IOException suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            throw e;
        }
    }

    private static boolean mkdir(Path dir) {
        try {
            Files.createDirectory(dir);
            return true;
        } catch (FileAlreadyExistsException e) {
            if (!Files.isDirectory(dir)) {
                throw BerthException.failedPrecondition("%s exists and is not a cgroup", dir);
            }
            return false;
        } catch (IOException e) {
            throw BerthException.internal("cannot create cgroup " + dir, e);
        }
    }

    /** Enables berth's v2 controllers in {@code dir}'s subtree_control where offered and not yet on. */
    private void enableControllers(Path dir) {
        List<String> v2Controllers = bindings.v2Controllers();
        if (v2Controllers.isEmpty()) {
            return;
        }
        String available = CgroupFiles.readString(dir.resolve("cgroup.controllers"));
        String enabled = CgroupFiles.readString(dir.resolve("cgroup.subtree_control"));
        if (available == null) {
            return;
        }
        Set<String> on = Set.of(enabled == null || enabled.isEmpty() ? new String[0] : enabled.split(" "));
        Set<String> offered = Set.of(available.isEmpty() ? new String[0] : available.split(" "));
        StringBuilder add = new StringBuilder();
        for (String c : v2Controllers) {
            if (offered.contains(c) && !on.contains(c)) {
                add.append(add.length() == 0 ? "+" : " +").append(c);
            }
        }
        if (add.length() > 0) {
            try {
                CgroupFiles.write(dir.resolve("cgroup.subtree_control"), add.toString());
            } catch (BerthException e) {
                throw BerthException.failedPrecondition("cannot enable %s in %s (a cgroup with processes cannot delegate"
                        + " controllers): %s", add, dir, e.getMessage());
            }
        }
    }

    /** Removes {@code path} and its children from every mounted hierarchy, also what the OCI runtime created there. */
    void remove(String path) {
        long deadline = System.nanoTime() + DRAIN_TIMEOUT_NANOS;
        for (Path root : bindings.allRoots()) {
            removeTree(dir(root, path), deadline);
        }
    }

    private static void removeTree(Path dir, long deadline) {
        if (!Files.isDirectory(dir)) {
            return;
        }
        try (DirectoryStream<Path> children = Files.newDirectoryStream(dir, Files::isDirectory)) {
            for (Path child : children) {
                removeTree(child, deadline);
            }
        } catch (NoSuchFileException e) {
            return;
        } catch (IOException e) {
            throw BerthException.internal("cannot list " + dir, e);
        }
        long sleep = 1;
        while (true) {
            try {
                Files.deleteIfExists(dir);
                return;
            } catch (FileSystemException e) {
                String reason = String.valueOf(e.getReason());
                if (!reason.contains("busy") || System.nanoTime() > deadline) {
                    throw BerthException.failedPrecondition("cannot remove cgroup %s: %s", dir, reason);
                }
            } catch (IOException e) {
                throw BerthException.internal("cannot remove cgroup " + dir, e);
            }
            // the kernel is still draining exited processes
            sleep(sleep);
            sleep = Math.min(sleep * 2, 100);
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new BerthException(BerthException.Kind.CANCELLED, "interrupted while waiting for a cgroup");
        }
    }
}
